using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using InferenceGateway.Tests.Shared;

namespace InferenceGateway.Server.Tests.ScaleOut;

/// <summary>
/// A throwaway redis-server (Debian's <c>/usr/bin/redis-server</c>, scripts/install-deps.sh) on 127.0.0.1 with a data
/// folder of its own. Every write is in the append-only file, fsynced before Redis answers
/// (<c>appendonly yes</c>, <c>appendfsync always</c>; no RDB snapshots), so a <see cref="StopAsync"/> then
/// <see cref="StartAgainAsync"/> finds the data as it was: what the Redis-restart tests of the online store rely on.
/// </summary>
/// <remarks>
/// Redis needs its port up front and must come back on the same one after a stop (clients' configuration names it),
/// so the port is drawn below the ephemeral range as <see cref="PostgresCluster"/> draws its own, and a start that
/// finds it taken is retried on another.
/// </remarks>
internal sealed class RedisServerProcess : IAsyncDisposable
{
    private const string Binary = "/usr/bin/redis-server";
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    private RedisServerProcess(string directory) => Directory = directory;

    /// <summary>The data folder (append-only files, the server's log on its stdout is kept in <see cref="Output"/>).</summary>
    public string Directory { get; }

    public int Port { get; private set; }

    /// <summary>A StackExchange.Redis configuration string for this server.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>The server's output, every start's, for failure messages.</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>Starts a server on a free port and waits until it answers PING.</summary>
    public static async Task<RedisServerProcess> StartAsync()
    {
        if (!File.Exists(Binary))
        {
            await InstallAsync();
        }

        var directory = Path.Combine(Path.GetTempPath(), "ig-redis-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory);
        var redis = new RedisServerProcess(directory);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                redis.Port = PostgresCluster.FreePort();
                try
                {
                    await redis.LaunchAsync();
                    return redis;
                }
                catch (InvalidOperationException) when (attempt < 5 && redis.Output.Contains("Address already in use", StringComparison.Ordinal))
                {
                }
            }
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the server as an orderly shutdown would (SIGTERM) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException($"redis-server on port {Port} did not exit within 30 s of SIGTERM:\n{Output}");
        }

        _process.Dispose();
        _process = null;
    }

    /// <summary>Starts the stopped server again on the same port and folder (so with the same data) and waits for PING.</summary>
    public Task StartAgainAsync() =>
        _process is null ? LaunchAsync() : throw new InvalidOperationException("redis-server is still running; StopAsync first");

    /// <summary>Kills the server if it runs and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill();
                    await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
            }

            _process.Dispose();
            _process = null;
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task LaunchAsync()
    {
        var start = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])[
            "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
            "--dir", Directory, "--daemonize", "no", "--logfile", "",
            // Durability from the append-only file alone, fsynced on every write; no RDB snapshots.
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
        ])
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = Stopwatch.StartNew();
        while (!await PingAsync())
        {
            if (process.HasExited || deadline.Elapsed > ReadyTimeout)
            {
                var exited = process.HasExited;
                if (exited)
                {
                    process.WaitForExit(); // the last redirected lines
                }
                else
                {
                    process.Kill();
                }

                process.Dispose();
                _process = null;
                throw new InvalidOperationException($"redis-server on port {Port} {(exited ? "exited" : $"did not answer PING within {ReadyTimeout.TotalSeconds:F0} s")}:\n{Output}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>True once the server answers +PONG (not while it refuses connections or answers -LOADING).</summary>
    private async Task<bool> PingAsync()
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.ConnectAsync("127.0.0.1", Port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token);
            var buffer = new byte[64];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private void Collect(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue(line);
        }
    }

    private static async Task InstallAsync()
    {
        using var install = Process.Start("bash", [Path.Combine(RepoPaths.Root, "scripts", "install-deps.sh")]);
        await install.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(10));
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException($"{Binary} not found after scripts/install-deps.sh (exit {install.ExitCode}); install Debian's redis-server package");
        }
    }
}
