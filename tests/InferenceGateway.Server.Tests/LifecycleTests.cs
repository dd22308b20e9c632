using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using InferenceGateway.Contracts.Inference;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Server.Services;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// The gateway as a real process: SIGTERM during load turns health NOT_SERVING for watchers, drains in-flight work and
/// exits 0.
/// </summary>
public sealed class LifecycleTests
{
    private static readonly TimeSpan GracePeriod = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Sigterm_DuringLoad_HealthNotServingInFlightCompleteNewCallsUnavailableExitZero()
    {
        using var gateway = StartGateway();
        var process = gateway.Process;
        var output = gateway.All;
        try
        {
            var (grpcPort, adminPort) = await gateway.WaitListeningAsync();
            await WaitReadyAsync(adminPort, process, output);
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
            var invoker = channel.CreateCallInvoker();
            var data = TestData.Load("bench_mlp", "1");
            const int Rows = 32;
            var values = new float[Rows * 512];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = data.Input[i % data.Input.Length];
            }

            var request = KServeTests.RawRequest("bench_mlp", "1", "input", [Rows, 512], values);
            var outcomes = new ConcurrentBag<(long Start, long End, StatusCode Code)>();
            var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            long sigtermAt = long.MaxValue;
            var workers = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
            {
                // Each worker keeps calling until it has seen UNAVAILABLE: new calls after SIGTERM must be refused.
                while (!stop.IsCancellationRequested)
                {
                    var start = Stopwatch.GetTimestamp();
                    StatusCode code;
                    try
                    {
                        await invoker.AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), request).ResponseAsync;
                        code = StatusCode.OK;
                    }
                    catch (RpcException ex)
                    {
                        code = ex.StatusCode;
                    }

                    outcomes.Add((start, Stopwatch.GetTimestamp(), code));
                    if (code != StatusCode.OK)
                    {
                        return;
                    }
                }
            })).ToArray();

            await Task.Delay(1500);
            Assert.DoesNotContain(outcomes, o => o.Code != StatusCode.OK);
            // The 16 workers move in step (their calls share batches), so there are moments when every call is still
            // uploading and none has reached the server: SIGTERM then has nothing in flight to drain, and the calls
            // are rightly refused. Send it while the batcher holds queued work, which takes several batch runs.
            // Health watchers (load balancers) are told before the listeners close: the whole server and each model.
            using var watchStop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var health = new global::Grpc.Health.V1.Health.HealthClient(channel);
            var watches = new[] { "", "bench_mlp" }.Select(service => health.Watch(new global::Grpc.Health.V1.HealthCheckRequest { Service = service }, cancellationToken: watchStop.Token)).ToArray();
            foreach (var watch in watches)
            {
                Assert.True(await watch.ResponseStream.MoveNext().WaitAsync(TimeSpan.FromSeconds(30)));
                Assert.Equal(global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, watch.ResponseStream.Current.Status);
            }

            await WaitQueuedAsync(adminPort, minimum: 4);
            Volatile.Write(ref sigtermAt, Stopwatch.GetTimestamp());
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
            {
                await kill.WaitForExitAsync();
            }

            foreach (var watch in watches)
            {
                Assert.True(await watch.ResponseStream.MoveNext().WaitAsync(TimeSpan.FromSeconds(30)), "the health watch ended without NOT_SERVING");
                Assert.Equal(global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.NotServing, watch.ResponseStream.Current.Status);
            }

            // A watch is a call in flight: end it, as a watcher that saw NOT_SERVING does, so the drain need not wait for it.
            await watchStop.CancelAsync();
            foreach (var watch in watches)
            {
                watch.Dispose();
            }

            var exitWatch = Stopwatch.StartNew();
            await process.WaitForExitAsync().WaitAsync(GracePeriod + TimeSpan.FromSeconds(10));
            exitWatch.Stop();
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));

            var all = outcomes.ToArray();
            var unexpected = all.Where(o => o.Code is not (StatusCode.OK or StatusCode.Unavailable)).ToArray();
            Assert.True(unexpected.Length == 0, $"unexpected statuses: {string.Join(", ", unexpected.Select(o => o.Code))}\n{string.Join('\n', output)}");
            // The calls around SIGTERM (those that ended after the 200 ms before it), for a failure message.
            var timeline = string.Join('\n', all.Where(o => Stopwatch.GetElapsedTime(sigtermAt, o.End) > TimeSpan.FromMilliseconds(-200)).OrderBy(o => o.Start).Select(o =>
                $"{Stopwatch.GetElapsedTime(sigtermAt, o.Start).TotalMilliseconds:F1} .. {Stopwatch.GetElapsedTime(sigtermAt, o.End).TotalMilliseconds:F1} ms {o.Code}"));
            // Calls in flight when SIGTERM arrived completed successfully rather than being cut off.
            Assert.True(all.Any(o => o.Code == StatusCode.OK && o.Start < sigtermAt && o.End > sigtermAt),
                $"no call in flight at SIGTERM completed OK; calls relative to SIGTERM:\n{timeline}\n{string.Join('\n', output)}");
            // Calls made after shutdown began were refused with UNAVAILABLE.
            Assert.True(all.Any(o => o.Code == StatusCode.Unavailable && o.Start > sigtermAt),
                $"no call after SIGTERM was refused with UNAVAILABLE; calls relative to SIGTERM:\n{timeline}");
            Assert.Equal(0, process.ExitCode);
            Assert.True(exitWatch.Elapsed < GracePeriod, $"exit took {exitWatch.Elapsed}");
            Assert.Contains(output, line => line.Contains("all queued work drained", StringComparison.Ordinal));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task PortTaken_ExitsWithOneClearLineAndCodeThree()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var taken = ((IPEndPoint)holder.LocalEndpoint).Port;
        // The admin port is the kernel's pick (0), so nothing else can hold it: the one bind that fails is the gRPC one.
        using var gateway = StartGateway($"--Gateway:GrpcPort={taken}");
        var process = gateway.Process;
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        process.WaitForExit(); // flushes the redirected output's last lines
        var stderr = string.Join('\n', gateway.Errors);
        var output = string.Join('\n', gateway.All);
        Assert.True(process.ExitCode == Hosting.GatewayHost.ListenFailedExitCode, $"exit code {process.ExitCode}:\n{output}");
        Assert.Contains($"inference-gateway: could not start listening: Failed to bind to address http://127.0.0.1:{taken}: address already in use.", stderr);
        Assert.DoesNotContain("Unhandled exception", output);
    }

    /// <summary>The gateway as a process on kernel-picked ports (<see cref="ChildGateway"/>); <paramref name="overrides"/> come last.</summary>
    private static ChildGateway StartGateway(params string[] overrides) => ChildGateway.Start(
        [
            $"--Gateway:ModelRepository:Path={RepoPaths.Models}",
            $"--Gateway:ShutdownGracePeriod={GracePeriod}",

            // 16 callers of 32 rows each keep ~500 bench_mlp rows queued: on a busy 2-core host more than the default 100 ms
            // queue-time bound runs, and calls would be refused as overloaded. This test wants them queued (the drain).
            "--Gateway:Models:bench_mlp:MaxQueueTimeMicroseconds=0",
            "--Gateway:OnnxRuntime:IntraOpThreads=1",
            $"--Gateway:DataDirectory={TestDataDirectory.Create()}",
            .. overrides,
        ]);

    private static async Task WaitReadyAsync(int adminPort, Process process, ConcurrentQueue<string> output)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var until = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < until && !process.HasExited)
        {
            try
            {
                using var response = await http.GetAsync($"http://127.0.0.1:{adminPort}/readyz");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
                // One probe slower than the client's timeout (a loaded CI host, the JIT still warming): probe again
                // until the overall deadline rather than fail the test.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("gateway process did not become ready:\n" + string.Join('\n', output));
    }

    /// <summary>Waits until bench_mlp's batcher reports at least <paramref name="minimum"/> queued requests.</summary>
    private static async Task WaitQueuedAsync(int adminPort, int minimum)
    {
        // The scrape runs while 16 callers saturate both cores: give it the whole wait rather than 5 s.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var until = DateTime.UtcNow.AddSeconds(30);
        var last = "";
        while (DateTime.UtcNow < until)
        {
            var text = await http.GetStringAsync($"http://127.0.0.1:{adminPort}/metrics");
            var match = System.Text.RegularExpressions.Regex.Match(text, @"^gateway_batcher_queue_depth\{model=""bench_mlp"",version=""1""\} (\S+)$", System.Text.RegularExpressions.RegexOptions.Multiline);
            last = match.Success ? match.Groups[1].Value : "(no sample)";
            if (match.Success && double.Parse(last, System.Globalization.CultureInfo.InvariantCulture) >= minimum)
            {
                return;
            }

            await Task.Delay(2);
        }

        throw new TimeoutException($"bench_mlp's queue never held {minimum} requests (last reading {last})");
    }
}
