using InferenceGateway.Core.Features;
using InferenceGateway.Core.Tests.Batching;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Core.Tests.Features;

public sealed class SnapshotTests : IDisposable
{
    private const long T = 1_704_067_200_000;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ig-snap-" + Guid.NewGuid().ToString("N"));

    private string SnapshotPath => Path.Combine(_dir, "features", "state.bin");

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static FeatureEngineOptions Options(string? path = null) =>
        new() { MaxEventTimeAhead = Timeout.InfiniteTimeSpan, SnapshotPath = path, MaintenanceInterval = TimeSpan.Zero };

    /// <summary>50 cards with 20 transactions each over ~an hour, merchants shared between cards.</summary>
    private static FeatureEngine Loaded(FeatureEngineOptions? options = null)
    {
        var engine = new FeatureEngine(FeatureTestData.Bundled, options ?? Options());
        var rng = new Random(5);
        for (var i = 0; i < 1_000; i++)
        {
            var result = engine.Ingest(
                "transactions",
                "c" + (i % 50).ToString("D3", System.Globalization.CultureInfo.InvariantCulture),
                T + (i * 3_700L),
                new Dictionary<string, double> { ["amount"] = rng.Next(1, 100_000) / 100.0, ["merchant_category"] = rng.Next(20) },
                new Dictionary<string, string> { ["merchant_id"] = "m" + rng.Next(30).ToString(System.Globalization.CultureInfo.InvariantCulture) });
            Assert.True(result.IsAccepted);
        }

        return engine;
    }

    private static float[] Features(FeatureEngine engine, string card, long asOf)
    {
        var plan = engine.CreatePlan([.. FeatureTestData.FraudV2, "amount_max_24h", "last_amount", "txn_count_24h"]);
        var values = new float[plan.Count];
        Assert.True(plan.Assemble(new FeatureRequest(card, asOf, new Dictionary<string, double> { ["amount"] = 5, ["merchant_category"] = 1 }), values, default).IsSuccess);
        return values;
    }

    [Fact]
    public void RestoreSnapshot_AfterSave_SameFeaturesAndWatermark()
    {
        var engine = Loaded();
        var written = engine.SaveSnapshot(SnapshotPath);
        Assert.Equal(50, written.Entities);
        Assert.Equal(1_000, written.Events);
        Assert.False(File.Exists(SnapshotPath + ".tmp"));

        var restored = new FeatureEngine(FeatureTestData.Bundled, Options());
        var result = restored.RestoreSnapshot(SnapshotPath);
        Assert.Equal(SnapshotRestoreStatus.Restored, result.Status);
        Assert.Equal((50L, 1_000L), (result.Entities, result.Events));
        Assert.Equal(engine.GetWatermark("transactions"), restored.GetWatermark("transactions"));
        Assert.Equal(engine.EstimatedStateBytes, restored.EstimatedStateBytes);
        foreach (var card in new[] { "c000", "c017", "c049", "c999" })
        {
            foreach (var asOf in new[] { T + 1_000_000, T + 3_700_000, T + 3_700_001, T + 90_000_000 })
            {
                Assert.Equal(Features(engine, card, asOf), Features(restored, card, asOf));
            }
        }

        // And it goes on from there like the original.
        var more = new Dictionary<string, double> { ["amount"] = 1.5, ["merchant_category"] = 2 };
        var merchant = new Dictionary<string, string> { ["merchant_id"] = "m7" };
        Assert.True(engine.Ingest("transactions", "c003", T + 3_700_500, more, merchant).IsAccepted);
        Assert.True(restored.Ingest("transactions", "c003", T + 3_700_500, more, merchant).IsAccepted);
        Assert.Equal(Features(engine, "c003", T + 3_800_000), Features(restored, "c003", T + 3_800_000));
    }

    [Fact]
    public void RestoreSnapshot_EveryTruncationAndSampledBitFlips_CorruptAndEngineUntouched()
    {
        Loaded().SaveSnapshot(SnapshotPath);
        var bytes = File.ReadAllBytes(SnapshotPath);
        var damaged = Path.Combine(_dir, "damaged.bin");
        var rng = new Random(3);
        var lengths = Enumerable.Range(0, 64).Concat(Enumerable.Range(0, 200).Select(_ => rng.Next(bytes.Length))).Append(bytes.Length - 1);
        foreach (var length in lengths)
        {
            File.WriteAllBytes(damaged, bytes[..length]);
            AssertCorrupt(damaged, $"truncated to {length}");
        }

        for (var i = 0; i < 200; i++)
        {
            var copy = (byte[])bytes.Clone();
            var at = rng.Next(copy.Length);
            copy[at] ^= (byte)(1 << rng.Next(8));
            File.WriteAllBytes(damaged, copy);
            AssertCorrupt(damaged, $"bit flipped at {at}");
        }

        File.WriteAllBytes(damaged, [.. bytes, 0]);
        AssertCorrupt(damaged, "a byte appended");
        File.WriteAllText(damaged, "not a snapshot at all, just some text that is long enough to pass the length check......");
        AssertCorrupt(damaged, "text");
    }

    private static void AssertCorrupt(string path, string what)
    {
        var engine = new FeatureEngine(FeatureTestData.Bundled, Options());
        var result = engine.RestoreSnapshot(path);
        Assert.True(result.Status == SnapshotRestoreStatus.Corrupt, $"{what}: {result.Status} {result.Message}");
        Assert.False(string.IsNullOrEmpty(result.Message));
        Assert.Equal(0, engine.EntityCount);
        Assert.Null(engine.GetWatermark("transactions"));
    }

