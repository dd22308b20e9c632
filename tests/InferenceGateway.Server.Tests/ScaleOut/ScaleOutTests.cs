using System.Globalization;
using System.IO.Compression;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Contracts.Gateway;

using InferenceGateway.Tests.Shared;

namespace InferenceGateway.Server.Tests.ScaleOut;

/// <summary>Redis and the librdkafka mock cluster, shared by the scale-out tests (each test uses its own topics, group and key prefix).</summary>
public sealed class ScaleOutEngines : IAsyncLifetime
{
    internal RedisServerProcess Redis { get; private set; } = null!;

    internal MockKafkaCluster Kafka { get; private set; } = null!;

    /// <summary>The prediction log the replicas share.</summary>
    public PostgresCluster Postgres { get; } = new();

    public async Task InitializeAsync()
    {
        await Postgres.InitializeAsync();
        Redis = await RedisServerProcess.StartAsync();
        Kafka = await MockKafkaCluster.StartAsync(("replay-transactions", 6), ("kill-transactions", 6), ("outage-transactions", 6), ("rr-transactions", 6));
    }

    public async Task DisposeAsync()
    {
        await Kafka.DisposeAsync();
        await Redis.DisposeAsync();
        await Postgres.DisposeAsync();
    }
}

/// <summary>
/// Several gateway processes sharing Kafka ingestion and the Redis store, against the real engines on loopback: any
/// replica answers the bundled features bit for bit, a replica killed mid-replay loses no acknowledged event, and a
/// Redis outage is reported and survived.
/// </summary>
public sealed class ScaleOutTests(ScaleOutEngines engines) : IClassFixture<ScaleOutEngines>
{
    private static readonly Lazy<(List<Row> Rows, List<Dictionary<string, float>> Expected)> s_data = new(Load);

    [Fact]
    public async Task Replay_ThroughKafkaIntoThreeReplicas_EveryReplicaAnswersFeaturesCsvBitForBit()
    {
        // The whole bundled file: 199,766 events, then every row's Predict.
        var rows = s_data.Value.Rows.Count;
        Assert.Equal(199_766, rows);
        const int Rows = 199_766;
        await using var cluster = await Cluster.StartAsync(engines, "replay", 3);

        // Events in calls of 2,000, round robin over the replicas; each call is acknowledged once applied.
        for (var (start, call) = (0, 0); start < Rows; start += 2_000, call++)
        {
            var summary = await cluster.IngestAsync(call % 3, start, Math.Min(Rows, start + 2_000));
            Assert.Equal(Math.Min(Rows, start + 2_000) - start, summary.Accepted);
        }

        // Every row's features, asked of the replicas in turn: each replica reads every entity from Redis.
        await cluster.AssertFeaturesAsync(0, Rows, [0, 1, 2]);

        // Applying twice is harmless: a replica in a new consumer group reads the whole topic again from the start, finds
        // every event's offset in the entities' state and skips it; the features stay exactly as they were.
        await using var again = await Cluster.StartAsync(engines, "replay", 1, "--Gateway:Kafka:GroupId=replay-again");
        await again.WaitMetricAsync(0, "gateway_features_kafka_duplicates_total", Rows);
        await cluster.AssertFeaturesAsync(0, Rows, [0, 1, 2], every: 7);
    }

