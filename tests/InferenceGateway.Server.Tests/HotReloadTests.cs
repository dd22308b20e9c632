using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Grpc.Core;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Server.Services;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// Hot reload on a live gateway under ModelInfer load, done by the repository's poll loop (every 100 ms) as an operator
/// would trigger it: replace a version's model file, corrupt it, change config.json, remove the version folder.
/// </summary>
public sealed class HotReloadTests
{
    private static readonly TimeSpan Timeout = TestGateway.Timeout;

    [Fact]
    public async Task PollLoop_VersionReplacedCorruptedReconfiguredAndRemovedUnderLoad_NoCallFailsAndAnswersFollowTheFiles()
    {
        using var repo = new ScratchRepository();
        repo.WriteConfig("scale", 8, ("x", "FP32", 4), ("y", "FP32", 4), """{ "max_queue_size": 1024 }""");
        repo.PlaceModel("scale", "1", "scale2.onnx");
        repo.PlaceModel("scale", "2", "scale2.onnx");
        await using var gateway = await TestGateway.StartAsync(repo.Path, null, "--Gateway:ModelRepository:PollInterval=00:00:00.100");
        await gateway.WaitReadyAsync();
        await using var load = new Load(gateway, workers: 6);

        await load.UntilAsync(a => true, "the load never got an answer");

        // 1. Another model in version 2's file (x3 instead of x2): answers switch to it, and once one call has seen the
        // new model no call that starts later sees the old one.
        repo.PlaceModel("scale", "2", "scale3.onnx");
        var switched = await load.UntilAsync(a => a.Factor == 3, "version 2 never answered with the new model");

        // 2. A corrupt file: the loaded version 2 keeps serving, and the failure is reported with the file's path.
        var corrupt = repo.CorruptModel("scale", "2");
        await TestGateway.UntilAsync(async () => Errors(await gateway.GetJsonAsync("/v1/models")).ContainsKey(corrupt), "the corrupt file was not reported in /v1/models");
        var afterCorrupt = Stopwatch.GetTimestamp();
        await load.UntilAsync(a => a.Start > afterCorrupt && a.Version == "2", "version 2 stopped answering after its file was corrupted");
        using (var ready = await gateway.Admin.GetAsync("/readyz"))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode); // the model still serves every version
        }

        // 3. config.json changes (max_batch_size 8 -> 4): version 1 reloads with it; version 2, whose file on disk is bad,
        // keeps serving with the config it was loaded with.
        repo.EditConfig("scale", config => config["max_batch_size"] = 4);
        await TestGateway.UntilAsync(async () => MaxBatchSizes(await gateway.GetJsonAsync("/v1/models")) is { } sizes && sizes.GetValueOrDefault("1") == 4, "version 1 never reloaded with the new max_batch_size");
        Assert.Equal(8, MaxBatchSizes(await gateway.GetJsonAsync("/v1/models"))["2"]);
        var afterConfig = Stopwatch.GetTimestamp();
        await load.UntilAsync(a => a.Start > afterConfig && a.Version == "2" && a.Factor == 3, "version 2 stopped answering after the config change");

        // 4. The version folder removed: the latest version is 1 again; calls admitted to version 2 complete (drain).
        repo.DeleteVersion("scale", "2");
        var toVersion1 = await load.UntilAsync(a => a.Version == "1", "the latest version never became 1");
        await TestGateway.UntilAsync(async () => Errors(await gateway.GetJsonAsync("/v1/models")).Count == 0, "the removed version's error stayed reported");
        var answers = await load.StopAsync();

        // Every call answered, each with its own input times the factor of a model that version had at the time.
        Assert.True(load.Failures.IsEmpty, "failed calls: " + string.Join("; ", load.Failures.Take(10)));
        Assert.DoesNotContain(answers, a => a.Factor == 3 && a.Version != "2");
        var stale = answers.Where(a => a.Start > switched.End && a.Version == "2" && a.Factor == 2).ToList();
        Assert.True(stale.Count == 0, $"{stale.Count} calls that started after the switch got the old model");
        var late = answers.Where(a => a.Start > toVersion1.End && a.Version == "2").ToList();
        Assert.True(late.Count == 0, $"{late.Count} calls that started after version 1 answered went to the removed version 2");
        Assert.Contains(answers, a => a.Version == "2" && a.Factor == 2);
        Assert.Contains(answers, a => a.Version == "1");
        await TestGateway.UntilAsync(() => Leftovers.Describe(gateway.Repository) == "", "leases or queued requests left: " + Leftovers.Describe(gateway.Repository));
        Assert.Equal(["1"], gateway.Repository.Models["scale"].Versions.Select(v => v.Version));
    }

    private static Dictionary<string, string> Errors(JsonElement models) =>
        models.GetProperty("errors").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);

    private static Dictionary<string, int> MaxBatchSizes(JsonElement models) =>
        models.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("name").GetString() == "scale")
            .GetProperty("versions").EnumerateArray()
            .ToDictionary(v => v.GetProperty("version").GetString()!, v => v.GetProperty("max_batch_size").GetInt32());

    /// <summary>One answered call: when it started and ended (Stopwatch ticks), the version that answered, and its factor.</summary>
    private sealed record Answer(long Start, long End, string Version, int Factor, int Retries);

    /// <summary>
    /// Closed-loop ModelInfer on the latest version of "scale", one row per call with values no other call sends. A call
    /// answered UNAVAILABLE is retried at once (documented: a version being reloaded; clients retry); anything else that
    /// is not an answer of x2 or x3 of its own input is a failure.
    /// </summary>
    private sealed class Load : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentQueue<Answer> _answers = new();
        private readonly Task[] _workers;
        private int _unavailable;

        public Load(TestGateway gateway, int workers)
        {
            var invoker = gateway.Channel.CreateCallInvoker();
            _workers = Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
            {
                for (var i = 0; !_stop.IsCancellationRequested; i++)
                {
                    // Integers below 2^24 / 3: x2 and x3 are exact in float, so an answer is its input's or it is wrong.
                    var first = ((w * 300_000) + i) * 4;
                    float[] x = [first, first + 1, first + 2, first + 3];
                    var request = KServeTests.RawRequest("scale", "", "x", [1, 4], x);
                    var start = Stopwatch.GetTimestamp();
                    for (var retries = 0; ; retries++)
                    {
                        try
                        {
                            var response = await invoker.AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), request).ResponseAsync;
                            var y = MemoryMarshal.Cast<byte, float>(response.RawOutputContents[0].Span).ToArray();
                            var factor = y.SequenceEqual(x.Select(v => v * 2)) ? 2 : y.SequenceEqual(x.Select(v => v * 3)) ? 3 : 0;
                            if (factor == 0)
                            {
                                Failures.Enqueue($"[{string.Join(",", x)}] -> [{string.Join(",", y)}] from version {response.ModelVersion}");
                            }
                            else
                            {
                                _answers.Enqueue(new Answer(start, Stopwatch.GetTimestamp(), response.ModelVersion, factor, retries));
                            }

                            break;
                        }
                        catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && retries < 5)
                        {
                            Interlocked.Increment(ref _unavailable);
                        }
                        catch (RpcException ex)
                        {
                            Failures.Enqueue($"{ex.StatusCode}: {ex.Status.Detail}");
                            break;
                        }
                    }
                }
            })).ToArray();
        }

        /// <summary>Calls answered UNAVAILABLE and retried.</summary>
        public int Unavailable => Volatile.Read(ref _unavailable);

        public ConcurrentQueue<string> Failures { get; } = new();

        /// <summary>Waits for an answer that ended after this call began and satisfies <paramref name="predicate"/>.</summary>
        public async Task<Answer> UntilAsync(Func<Answer, bool> predicate, string what)
        {
            var since = Stopwatch.GetTimestamp();
            Answer? found = null;
            await TestGateway.UntilAsync(() => (found = _answers.FirstOrDefault(a => a.End > since && predicate(a))) is not null || !Failures.IsEmpty, what);
            Assert.True(Failures.IsEmpty, "failed calls: " + string.Join("; ", Failures.Take(10)));
            return found!;
        }

        public async Task<List<Answer>> StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_workers).WaitAsync(Timeout);
            return [.. _answers];
        }

        public async ValueTask DisposeAsync()
        {
            if (!_stop.IsCancellationRequested)
            {
                await StopAsync();
            }

            _stop.Dispose();
        }
    }
}
