using System.Buffers.Binary;
using System.IO.Compression;
using Google.Protobuf;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.LoadTest.Cli;
using InferenceGateway.LoadTest.Engine;
using InferenceGateway.LoadTest.Targets;

namespace InferenceGateway.LoadTest.Tests;

/// <summary>The ingest target's payload: events read from a CSV, rebased, framed per call; and the IngestSummary check.</summary>
public sealed class EventPayloadTests : IDisposable
{
    private const long Now = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    private readonly string _dir = Directory.CreateTempSubdirectory("ig-load-events-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Load_BundledLayout_NumericColumnsNumbersOthersStringsLabelIgnored()
    {
        string csv = WriteCsv();

        EventTable table = EventTable.Load(csv, new EventColumns());

        Assert.Equal(5, table.Count);
        Assert.Equal(new[] { "merchant_category", "amount" }, table.NumberNames);
        Assert.Equal(new[] { "merchant_id" }, table.StringNames);
        Assert.Equal(3, table.DistinctEntities);
        Assert.Equal(1_000_000, table.MinTime);
        Assert.Equal(1_600_000, table.MaxTime);
        Assert.Equal(12.34, table.Numbers[1][1]);
        Assert.True(double.IsNaN(table.Numbers[1][4]));
        Assert.Null(table.Strings[0][3]);
    }

    [Fact]
    public void Load_MissingEntityColumn_FormatErrorNamingColumns()
    {
        string csv = WriteCsv();

        var ex = Assert.Throws<FormatException>(() => EventTable.Load(csv, new EventColumns { Entity = "account" }));

        Assert.Contains("'account'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("card_id", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RebasedTimes_SpanOfTheFile_LastMinuteBeforeNowInOrder()
    {
        EventTable table = EventTable.Load(WriteCsv(), new EventColumns());

        long[] times = table.RebasedTimes(Now, 60_000);

        Assert.Equal(Now - 60_000, times[0]);
        Assert.Equal(Now - 1, times.Max());
        Assert.Equal(Now - 60_000 + (59_999L * 200_000 / 600_000), times[1]);
        for (int i = 1; i < times.Length; i++)
        {
            Assert.Equal(Math.Sign(table.Times[i] - table.Times[i - 1]), Math.Sign(times[i] - times[i - 1]));
        }
    }

    [Fact]
    public void BuildIngestCalls_TwoPerCall_FramesParseBackToTheRowsInOrderLastCallWrapping()
    {
        EventTable table = EventTable.Load(WriteCsv(), new EventColumns());

        IngestCalls calls = EventPayloads.BuildIngestCalls(table, "transactions", 2, 0, Now, framed: true);
        IReadOnlyList<byte[]> bodies = calls.Bodies!;

        Assert.Null(calls.Messages);
        Assert.Equal(3, bodies.Count);
        List<Event> sent = [.. bodies.SelectMany(ParseFrames)];
        Assert.Equal(6, sent.Count);
        long[] times = table.RebasedTimes(Now, EventPayloads.RebaseWindowMs);
        for (int i = 0; i < 6; i++)
        {
            int row = i % 5;
            Assert.Equal("transactions", sent[i].Stream);
            Assert.Equal(table.Entities[row], sent[i].EntityId);
            Assert.Equal(times[row], sent[i].EventTimeUnixMs);
            Assert.DoesNotContain("label", sent[i].Numbers.Keys);
            Assert.DoesNotContain("label", sent[i].Strings.Keys);
        }

        Assert.Equal(12.34, sent[1].Numbers["amount"]);
        Assert.Equal(7, sent[1].Numbers["merchant_category"]);
        Assert.Equal("m002", sent[1].Strings["merchant_id"]);
        Assert.False(sent[3].Strings.ContainsKey("merchant_id"));
        Assert.False(sent[4].Numbers.ContainsKey("amount"));
        Assert.Equal(sent[0], sent[5]);
        Assert.Equal(3, calls.Entities);
        Assert.Equal(Now - 1, calls.LastTime);
    }

    [Fact]
    public void BuildIngestCalls_ThreePasses_EachPassInItsOwnLaterSliceOfTheMinute()
    {
        EventTable table = EventTable.Load(WriteCsv(), new EventColumns());

        IngestCalls calls = EventPayloads.BuildIngestCalls(table, "transactions", 4, 0, Now, passes: 3);

        Assert.Equal(4, calls.Count);
        List<Event> sent = [.. calls.Messages!.SelectMany(c => c).Select(m => Event.Parser.ParseFrom(m))];
        Assert.Equal(16, sent.Count);
        for (int pass = 0; pass < 3; pass++)
        {
            long[] times = table.RebasedTimes(Now - ((2 - pass) * 20_000), 20_000);
            for (int row = 0; row < 5; row++)
            {
                Event e = sent[(pass * 5) + row];
                Assert.Equal(table.Entities[row], e.EntityId);
                Assert.Equal(times[row], e.EventTimeUnixMs);
            }
        }

        // Every event of a pass is later than every event of the pass before: each entity only ever gets appended to.
        Assert.True(sent.Skip(5).Take(5).Min(e => e.EventTimeUnixMs) > sent.Take(5).Max(e => e.EventTimeUnixMs));
        Assert.True(sent.Skip(10).Take(5).Min(e => e.EventTimeUnixMs) > sent.Skip(5).Take(5).Max(e => e.EventTimeUnixMs));
        Assert.Equal(sent[0], sent[15]);
        Assert.Equal(Now - 60_000, calls.FirstTime);
        Assert.Equal(Now - 1, sent[14].EventTimeUnixMs);
    }

    [Fact]
    public void BuildIngestCalls_SpreadOverTwoEntities_RowIndexModuloCount()
    {
        EventTable table = EventTable.Load(WriteCsv(), new EventColumns());

        IngestCalls calls = EventPayloads.BuildIngestCalls(table, "transactions", 5, 2, Now);

        string[] entities = [.. calls.Messages![0].Select(m => Event.Parser.ParseFrom(m).EntityId)];
        Assert.Equal(new[] { "entity-0", "entity-1", "entity-0", "entity-1", "entity-0" }, entities);
        Assert.Equal(2, calls.Entities);
    }

    [Fact]
    public void IngestCalls_BundledMonth_EveryRowOnceInCallsOfOneHundred()
    {
        var settings = new TargetSettings
        {
            Kind = TargetKind.Ingest,
            ModelsDirectory = Path.Combine(GatewayFixture.RepositoryRoot, "models"),
            Time = new FixedTime(Now),
        };

        IngestCalls calls = TargetFactory.IngestCalls(settings, framed: false);

        Assert.Equal(199_766, calls.Rows);
        Assert.Equal(2_000, calls.Entities);
        Assert.Equal(1_998, calls.Count);
        Assert.All(calls.Messages!, c => Assert.Equal(100, c.Length));
        Event first = Event.Parser.ParseFrom(calls.Messages![0][0]);
        Assert.Equal("c001839", first.EntityId);
        Assert.Equal(Now - 60_000, first.EventTimeUnixMs);
        Assert.Equal(55.96, first.Numbers["amount"]);
        Assert.Equal(10, first.Numbers["merchant_category"]);
        Assert.Equal("m02766", first.Strings["merchant_id"]);
        Assert.Equal(2, first.Numbers.Count);
        Assert.Single(first.Strings);
        Assert.Equal(Now - 1, calls.LastTime);
    }

    [Fact]
    public async Task Payload_IngestTarget_OneBodyOfFramedEvents()
    {
        string csv = WriteCsv();
        string output = Path.Combine(_dir, "ingest.bin");

        int rc = await LoadTool.RunAsync(
            ["payload", "--target", "ingest", "--events", csv, "--events-per-call", "4", "--out", output],
            TextWriter.Null,
            TextWriter.Null,
            CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, rc);
        List<Event> events = ParseFrames(File.ReadAllBytes(output));
        Assert.Equal(new[] { "c1", "c2", "c1", "c3" }, events.Select(e => e.EntityId));
    }

    [Fact]
    public void PredictRequests_EventsFile_RowFieldsAsInputsEventTimeNow()
    {
        var settings = new TargetSettings { Kind = TargetKind.Predict, Model = "fraud", Version = "2", EventsFile = WriteCsv() };

        List<PredictRequest> requests = TargetFactory.PredictRequests(settings);

        Assert.Equal(5, requests.Count);
        PredictRequest second = requests[1];
        Assert.Equal("c2", second.EntityId);
        Assert.Equal("2", second.Version);
        Assert.Equal(0, second.EventTimeUnixMs);
        Assert.Equal(12.34, second.Features["amount"]);
        Assert.Equal(7, second.Features["merchant_category"]);
        Assert.Equal("m002", second.Attributes["merchant_id"]);
        Assert.Equal(2, second.Features.Count);
    }

    [Theory]
    [InlineData(100, 0, 0, "", OutcomeCodes.Ok)]
    [InlineData(99, 1, 0, "", OutcomeCodes.IngestDroppedLate)]
    [InlineData(98, 1, 1, "events[7]: amount: invalid_value", OutcomeCodes.IngestRejected)]
    [InlineData(99, 0, 0, "", OutcomeCodes.IngestRejected)]
    [InlineData(1000, 0, 0, "", OutcomeCodes.IngestRejected)]
    public void Judge_IngestSummary_OkOnlyWhenEveryEventAccepted(long accepted, long late, long rejected, string first, int expected)
    {
        byte[] message = new IngestSummary { Accepted = accepted, DroppedLate = late, Rejected = rejected, FirstRejection = first }.ToByteArray();

        Assert.Equal(expected, IngestSummaryCheck.Judge(message, 100));
        Assert.Equal(expected, new IngestSummaryCheck(100).Check(message.AsSpan(0, Math.Min(message.Length, 20)), message.Length > 20));
    }

    [Fact]
    public void Judge_VarintCutShort_ClientError()
    {
        Assert.Equal(OutcomeCodes.ClientError, IngestSummaryCheck.Judge([0x08, 0xE4], 100));
    }

    internal static List<Event> ParseFrames(byte[] body)
    {
        var events = new List<Event>();
        int at = 0;
        while (at < body.Length)
        {
            Assert.Equal(0, body[at]);
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(at + 1));
            events.Add(Event.Parser.ParseFrom(body.AsSpan(at + GrpcFrame.HeaderLength, length)));
            at += GrpcFrame.HeaderLength + length;
        }

        return events;
    }

    // The bundled file's layout (label last, columns in its order), gzipped; one empty merchant and one empty amount.
    private string WriteCsv()
    {
        string path = Path.Combine(_dir, "events.csv.gz");
        using (var gzip = new GZipStream(File.Create(path), CompressionLevel.Fastest))
        using (var writer = new StreamWriter(gzip))
        {
            writer.Write("""
                event_time_unix_ms,card_id,merchant_id,merchant_category,amount,label
                1000000,c1,m001,3,55.96,0
                1200000,c2,m002,7,12.34,1
                1200000,c1,"m003",3,1.00,0
                1400000,c3,,1,2.50,0
                1600000,c2,m002,7,,0

                """.ReplaceLineEndings("\n"));
        }

        return path;
    }

    private sealed class FixedTime(long unixMs) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
    }
}