    [Fact]
    public async Task ReplayCommand_RoundRobinOverThreeReplicas_AppliesEveryEventAndPredictsWithExactFeatures()
    {
        const int Rows = 2_000;
        await using var cluster = await Cluster.StartAsync(engines, "rr", 3);
        var file = Path.Combine(Path.GetTempPath(), $"ig-rr-{Guid.NewGuid():N}.csv");
        try
        {
            // The first rows of the bundled file, as the replay reads them (CSV with a header).
            using (var reader = new StreamReader(new GZipStream(File.OpenRead(Path.Combine(RepoPaths.Root, "models", "data", "transactions.csv.gz")), CompressionMode.Decompress)))
            await using (var writer = new StreamWriter(file))
            {
                for (var i = 0; i <= Rows; i++)
                {
                    await writer.WriteLineAsync(await reader.ReadLineAsync());
                }
            }

            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var code = await Cli.ReplayCommand.RunAsync(["--target", string.Join(",", cluster.Targets), "--file", file, "--version", "2", "--quiet"], stdout, stderr);
            Assert.True(code == 0, $"replay exited {code}:\n{stdout}\n{stderr}");
            Assert.Contains($"events {Rows:N0} applied, 0 late, 0 rejected", stdout.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }

        // "Predict, then ingest" over three replicas, each Predict seeing the events before it: the state is exact.
        await cluster.AssertFeaturesAsync(0, Rows, [2, 0, 1]);
    }

    [Fact]
    public async Task SigkillOneReplicaMidReplay_NoAcknowledgedEventOrAnsweredPredictionLost_OthersTakeItsPartitions()
    {
        const int Rows = 9_000;
        var database = await engines.Postgres.CreateDatabaseAsync("scaleout_kill");
        var connectionString = engines.Postgres.ConnectionString(database);
        await using var cluster = await Cluster.StartAsync(engines, "kill", 3,
            "--Gateway:PredictionLog:Sink=PostgreSql", $"--Gateway:PredictionLog:PostgreSqlConnectionString={connectionString}",
            "--Gateway:PredictionLog:Acknowledge=Committed");
        for (var (start, call) = (0, 0); start < 4_000; start += 500, call++)
        {
            await cluster.IngestAsync(call % 3, start, start + 500);
        }

        await cluster.WaitPartitionsAsync([0, 1, 2], 6);

        // Predictions on every replica while replica 2 is killed: each answered one must be in the shared log.
        var answered = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var stopPredicting = new CancellationTokenSource();
        var predicting = Enumerable.Range(0, 6).Select(worker => Task.Run(async () =>
        {
            for (var i = worker; !stopPredicting.IsCancellationRequested; i += 6)
            {
                try
                {
                    answered.Add((await cluster.PredictAsync(worker % 3, i % 4_000)).RequestId);
                }
                catch (RpcException ex) when (worker % 3 == 2 && ex.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Cancelled)
                {
                    // The killed replica's calls in flight fail; nothing was answered for them.
                    await Task.Delay(50);
                }
            }
        })).ToArray();
        while (answered.Count < 300)
        {
            await Task.Delay(20);
        }

        // Kill replica 2 while replica 0 is writing events, about a third of which replica 2's consumer applies: it
        // dies between consuming and committing some of them, or with them applied but not committed.
        var during = cluster.IngestAsync(0, 4_000, 5_000);
        await Task.Delay(20);
        cluster.Kill(2);
        var summary = await during.WaitAsync(TimeSpan.FromSeconds(90));
        Assert.Equal(1_000, summary.Accepted);
        await Task.Delay(500);
        await stopPredicting.CancelAsync();
        await Task.WhenAll(predicting).WaitAsync(TimeSpan.FromSeconds(60));

        for (var (start, call) = (5_000, 0); start < Rows; start += 500, call++)
        {
            await cluster.IngestAsync(call % 2, start, start + 500);
        }

        // The survivors own all six partitions, and every acknowledged event is in the state exactly once.
        await cluster.WaitPartitionsAsync([0, 1], 6);
        await cluster.AssertFeaturesAsync(0, Rows, [0, 1]);

        // Every answered prediction, the killed replica's included, is in the log (Acknowledge=Committed).
        var stored = new HashSet<string>(StringComparer.Ordinal);
        await using (var connection = new Npgsql.NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await using var command = new Npgsql.NpgsqlCommand("SELECT request_id FROM predictions WHERE NOT shadow", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                stored.Add(reader.GetString(0));
            }
        }

        var missing = answered.Where(id => !stored.Contains(id)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {answered.Count} answered predictions are not in the log, e.g. {string.Join(", ", missing.Take(3))}");
    }

    [Fact]
    public async Task RedisStoppedAndRestarted_ReportedServedWithDefaultsThenEverythingApplied()
    {
        const int Rows = 3_000;
        await using var cluster = await Cluster.StartAsync(engines, "outage", 1, "--Gateway:Kafka:ApplyWaitTimeout=00:00:02");
        await cluster.IngestAsync(0, 0, 2_000);
        await cluster.AssertFeaturesAsync(0, 2_000, [0]);

        await engines.Redis.StopAsync();
        try
        {
            // Reported: ready but degraded, and Predict answers with the streaming features defaulted and flagged.
            await cluster.WaitReadyzAsync(0, body => body.Contains("Redis online store unreachable", StringComparison.Ordinal));
            var response = await cluster.PredictAsync(0, 1_999);
            Assert.True(response.Features.Single(f => f.Name == "txn_count_10m").Defaulted);
            Assert.False(response.Features.Single(f => f.Name == "amount").Defaulted);

            // Events keep being accepted into Kafka (acknowledged after the bounded wait for the apply).
            Assert.Equal(1_000, (await cluster.IngestAsync(0, 2_000, 3_000)).Accepted);
        }
        finally
        {
            await engines.Redis.StartAgainAsync();
        }

        // Survived: the consumer's retried batch lands once Redis is back, and nothing accepted meanwhile is lost.
        await cluster.WaitReadyzAsync(0, body => !body.Contains("unreachable", StringComparison.Ordinal));
        var until = DateTime.UtcNow.AddSeconds(60);
        while (!cluster.Matches(Rows - 1, await cluster.PredictAsync(0, Rows - 1)))
        {
            Assert.True(DateTime.UtcNow < until, "the events accepted during the outage were not applied after Redis came back");
            await Task.Delay(100);
        }

        await cluster.AssertFeaturesAsync(0, Rows, [0]);
    }

    private static (List<Row> Rows, List<Dictionary<string, float>> Expected) Load()
    {
        var rows = new List<Row>();
        using (var reader = new StreamReader(new GZipStream(File.OpenRead(Path.Combine(RepoPaths.Root, "models", "data", "transactions.csv.gz")), CompressionMode.Decompress)))
        {
            reader.ReadLine();
            while (reader.ReadLine() is { } line)
            {
                var f = line.Split(',');
                rows.Add(new Row(long.Parse(f[0], CultureInfo.InvariantCulture), f[1], f[2], double.Parse(f[3], CultureInfo.InvariantCulture), double.Parse(f[4], CultureInfo.InvariantCulture)));
            }
        }

        var expected = new List<Dictionary<string, float>>();
        using (var reader = new StreamReader(new GZipStream(File.OpenRead(Path.Combine(RepoPaths.Root, "models", "data", "features.csv.gz")), CompressionMode.Decompress)))
        {
            var header = reader.ReadLine()!.Split(',');
            while (reader.ReadLine() is { } line)
            {
                var f = line.Split(',');
                var values = new Dictionary<string, float>(StringComparer.Ordinal);
                for (var i = 2; i < header.Length; i++)
                {
                    values[header[i]] = float.Parse(f[i], CultureInfo.InvariantCulture);
                }

                expected.Add(values);
            }
        }

        return (rows, expected);
    }

    private sealed record Row(long Time, string Card, string Merchant, double Category, double Amount);

    /// <summary>N gateway processes on one Kafka topic prefix, consumer group and Redis key prefix.</summary>
    private sealed class Cluster : IAsyncDisposable
    {
        private readonly List<ChildGateway> _processes = [];
        private readonly List<GrpcChannel> _channels = [];
        private readonly List<int> _adminPorts = [];
        private readonly List<string> _directories = [];
        private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

        public static async Task<Cluster> StartAsync(ScaleOutEngines engines, string name, int replicas, params string[] extra)
        {
            var cluster = new Cluster();
            try
            {
                for (var i = 0; i < replicas; i++)
                {
                    var directory = Directory.CreateTempSubdirectory($"ig-scaleout-{name}-{i}-").FullName;
                    cluster._directories.Add(directory);
                    var process = ChildGateway.Start([
                        $"--Gateway:DataDirectory={directory}",
                        "--Gateway:Features:Store=redis",
                        "--Gateway:Features:HistoryRetention=30.00:00:00",
                        $"--Gateway:Redis:Configuration={engines.Redis.Configuration}",
                        $"--Gateway:Redis:KeyPrefix={name}:",

                        // The default 100 ms lookup bound serves defaults (correctly, and counted) when the shared
                        // 2-core test host stalls; these tests compare values, so they wait longer.
                        "--Gateway:Redis:LookupTimeout=00:00:05",
                        $"--Gateway:Kafka:BootstrapServers={engines.Kafka.BootstrapServers}",
                        $"--Gateway:Kafka:TopicPrefix={name}-",
                        $"--Gateway:Kafka:GroupId={name}",
                        "--Gateway:Kafka:SessionTimeout=00:00:03",
                        .. extra]);
                    cluster._processes.Add(process);
                }

                foreach (var process in cluster._processes)
                {
                    var (grpc, admin) = await process.WaitListeningAsync();
                    cluster._channels.Add(GrpcChannel.ForAddress($"http://127.0.0.1:{grpc}"));
                    cluster._adminPorts.Add(admin);
                }

                for (var i = 0; i < replicas; i++)
                {
                    await cluster.WaitReadyzAsync(i, _ => true);
                }

                return cluster;
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        public async Task<IngestSummary> IngestAsync(int replica, int from, int to)
        {
            var (rows, _) = s_data.Value;
            using var call = new Gateway.GatewayClient(_channels[replica]).IngestEvents(deadline: DateTime.UtcNow.AddSeconds(120));
            for (var i = from; i < to; i++)
            {
                var row = rows[i];
                var e = new Event { Stream = "transactions", EntityId = row.Card, EventTimeUnixMs = row.Time };
                e.Numbers["amount"] = row.Amount;
                e.Numbers["merchant_category"] = row.Category;
                e.Strings["merchant_id"] = row.Merchant;
                await call.RequestStream.WriteAsync(e);
            }

            await call.RequestStream.CompleteAsync();
            var summary = await call.ResponseAsync;
            Assert.True(summary.Rejected == 0 && summary.DroppedLate == 0, $"replica {replica}: {summary}");
            return summary;
        }

        /// <summary>The replicas' gRPC addresses.</summary>
        public IEnumerable<string> Targets => _channels.Select(c => c.Target.StartsWith("http", StringComparison.Ordinal) ? c.Target : "http://" + c.Target);

        public Task<PredictResponse> PredictAsync(int replica, int index)
        {
            var row = s_data.Value.Rows[index];
            var request = new PredictRequest { Model = "fraud", Version = "2", EntityId = row.Card, EventTimeUnixMs = row.Time, ReturnFeatures = true };
            request.Features["amount"] = row.Amount;
            request.Features["merchant_category"] = row.Category;
            request.Attributes["merchant_id"] = row.Merchant;
            return new Gateway.GatewayClient(_channels[replica]).PredictAsync(request, deadline: DateTime.UtcNow.AddSeconds(30)).ResponseAsync;
        }

        public bool Matches(int index, PredictResponse response) => Mismatch(index, response) is null;

        /// <summary>Predicts rows [from, to) (every <paramref name="every"/>-th) on the replicas in turn, 16 at a time, and compares every feature's bits.</summary>
        public async Task AssertFeaturesAsync(int from, int to, int[] replicas, int every = 1)
        {
            var mismatches = new System.Collections.Concurrent.ConcurrentQueue<string>();
            await Parallel.ForEachAsync(Enumerable.Range(from, to - from).Where(i => (i - from) % every == 0), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (index, _) =>
            {
                var response = await PredictAsync(replicas[index % replicas.Length], index);
                if (Mismatch(index, response) is { } problem)
                {
                    mismatches.Enqueue(problem);
                }
            });
            Assert.True(mismatches.IsEmpty, $"{mismatches.Count} rows differ from features.csv.gz; first: {string.Join("; ", mismatches.Take(5))}\nreplica warnings:\n{Warnings()}");
        }

        /// <summary>The replicas' warning lines (with the line after each), for failure messages.</summary>
        public string Warnings()
        {
            var lines = new List<string>();
            for (var r = 0; r < _processes.Count; r++)
            {
                var all = _processes[r].All.ToArray();
                for (var i = 0; i < all.Length && lines.Count < 40; i++)
                {
                    if (all[i].StartsWith("warn", StringComparison.Ordinal) || all[i].StartsWith("fail", StringComparison.Ordinal))
                    {
                        lines.Add($"[{r}] {all[i]} {(i + 1 < all.Length ? all[i + 1].Trim() : "")}");
                    }
                }
            }

            return string.Join('\n', lines);
        }

        public void Kill(int replica) => _processes[replica].Process.Kill();

        /// <summary>Waits until the given replicas together report lag for <paramref name="partitions"/> distinct partitions.</summary>
        public async Task WaitPartitionsAsync(int[] replicas, int partitions)
        {
            var until = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var replica in replicas)
                {
                    var text = await _http.GetStringAsync($"http://127.0.0.1:{_adminPorts[replica]}/metrics");
                    foreach (var line in text.Split('\n'))
                    {
                        if (line.StartsWith("gateway_features_kafka_lag{", StringComparison.Ordinal))
                        {
                            Assert.True(seen.Add(line[..line.IndexOf('}', StringComparison.Ordinal)]), $"two replicas consume one partition: {line}");
                        }
                    }
                }

                if (seen.Count == partitions)
                {
                    return;
                }

                Assert.True(DateTime.UtcNow < until, $"replicas {string.Join(",", replicas)} own {seen.Count} partitions, not {partitions}: {string.Join(" ", seen)}");
                await Task.Delay(200);
            }
        }

        /// <summary>Waits until the replica's metric (summed over its series) reaches <paramref name="atLeast"/>; fails if it passes it.</summary>
        public async Task WaitMetricAsync(int replica, string name, long atLeast)
        {
            var until = DateTime.UtcNow.AddSeconds(180);
            double total = 0;
            while (DateTime.UtcNow < until)
            {
                var text = await _http.GetStringAsync($"http://127.0.0.1:{_adminPorts[replica]}/metrics");
                total = 0;
                foreach (var line in text.Split('\n'))
                {
                    if (line.StartsWith(name, StringComparison.Ordinal) && (line.Length == name.Length || line[name.Length] is ' ' or '{'))
                    {
                        total += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                    }
                }

                if (total >= atLeast)
                {
                    Assert.Equal(atLeast, total);
                    return;
                }

                await Task.Delay(200);
            }

            Assert.Fail($"replica {replica}'s {name} is {total}, expected {atLeast}");
        }

        public async Task WaitReadyzAsync(int replica, Func<string, bool> condition)
        {
            var until = DateTime.UtcNow.AddSeconds(60);
            var body = "";
            while (DateTime.UtcNow < until)
            {
                try
                {
                    using var response = await _http.GetAsync($"http://127.0.0.1:{_adminPorts[replica]}/readyz");
                    body = await response.Content.ReadAsStringAsync();
                    if (response.IsSuccessStatusCode && condition(body))
                    {
                        return;
                    }
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }

                await Task.Delay(100);
            }

            Assert.Fail($"replica {replica}'s /readyz never met the condition; last: {body}");
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var channel in _channels)
            {
                channel.Dispose();
            }

            foreach (var process in _processes)
            {
                process.Dispose();
            }

            _http.Dispose();
            foreach (var directory in _directories)
            {
                try
                {
                    Directory.Delete(directory, recursive: true);
                }
                catch (IOException)
                {
                }
            }

            await Task.CompletedTask;
        }

        private static string? Mismatch(int index, PredictResponse response)
        {
            var expected = s_data.Value.Expected[index];
            foreach (var feature in response.Features)
            {
                if (!expected.TryGetValue(feature.Name, out var want) || BitConverter.SingleToInt32Bits(want) != BitConverter.SingleToInt32Bits((float)feature.Value) || (float)feature.Value != feature.Value)
                {
                    return $"row {index} {feature.Name}: expected {want}, got {feature.Value}";
                }
            }

            return response.Features.Count == expected.Count ? null : $"row {index}: {response.Features.Count} features, expected {expected.Count}";
        }
    }
}
