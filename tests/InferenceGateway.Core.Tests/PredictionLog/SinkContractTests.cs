using InferenceGateway.Core.PredictionLog;
using InferenceGateway.Tests.Shared;

namespace InferenceGateway.Core.Tests.PredictionLog;

/// <summary>One contract, run against every sink on its real engine: a SQLite file and a PostgreSQL cluster.</summary>
public abstract class SinkContractTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly string[] Names = ["amount", "hour_of_day", "merchant_category"];

    protected IPredictionSink Sink { get; private set; } = null!;

    protected abstract Task<IPredictionSink> CreateSinkAsync();

    public async Task InitializeAsync()
    {
        Sink = await CreateSinkAsync();
        await Sink.InitializeAsync(CancellationToken.None).WaitAsync(Timeout);
    }

    public virtual async Task DisposeAsync() => await Sink.DisposeAsync();

    internal static PredictionRecord Record(string id, long time, string version, float score, string arm = "", bool shadow = false, int status = 0, int rows = 1, IReadOnlyList<string>? names = null, long totalUs = 1000)
    {
        var features = new[] { 12.5f, 3f, 7f };
        var defaulted = new[] { false, true, false };
        var outputs = new[] { score };
        var record = new PredictionRecord();
        var entry = new PredictionEntry
        {
            RequestId = id, EventTimeUnixMs = time, Model = "fraud", Version = version, Arm = arm, Shadow = shadow, EntityId = "card-" + id,
            FeatureNames = names ?? Names, Features = features, Defaulted = defaulted, Outputs = outputs, Rows = rows,
            QueueMicroseconds = 10, ComputeMicroseconds = 20, TotalMicroseconds = totalUs, Status = status,
        };
        record.CopyFrom(entry, time + 5, 4096);
        return record;
    }

    private async Task<List<EvaluationRow>> ReadAsync(string model = "fraud", long from = 0, long to = 0)
    {
        var rows = new List<EvaluationRow>();
        await foreach (var row in Sink.ReadEvaluationRowsAsync(model, from, to, CancellationToken.None))
        {
            rows.Add(row);
        }

        return rows.OrderBy(r => r.RequestId, StringComparer.Ordinal).ToList();
    }

    [Fact]
    public async Task WriteAsync_BatchThenRead_RowsComeBackWithTheirGroupScoreAndLatency()
    {
        PredictionRecord[] batch = [Record("a", 1_000, "1", 0.25f, totalUs: 1500), Record("b", 2_000, "2", 0.75f, arm: "treatment"), Record("c", 3_000, "2", 0.5f, shadow: true)];
        await Sink.WriteAsync("batch-1", batch, CancellationToken.None).WaitAsync(Timeout);
        var rows = await ReadAsync();
        Assert.Equal(3, rows.Count);
        Assert.Equal(new EvaluationRow("1", "", false, "a", 0.25f, 1500, double.NaN), rows[0]);
        Assert.Equal(("2", "treatment", false), (rows[1].Version, rows[1].Arm, rows[1].Shadow));
        Assert.True(rows[2].Shadow);
        Assert.Equal(3, await Sink.CountPredictionsAsync(CancellationToken.None).WaitAsync(Timeout));
    }

    [Fact]
    public async Task WriteAsync_SameBatchIdTwice_StoredOnce()
    {
        PredictionRecord[] batch = [Record("a", 1_000, "1", 0.1f), Record("b", 1_000, "1", 0.2f)];
        await Sink.WriteAsync("retried", batch, CancellationToken.None).WaitAsync(Timeout);
        await Sink.WriteAsync("retried", batch, CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal(2, await Sink.CountPredictionsAsync(CancellationToken.None).WaitAsync(Timeout));
    }

    [Fact]
    public async Task WriteOutcomesAsync_BeforeAndAfterThePrediction_BothJoinedByRequestId()
    {
        // One outcome arrives before its prediction is written, one after; one prediction never gets an outcome.
        await Sink.WriteOutcomesAsync([new OutcomeRecord("early", 1, 500, 600)], CancellationToken.None).WaitAsync(Timeout);
        await Sink.WriteAsync("b1", new[] { Record("early", 1_000, "1", 0.9f), Record("late", 1_000, "1", 0.1f), Record("never", 1_000, "1", 0.3f) }, CancellationToken.None).WaitAsync(Timeout);
        await Sink.WriteOutcomesAsync([new OutcomeRecord("late", 0, 9_000, 9_100)], CancellationToken.None).WaitAsync(Timeout);
        var rows = await ReadAsync();
        Assert.Equal(1, rows.Single(r => r.RequestId == "early").Label);
        Assert.Equal(0, rows.Single(r => r.RequestId == "late").Label);
        Assert.True(double.IsNaN(rows.Single(r => r.RequestId == "never").Label));
    }

    [Fact]
    public async Task WriteOutcomesAsync_ReportedAgain_LatestWins()
    {
        await Sink.WriteAsync("b1", new[] { Record("x", 1_000, "1", 0.9f) }, CancellationToken.None).WaitAsync(Timeout);
        await Sink.WriteOutcomesAsync([new OutcomeRecord("x", 0, 1, 2), new OutcomeRecord("x", 1, 3, 4)], CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal(1, (await ReadAsync()).Single().Label);
        await Sink.WriteOutcomesAsync([new OutcomeRecord("x", 0, 5, 6)], CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal(0, (await ReadAsync()).Single().Label);
    }

    [Fact]
    public async Task ReadEvaluationRowsAsync_TimeRangeModelStatusAndRows_SelectOnlyMatchingPredictions()
    {
        var day = 86_400_000L;
        await Sink.WriteAsync("b1", new[]
        {
            Record("d1", 1_706_000_000_000, "1", 0.1f), Record("d2", 1_706_000_000_000 + day, "1", 0.2f), Record("d3", 1_706_000_000_000 + (2 * day), "1", 0.3f),
            Record("failed", 1_706_000_000_000 + day, "1", 0.4f, status: 4), Record("multi", 1_706_000_000_000 + day, "1", 0.5f, rows: 2),
        }, CancellationToken.None).WaitAsync(Timeout);
        var rows = await ReadAsync(from: 1_706_000_000_000 + day, to: 1_706_000_000_000 + (2 * day));
        Assert.Equal(["d2"], rows.Select(r => r.RequestId));
        Assert.Equal(3, (await ReadAsync()).Count);
        Assert.Empty(await ReadAsync(model: "other"));
    }

    [Fact]
    public async Task InitializeAsync_Twice_SchemaKeptAndDataKept()
    {
        await Sink.WriteAsync("b1", new[] { Record("k", 1_000, "1", 0.9f) }, CancellationToken.None).WaitAsync(Timeout);
        await Sink.InitializeAsync(CancellationToken.None).WaitAsync(Timeout);
        await Sink.WriteAsync("b2", new[] { Record("k2", 1_000, "1", 0.9f) }, CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal(2, await Sink.CountPredictionsAsync(CancellationToken.None).WaitAsync(Timeout));
    }

    [Fact]
    public async Task WriteAsync_ManyBatchesOfTwoVersions_AllStoredFeatureNamesOncePerVersion()
    {
        string[] other = ["a", "b", "c"];
        for (var b = 0; b < 5; b++)
        {
            var batch = Enumerable.Range(0, 1000).Select(i => Record($"m{b}-{i}", 1_000 + i, i % 2 == 0 ? "1" : "2", i / 1000f, names: i % 2 == 0 ? Names : other)).ToArray();
            await Sink.WriteAsync($"many-{b}", batch, CancellationToken.None).WaitAsync(Timeout);
        }

        Assert.Equal(5000, await Sink.CountPredictionsAsync(CancellationToken.None).WaitAsync(Timeout));
        Assert.Equal(2, await FeatureSetCountAsync());
    }

    protected abstract Task<long> FeatureSetCountAsync();
}

public sealed class SqliteSinkContractTests : SinkContractTests
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "ig-sqlite-" + Guid.NewGuid().ToString("N"));

    protected override Task<IPredictionSink> CreateSinkAsync() => Task.FromResult<IPredictionSink>(new SqlitePredictionSink(Path.Combine(_directory, "predictions.db")));

    protected override async Task<long> FeatureSetCountAsync()
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_directory, "predictions.db")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM feature_sets";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task InitializeAsync_File_IsInWalMode()
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_directory, "predictions.db")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string)(await command.ExecuteScalarAsync())!);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresSinkContractTests(PostgresCluster cluster) : SinkContractTests
{
    private string _connectionString = "";

    protected override async Task<IPredictionSink> CreateSinkAsync()
    {
        _connectionString = await cluster.CreateDatabaseAsync("contract");
        return new PostgresPredictionSink(_connectionString);
    }

    protected override async Task<long> FeatureSetCountAsync()
    {
        await using var connection = new Npgsql.NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM feature_sets", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task WriteAsync_RecordsOfThreeDays_OnePartitionPerDay()
    {
        var day = 86_400_000L;
        await Sink.WriteAsync("p", new[] { Record("p1", 1_706_000_000_000, "1", 0.1f), Record("p2", 1_706_000_000_000 + day, "1", 0.1f), Record("p3", 1_706_000_000_000 + (2 * day), "1", 0.1f) }, CancellationToken.None);
        await using var connection = new Npgsql.NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM pg_inherits WHERE inhparent = 'predictions'::regclass", connection);
        Assert.Equal(3L, (long)(await command.ExecuteScalarAsync())!);
        await using var values = new Npgsql.NpgsqlCommand("SELECT features, defaulted, outputs FROM predictions WHERE request_id = 'p2'", connection);
        await using var reader = await values.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal([12.5f, 3f, 7f], reader.GetFieldValue<float[]>(0));
        Assert.Equal([false, true, false], reader.GetFieldValue<bool[]>(1));
        Assert.Equal([0.1f], reader.GetFieldValue<float[]>(2));
    }
}