    [Fact]
    public void RestoreSnapshot_MissingFile_NotFound()
    {
        var result = new FeatureEngine(FeatureTestData.Bundled, Options()).RestoreSnapshot(Path.Combine(_dir, "none.bin"));
        Assert.Equal(SnapshotRestoreStatus.NotFound, result.Status);
    }

    [Fact]
    public async Task StartAsync_CorruptSnapshot_LoggedSkippedAndServesEmpty()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(SnapshotPath)!);
        Loaded().SaveSnapshot(SnapshotPath);
        var bytes = File.ReadAllBytes(SnapshotPath);
        File.WriteAllBytes(SnapshotPath, bytes[..(bytes.Length / 2)]);

        var logger = new ListLogger();
        await using var engine = new FeatureEngine(FeatureTestData.Bundled, Options(SnapshotPath), new ManualTimeProvider(), logger: logger);
        await engine.StartAsync(CancellationToken.None);
        var entry = Assert.Single(logger.Entries, e => e.EventName == "FeatureSnapshotUnusable");
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Contains("Corrupt", entry.Message, StringComparison.Ordinal);
        Assert.Equal(0, engine.EntityCount);
        Assert.True(engine.Ingest("transactions", "c1", T, new Dictionary<string, double> { ["amount"] = 1, ["merchant_category"] = 1 }, new Dictionary<string, string> { ["merchant_id"] = "m" }).IsAccepted);

        // Stopping writes a good snapshot over the bad one, which the next start restores.
        await engine.StopAsync(CancellationToken.None);
        Assert.Single(logger.Entries, e => e.EventName == "FeatureSnapshotWritten");
        await using var next = new FeatureEngine(FeatureTestData.Bundled, Options(SnapshotPath), new ManualTimeProvider(), logger: logger);
        await next.StartAsync(CancellationToken.None);
        Assert.Single(logger.Entries, e => e.EventName == "FeatureSnapshotRestored");
        Assert.Equal(1, next.EntityCount);
    }

    [Fact]
    public async Task StartAsync_SnapshotInterval_WritesPeriodically()
    {
        var time = new ManualTimeProvider();
        var options = Options(SnapshotPath);
        options.SnapshotInterval = TimeSpan.FromMinutes(1);
        await using var engine = Loaded(options);
        await engine.StartAsync(CancellationToken.None);
        Assert.False(File.Exists(SnapshotPath));
        await engine.DisposeAsync();

        await using var timed = new FeatureEngine(FeatureTestData.Bundled, options, time);
        await timed.StartAsync(CancellationToken.None);
        Assert.True(timed.Ingest("transactions", "c1", T, new Dictionary<string, double> { ["amount"] = 1, ["merchant_category"] = 1 }, new Dictionary<string, string> { ["merchant_id"] = "m" }).IsAccepted);
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.False(File.Exists(SnapshotPath));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(File.Exists(SnapshotPath));
        Assert.Equal(SnapshotRestoreStatus.Restored, new FeatureEngine(FeatureTestData.Bundled, Options()).RestoreSnapshot(SnapshotPath).Status);
    }

    [Fact]
    public void RestoreSnapshot_DefinitionsChanged_UnusableStreamSkippedOthersRestored()
    {
        Loaded().SaveSnapshot(SnapshotPath);

        // Same stream, but amount now has 3 decimals: its stored column no longer matches, so the stream is skipped.
        var changed = FeatureTestData.Parse("""
            {
              "streams": [
                { "name": "transactions", "entity_key": "card_id", "event_time": "t", "fields": [ { "name": "amount", "type": "number", "decimals": 3 } ] },
                { "name": "other", "entity_key": "id", "event_time": "t", "fields": [] }
              ],
              "aggregations": [
                { "name": "s", "stream": "transactions", "function": "sum", "field": "amount", "window": "1h" },
                { "name": "n", "stream": "other", "function": "count", "window": "1h" }
              ]
            }
            """);
        var engine = new FeatureEngine(changed, Options());
        var result = engine.RestoreSnapshot(SnapshotPath);
        Assert.Equal(SnapshotRestoreStatus.Restored, result.Status);
        Assert.Contains("stored field 'amount'", Assert.Single(result.SkippedStreams), StringComparison.Ordinal);
        Assert.Equal(0, engine.EntityCount);

        // A stream that only counts keeps no fields: its state restores under definitions that dropped the others.
        var countOnly = FeatureTestData.Parse("""
            {
              "streams": [ { "name": "transactions", "entity_key": "card_id", "event_time": "t", "fields": [] } ],
              "aggregations": [ { "name": "n", "stream": "transactions", "function": "count", "window": "30d" } ]
            }
            """);
        engine = new FeatureEngine(countOnly, Options());
        result = engine.RestoreSnapshot(SnapshotPath);
        Assert.Equal((SnapshotRestoreStatus.Restored, 50L, 1_000L), (result.Status, result.Entities, result.Events));
        Assert.Empty(result.SkippedStreams);
    }

    [Fact]
    public void SaveSnapshot_UnwritableFolder_ThrowsAndLeavesPreviousSnapshot()
    {
        var engine = Loaded();
        engine.SaveSnapshot(SnapshotPath);
        var before = File.ReadAllBytes(SnapshotPath);
        Directory.CreateDirectory(SnapshotPath + ".tmp"); // the temporary file cannot be created
        var ex = Assert.ThrowsAny<Exception>(() => engine.SaveSnapshot(SnapshotPath));
        Assert.True(ex is IOException or UnauthorizedAccessException, ex.GetType().Name);
        Assert.Equal(before, File.ReadAllBytes(SnapshotPath));
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string? EventName, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries)
            {
                Entries.Add((logLevel, eventId.Name, formatter(state, exception)));
            }
        }
    }
}
