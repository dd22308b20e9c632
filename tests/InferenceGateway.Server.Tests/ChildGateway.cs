using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// The gateway as its own process (the published entry point) on ports the kernel gives it: <c>Gateway:GrpcPort=0</c>
/// and <c>Gateway:AdminPort=0</c>, read back from the host's "Now listening on:" lines (gRPC first, then admin, the
/// order <c>GatewayHost</c> declares its listeners in, as <see cref="TestGateway"/> reads them in-process).
/// </summary>
/// <remarks>
/// A port picked free by binding port 0 and releasing it could be taken by another server (another test's gateway or
/// fake replica) before the child binds it: the child then exits 3, or worse, the test's readiness probe reaches the
/// other server. Here the child binds the port itself and never releases it while the test runs, so no other server
/// can be on it.
/// </remarks>
internal sealed partial class ChildGateway : IDisposable
{
    private readonly TaskCompletionSource<(int Grpc, int Admin)> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<int> _ports = [];

    private ChildGateway(Process process)
    {
        Process = process;
        process.OutputDataReceived += (_, e) => OnLine(e.Data, Output);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data, Errors);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Process Process { get; }

    /// <summary>Standard output, line by line.</summary>
    public ConcurrentQueue<string> Output { get; } = new();

    /// <summary>Standard error, line by line.</summary>
    public ConcurrentQueue<string> Errors { get; } = new();

    /// <summary>Both streams in the order the lines arrived, for failure messages.</summary>
    public ConcurrentQueue<string> All { get; } = new();

    /// <summary>
    /// Starts the gateway with <paramref name="args"/> after its own port arguments (so a test can still override
    /// them, as <c>PortTaken</c> does), with the host's lifetime lines on whatever the default log level is.
    /// </summary>
    public static ChildGateway Start(params string[] args) =>
        new(Process.Start(StartInfo(["--Gateway:GrpcPort=0", "--Gateway:AdminPort=0", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information", .. args]))!);

    /// <summary>How a test runs the built gateway as a process of its own: its output redirected, from the repository root.</summary>
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepoPaths.Root,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "InferenceGateway.Server.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    /// <summary>
    /// The ports the child listens on, once both listeners are bound; throws with the child's output if it exits first
    /// or if <paramref name="timeout"/> passes (generous: a cold `dotnet` start on a loaded 2-core CI host takes seconds).
    /// </summary>
    public async Task<(int Grpc, int Admin)> WaitListeningAsync(TimeSpan? timeout = null)
    {
        var exited = Process.WaitForExitAsync();
        var done = await Task.WhenAny(_listening.Task, exited, Task.Delay(timeout ?? TimeSpan.FromSeconds(90)));
        if (done == _listening.Task)
        {
            return await _listening.Task;
        }

        if (done == exited)
        {
            Process.WaitForExit(); // flushes the redirected output's last lines
        }

        throw new TimeoutException($"gateway process did not start listening (exited: {Process.HasExited}{(Process.HasExited ? $", code {Process.ExitCode}" : "")}):\n{string.Join('\n', All)}");
    }

    public void Dispose()
    {
        try
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                Process.WaitForExit(30_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        Process.Dispose();
    }

    private void OnLine(string? line, ConcurrentQueue<string> stream)
    {
        if (line is null)
        {
            return;
        }

        stream.Enqueue(line);
        All.Enqueue(line);
        var match = ListeningLine().Match(line);
        if (match.Success)
        {
            lock (_ports)
            {
                _ports.Add(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
                if (_ports.Count == 2)
                {
                    _listening.TrySetResult((_ports[0], _ports[1]));
                }
            }
        }
    }

    // The simple formatter prints the message as is; the json formatter has it in "Message" (and the address again
    // in "State", later on the same line: the first match is the message's).
    [GeneratedRegex(@"Now listening on: https?://[^\s""]*:(\d+)")]
    private static partial Regex ListeningLine();
}
