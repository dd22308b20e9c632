using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace InferenceGateway.Server.Tests.ScaleOut;

/// <summary>
/// librdkafka's mock Kafka cluster in a process of its own: the built gateway's <c>mock-kafka</c> verb, started as
/// <see cref="ChildGateway"/> starts the gateway, with the topics created at the partition counts given. Clients in the
/// test or in gateway processes connect to <see cref="BootstrapServers"/> as to any cluster (consumer groups and
/// committed offsets included). A process of its own, so that a test can kill a gateway and keep the cluster, and so
/// that no test's clients share librdkafka state with the cluster.
/// </summary>
internal sealed class MockKafkaCluster : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private readonly ConcurrentQueue<string> _output = new();
    private readonly TaskCompletionSource<string> _bootstrap = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private MockKafkaCluster(Process process)
    {
        Process = process;
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Process Process { get; }

    /// <summary>The brokers' 127.0.0.1 addresses, comma separated (<c>bootstrap.servers</c>).</summary>
    public string BootstrapServers { get; private set; } = "";

    /// <summary>The exit code, once <see cref="DisposeAsync"/> has stopped the process (0: it shut down cleanly on SIGTERM).</summary>
    public int? ExitCode { get; private set; }

    /// <summary>The process's output, both streams, for failure messages.</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>Three brokers with <paramref name="topics"/> (name and partition count).</summary>
    public static Task<MockKafkaCluster> StartAsync(params (string Topic, int Partitions)[] topics) => StartAsync(3, topics);

    /// <summary>
    /// <paramref name="brokers"/> brokers with <paramref name="topics"/>; returns once the topics exist and the
    /// bootstrap list is known. Throws with the process's output if it exits first or takes longer than 90 s.
    /// </summary>
    public static async Task<MockKafkaCluster> StartAsync(int brokers, params (string Topic, int Partitions)[] topics)
    {
        List<string> args = ["mock-kafka", "--brokers", brokers.ToString(CultureInfo.InvariantCulture)];
        foreach (var (topic, partitions) in topics)
        {
            args.Add("--topic");
            args.Add($"{topic}:{partitions.ToString(CultureInfo.InvariantCulture)}");
        }

        var cluster = new MockKafkaCluster(Process.Start(ChildGateway.StartInfo([.. args]))!);
        try
        {
            var exited = cluster.Process.WaitForExitAsync();
            var done = await Task.WhenAny(cluster._bootstrap.Task, exited, Task.Delay(StartTimeout));
            if (done != cluster._bootstrap.Task)
            {
                if (done == exited)
                {
                    cluster.Process.WaitForExit(); // the last redirected lines
                }

                throw new InvalidOperationException($"mock-kafka did not print its bootstrap list (exited: {cluster.Process.HasExited}{(cluster.Process.HasExited ? $", code {cluster.Process.ExitCode}" : "")}):\n{cluster.Output}");
            }

            cluster.BootstrapServers = await cluster._bootstrap.Task;
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGTERM (the verb destroys the cluster and exits 0), then a kill if it is still there after 10 s.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!Process.HasExited)
            {
                using (var kill = Process.Start("kill", ["-TERM", Process.Id.ToString(CultureInfo.InvariantCulture)]))
                {
                    await kill.WaitForExitAsync();
                }

                try
                {
                    await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
                }
                catch (TimeoutException)
                {
                    Process.Kill(entireProcessTree: true);
                    await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                }
            }
        }
        catch (InvalidOperationException)
        {
        }

        if (Process.HasExited)
        {
            ExitCode = Process.ExitCode;
        }

        Process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        if (line.StartsWith("bootstrap: ", StringComparison.Ordinal))
        {
            _bootstrap.TrySetResult(line["bootstrap: ".Length..].Trim());
        }
    }
}
