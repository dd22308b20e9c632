using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace InferenceGateway.Tests.Shared;

/// <summary>
/// A throwaway PostgreSQL cluster on 127.0.0.1 for the tests that need a real one: initdb into a temp folder, pg_ctl
/// start on a free port, dropped at the end. Debian's <c>postgresql</c> package provides the binaries
/// (scripts/install-deps.sh, which this runs when they are missing). As root the server runs as the <c>postgres</c> user
/// (PostgreSQL refuses root). One cluster per test collection; each test class takes its own database.
/// </summary>
public sealed class PostgresCluster : IAsyncLifetime
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(120);
    private string _bin = "";
    private string _dataDirectory = "";
    private string _root = "";
    private bool _asPostgresUser;

    public int Port { get; private set; }

    /// <summary>Connection string of the maintenance database (create test databases from it).</summary>
    public string AdminConnectionString => ConnectionString("postgres");

    public string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Pooling=true;Timeout=5;Command Timeout=30;Include Error Detail=true";

    public async Task InitializeAsync()
    {
        _bin = FindBin() ?? await InstallAndFindAsync();
        _root = Path.Combine(Path.GetTempPath(), "ig-pg-" + Guid.NewGuid().ToString("N")[..12]);
        _dataDirectory = Path.Combine(_root, "data");
        Directory.CreateDirectory(_root);
        _asPostgresUser = Environment.UserName == "root";
        if (_asPostgresUser)
        {
            await RunAsync("chown", ["postgres:postgres", _root]);
        }

        await RunPgAsync("initdb", ["-D", _dataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        await StartOnAFreePortAsync();
    }

    /// <summary>
    /// PostgreSQL needs its port up front (no port 0), so the port is picked free and released before the server binds
    /// it: something else can take it in between (the CI failure of RemoteVersionTests was that race; <see
    /// cref="FreePort"/> keeps out of the range the other tests' servers draw from). When the server says so in its log,
    /// start again on a fresh port; any other failure is thrown as is.
    /// </summary>
    private async Task StartOnAFreePortAsync()
    {
        var log = Path.Combine(_root, "server.log");
        for (var attempt = 1; ; attempt++)
        {
            Port = FreePort();
            var logged = File.Exists(log) ? new FileInfo(log).Length : 0;
            try
            {
                await StartAsync();
                return;
            }
            catch (InvalidOperationException) when (attempt < 5 && PortWasTaken(log, logged))
            {
            }
        }
    }

    private static bool PortWasTaken(string log, long from)
    {
        if (!File.Exists(log))
        {
            return false;
        }

        using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(from, SeekOrigin.Begin);
        var text = new StreamReader(stream).ReadToEnd();
        return text.Contains("could not bind", StringComparison.Ordinal) || text.Contains("Address already in use", StringComparison.Ordinal);
    }

    /// <summary>
    /// Starts (or restarts) the server on <see cref="Port"/> and waits until it accepts connections. A restart keeps the
    /// port (the databases' connection strings name it).
    /// </summary>
    public Task StartAsync() => RunPgAsync("pg_ctl", [
        "-D", _dataDirectory, "-w", "-t", "60", "-l", Path.Combine(_root, "server.log"),
        "-o", $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50",
        "start",
    ]);

    /// <summary>
    /// Stops the server at once (fast shutdown: open connections are cut), as an outage would. Idle pooled connections
    /// are dropped too: after a restart, the next test's first command would otherwise meet a connection the stop cut
    /// (57P01), as one did in a full run.
    /// </summary>
    public async Task StopAsync()
    {
        await RunPgAsync("pg_ctl", ["-D", _dataDirectory, "-w", "-t", "60", "-m", "fast", "stop"]);
        NpgsqlConnection.ClearAllPools();
    }

    /// <summary>A new empty database; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = prefix + "_" + Guid.NewGuid().ToString("N")[..10];
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_dataDirectory.Length > 0 && File.Exists(Path.Combine(_dataDirectory, "postmaster.pid")))
        {
            try
            {
                await RunPgAsync("pg_ctl", ["-D", _dataDirectory, "-w", "-t", "60", "-m", "immediate", "stop"]);
            }
            catch (InvalidOperationException)
            {
            }
        }

        try
        {
            if (_root.Length > 0)
            {
                Directory.Delete(_root, recursive: true);
            }
        }
        catch (IOException)
        {
        }
    }

    private Task RunPgAsync(string tool, string[] args)
    {
        var path = Path.Combine(_bin, tool);
        return _asPostgresUser ? RunAsync("runuser", ["-u", "postgres", "--", path, .. args]) : RunAsync(path, args);
    }

    private static async Task RunAsync(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(CommandTimeout);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await stdout}{await stderr}");
        }
    }

    private static string? FindBin()
    {
        var root = "/usr/lib/postgresql";
        if (!Directory.Exists(root))
        {
            return null;
        }

        return Directory.GetDirectories(root)
            .Select(d => Path.Combine(d, "bin"))
            .Where(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")))
            .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
            .FirstOrDefault();
    }

    private static async Task<string> InstallAndFindAsync()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Combine(dir.FullName, "scripts", "install-deps.sh");
            if (File.Exists(script))
            {
                await RunAsync("bash", [script]);
                break;
            }
        }

        return FindBin() ?? throw new InvalidOperationException("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin; install Debian's postgresql package (scripts/install-deps.sh)");
    }

    /// <summary>
    /// A port free now, below the kernel's ephemeral range (Linux's default starts at 32768): every other test's server
    /// binds port 0 and so gets an ephemeral port, which can then never be this one, also while an outage test has the
    /// server stopped and must restart it on the same port. Outside Linux, or if the range is not where it expected,
    /// an ephemeral port as before (the start is retried on a taken port). Also the Redis fixture's port
    /// (ScaleOut/RedisServerProcess.cs), for the same reason: it restarts on the port it had.
    /// </summary>
    internal static int FreePort()
    {
        var ephemeralFrom = 32768;
        try
        {
            ephemeralFrom = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
        }

        if (ephemeralFrom > 20_000)
        {
            for (var i = 0; i < 50; i++)
            {
                var port = Random.Shared.Next(15_000, Math.Min(ephemeralFrom, 30_000));
                try
                {
                    using var probe = new TcpListener(IPAddress.Loopback, port);
                    probe.Start();
                    return port;
                }
                catch (SocketException)
                {
                }
            }
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresCluster>
{
    public const string Name = "postgres";
}
