using System.Globalization;
using System.IO.Compression;
using Grpc.Core;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Server.Hosting;

namespace InferenceGateway.Server.Tests;

/// <summary>Events for one card, then Predict: the features and fraud v2's score follow the card's recent history.</summary>
public sealed class GatewayPredictTests : IClassFixture<GatewayFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly GatewayFixture _gateway;
    private readonly Gateway.GatewayClient _client;

    public GatewayPredictTests(GatewayFixture gateway)
    {
        _gateway = gateway;
        _client = new Gateway.GatewayClient(gateway.Channel);
    }

    internal static PredictRequest Fraud(string card, long time, double amount, int category, string merchant, string version = "2")
    {
        var request = new PredictRequest { Model = "fraud", Version = version, EntityId = card, EventTimeUnixMs = time, ReturnFeatures = true };
        request.Features["amount"] = amount;
        request.Features["merchant_category"] = category;
        request.Attributes["merchant_id"] = merchant;
        return request;
    }

    internal static Event Transaction(string card, long time, double amount, int category, string merchant)
    {
        var e = new Event { Stream = "transactions", EntityId = card, EventTimeUnixMs = time };
        e.Numbers["amount"] = amount;
        e.Numbers["merchant_category"] = category;
        e.Strings["merchant_id"] = merchant;
        return e;
    }

    internal static async Task<IngestSummary> IngestAsync(Gateway.GatewayClient client, IEnumerable<Event> events)
    {
        using var call = client.IngestEvents(deadline: DateTime.UtcNow.AddSeconds(30));
        foreach (var e in events)
        {
            await call.RequestStream.WriteAsync(e);
        }

        await call.RequestStream.CompleteAsync();
        return await call.ResponseAsync.WaitAsync(Timeout);
    }

    private static double Feature(PredictResponse response, string name) => response.Features.Single(f => f.Name == name).Value;

    [Fact]
    public async Task Predict_AfterABurstOfEventsForTheCard_FeaturesAndFraudScoreChange()
    {
        var card = "c-burst-" + Guid.NewGuid().ToString("N")[..8];
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var before = await _client.PredictAsync(Fraud(card, now, 480.00, 7, "m90001"), deadline: DateTime.UtcNow + Timeout);
        Assert.Equal(0, Feature(before, "txn_count_10m"));
        Assert.True(before.Features.Single(f => f.Name == "txn_count_10m").Defaulted);
        Assert.Equal(2_592_000, Feature(before, "seconds_since_last_txn"));

        // Nine purchases in the last few minutes at nine merchants: the pattern of a compromised card.
        var burst = Enumerable.Range(0, 9).Select(i => Transaction(card, now - 240_000 + (i * 20_000), 120.00 + i, 3, $"m8{i:D4}")).ToArray();
        var summary = await IngestAsync(_client, burst);
        Assert.Equal(9, summary.Accepted);
        Assert.Equal(0, summary.Rejected);

        var after = await _client.PredictAsync(Fraud(card, now, 480.00, 7, "m90001"), deadline: DateTime.UtcNow + Timeout);
        Assert.Equal(9, Feature(after, "txn_count_10m"));
        Assert.Equal((float)(((12000 * 9) + (100 * 36)) / 100.0), (float)Feature(after, "amount_sum_1h"));
        Assert.Equal(9, Feature(after, "distinct_merchants_24h"));
        Assert.Equal((float)((now - (now - 240_000 + 160_000)) / 1000.0), (float)Feature(after, "seconds_since_last_txn"));
        Assert.False(after.Features.Single(f => f.Name == "txn_count_10m").Defaulted);
        Assert.Equal("2", after.Version);
        Assert.NotEqual(before.Scores[0], after.Scores[0]);
        Assert.True(after.Scores[0] > before.Scores[0], $"score before {before.Scores[0]}, after the burst {after.Scores[0]}");
    }

    [Fact]
    public async Task Predict_FraudV1_SameScoreAsModelInferOnTheSameVector()
    {
        var time = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var predicted = await _client.PredictAsync(Fraud("c-v1", time, 55.96, 10, "m02766", version: "1"), deadline: DateTime.UtcNow + Timeout);
        Assert.Equal(["amount", "hour_of_day", "merchant_category"], predicted.Features.Select(f => f.Name).ToArray());
        var vector = predicted.Features.Select(f => (float)f.Value).ToArray();
        Assert.Equal((float)((time / 3_600_000) % 24), vector[1]);

        var infer = KServeTests.RawRequest("fraud", "1", "features", [1, 3], vector);
        var direct = await _gateway.Channel.CreateCallInvoker().AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), infer).ResponseAsync;
        var score = BitConverter.ToSingle(direct.RawOutputContents[0].Span);
        Assert.Equal(score, predicted.Scores.Single());
    }

    [Fact]
    public async Task Predict_EmptyRequestId_GetsAGeneratedUuidV7()
    {
        var response = await _client.PredictAsync(Fraud("c-id", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 10, 1, "m1", version: "1"), deadline: DateTime.UtcNow + Timeout);
        Assert.True(Guid.TryParse(response.RequestId, out var id), response.RequestId);
        Assert.Equal(7, id.Version);

        var echoed = Fraud("c-id", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 10, 1, "m1", version: "1");
        echoed.RequestId = "caller-42";
        Assert.Equal("caller-42", (await _client.PredictAsync(echoed, deadline: DateTime.UtcNow + Timeout)).RequestId);
    }

    [Theory]
    [InlineData("nope", "", StatusCode.NotFound, "model 'nope'")]
    [InlineData("fraud", "9", StatusCode.NotFound, "version '9'")]
    [InlineData("bench_mlp", "", StatusCode.FailedPrecondition, "lists no features")]
    [InlineData("", "", StatusCode.InvalidArgument, "PredictRequest.model")]
    public async Task Predict_UnservableModelOrVersion_StatusNamingIt(string model, string version, StatusCode code, string named)
    {
        var request = Fraud("c1", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 10, 1, "m1");
        request.Model = model;
        request.Version = version;
        var ex = await Assert.ThrowsAsync<RpcException>(() => _client.PredictAsync(request, deadline: DateTime.UtcNow + Timeout).ResponseAsync);
        Assert.Equal(code, ex.StatusCode);
        Assert.Contains(named, ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Predict_MissingOrBadRequestTimeInputs_InvalidArgumentNamingTheField()
    {
        var time = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var noAmount = Fraud("c1", time, 10, 1, "m1");
        noAmount.Features.Remove("amount");
        var ex = await Assert.ThrowsAsync<RpcException>(() => _client.PredictAsync(noAmount, deadline: DateTime.UtcNow + Timeout).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("'amount'", ex.Status.Detail, StringComparison.Ordinal);

        var nan = Fraud("c1", time, double.NaN, 1, "m1");
        ex = await Assert.ThrowsAsync<RpcException>(() => _client.PredictAsync(nan, deadline: DateTime.UtcNow + Timeout).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("'amount'", ex.Status.Detail, StringComparison.Ordinal);

        var noCard = Fraud("", time, 10, 1, "m1");
        ex = await Assert.ThrowsAsync<RpcException>(() => _client.PredictAsync(noCard, deadline: DateTime.UtcNow + Timeout).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("entity", ex.Status.Detail, StringComparison.Ordinal);

        var negative = Fraud("c1", -5, 10, 1, "m1");
        ex = await Assert.ThrowsAsync<RpcException>(() => _client.PredictAsync(negative, deadline: DateTime.UtcNow + Timeout).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("event_time_unix_ms", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PredictStream_ManyRequests_AnsweredInRequestOrder()
    {
        using var call = _client.PredictStream(deadline: DateTime.UtcNow + Timeout);
        var time = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var reader = Task.Run(async () =>
        {
            var ids = new List<string>();
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                ids.Add(call.ResponseStream.Current.RequestId);
            }

            return ids;
        });
        for (var i = 0; i < 200; i++)
        {
            var request = Fraud("c-stream-" + (i % 7), time, 10 + i, i % 20, "m" + i, version: i % 3 == 0 ? "1" : "2");
            request.RequestId = "r" + i;
            await call.RequestStream.WriteAsync(request);
        }

        await call.RequestStream.CompleteAsync();
        var answered = await reader.WaitAsync(Timeout);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => "r" + i).ToArray(), answered.ToArray());
    }

    [Fact]
    public async Task PredictStream_ABadRequestMidStream_EarlierAnswersThenItsStatus()
    {
        using var call = _client.PredictStream(deadline: DateTime.UtcNow + Timeout);
        var time = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 0; i < 3; i++)
        {
            var request = Fraud("c-bad", time, 10, 1, "m1", version: "1");
            request.RequestId = "ok" + i;
            await call.RequestStream.WriteAsync(request);
        }

        var bad = Fraud("c-bad", time, 10, 1, "m1", version: "1");
        bad.Features.Remove("merchant_category");
        await call.RequestStream.WriteAsync(bad);
        var answered = new List<string>();
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Timeout))
            {
                answered.Add(call.ResponseStream.Current.RequestId);
            }
        });
        Assert.Equal(["ok0", "ok1", "ok2"], answered.ToArray());
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("merchant_category", ex.Status.Detail, StringComparison.Ordinal);
    }
}

/// <summary>IngestEvents: counts by outcome, bad events never end the stream; GetFeatures as of any time.</summary>
public sealed class GatewayIngestTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly Gateway.GatewayClient _client = new(gateway.Channel);

    [Fact]
    public async Task IngestEvents_MixedGoodLateAndMalformed_CountedByOutcomeAndGoodOnesApplied()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var card = "c-mixed-" + Guid.NewGuid().ToString("N")[..8];
        var wrongType = GatewayPredictTests.Transaction(card, now - 1000, 5, 1, "m1");
        wrongType.Numbers.Remove("merchant_category");
        wrongType.Strings["merchant_category"] = "seven";
        Event[] events =
        [
            GatewayPredictTests.Transaction(card, now - 3000, 10.00, 1, "m1"),
            new Event { Stream = "no-such-stream", EntityId = card, EventTimeUnixMs = now },
            GatewayPredictTests.Transaction("", now - 2000, 10.00, 1, "m1"),
            wrongType,
            GatewayPredictTests.Transaction(card, now - 3_600_000, 10.00, 1, "m1"), // an hour behind the watermark: late
            GatewayPredictTests.Transaction(card, now + 3_600_000, 10.00, 1, "m1"), // an hour ahead of the clock
            GatewayPredictTests.Transaction(card, now - 500, 2.50, 1, "m2"),
        ];
        var summary = await GatewayPredictTests.IngestAsync(_client, events);

        Assert.Equal(2, summary.Accepted);
        Assert.Equal(1, summary.DroppedLate);
        Assert.Equal(4, summary.Rejected);
        Assert.Contains("no-such-stream", summary.FirstRejection, StringComparison.Ordinal);

        var request = new GetFeaturesRequest { EntityId = card, AsOfUnixMs = now };
        request.Names.Add("txn_count_10m");
        request.Names.Add("amount_sum_1h");
        var features = await _client.GetFeaturesAsync(request, deadline: DateTime.UtcNow + Timeout);
        Assert.Equal(2, features.Features[0].Value);
        Assert.Equal((float)(1250 / 100.0), (float)features.Features[1].Value);
    }

    [Fact]
    public async Task GetFeatures_AsOfEachEventTime_SeesOnlyStrictlyEarlierEvents()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var card = "c-pit-" + Guid.NewGuid().ToString("N")[..8];
        var times = new[] { now - 200_000, now - 150_000, now - 100_000, now - 50_000 };

        // Sent out of order (within the allowed lateness): lookups answer as if they had arrived in order.
        await GatewayPredictTests.IngestAsync(_client, [.. times.Reverse().Select((t, i) => GatewayPredictTests.Transaction(card, t, 1.00, 1, "m" + i))]);
        for (var i = 0; i < times.Length; i++)
        {
            var request = new GetFeaturesRequest { EntityId = card, AsOfUnixMs = times[i] };
            request.Names.Add("txn_count_10m");
            request.Names.Add("seconds_since_last_txn");
            var features = (await _client.GetFeaturesAsync(request, deadline: DateTime.UtcNow + Timeout)).Features;
            Assert.Equal(i, features[0].Value);
            Assert.Equal(i == 0, features[0].Defaulted);
            Assert.Equal(i == 0 ? 2_592_000 : 50, features[1].Value);
        }
    }

    [Fact]
    public async Task GetFeatures_UnknownFeatureOrNoNames_NotFoundOrInvalidArgument()
    {
        var request = new GetFeaturesRequest { EntityId = "c1" };
        request.Names.Add("txn_count_10m");
        request.Names.Add("no_such_feature");
        var ex = await Assert.ThrowsAsync<RpcException>(() => _client.GetFeaturesAsync(request, deadline: DateTime.UtcNow + Timeout).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
        Assert.Contains("no_such_feature", ex.Status.Detail, StringComparison.Ordinal);

        ex = await Assert.ThrowsAsync<RpcException>(() => _client.GetFeaturesAsync(new GetFeaturesRequest { EntityId = "c1" }, deadline: DateTime.UtcNow + Timeout).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
    }
}

/// <summary>The bundled data's first transactions replayed over gRPC as "Predict, then ingest": Predict's features are features.csv.gz's.</summary>
public sealed class GatewayReplayTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private const int Rows = 3000;

    [Fact]
    public async Task PredictThenIngest_BundledTransactions_FeaturesEqualTheReferenceFileBitForBit()
    {
        var client = new Gateway.GatewayClient(gateway.Channel);
        using var transactions = new StreamReader(new GZipStream(File.OpenRead(Path.Combine(RepoPaths.Models, "data", "transactions.csv.gz")), CompressionMode.Decompress));
        using var reference = new StreamReader(new GZipStream(File.OpenRead(Path.Combine(RepoPaths.Models, "data", "features.csv.gz")), CompressionMode.Decompress));
        _ = await transactions.ReadLineAsync();
        _ = await reference.ReadLineAsync();
        using var ingest = client.IngestEvents(deadline: DateTime.UtcNow.AddMinutes(5));
        for (var row = 0; row < Rows; row++)
        {
            var t = (await transactions.ReadLineAsync())!.Split(',');
            var expected = (await reference.ReadLineAsync())!.Split(',');
            var (time, card, merchant, category, amount) = (long.Parse(t[0], CultureInfo.InvariantCulture), t[1], t[2], int.Parse(t[3], CultureInfo.InvariantCulture), double.Parse(t[4], CultureInfo.InvariantCulture));
            var response = await client.PredictAsync(GatewayPredictTests.Fraud(card, time, amount, category, merchant), deadline: DateTime.UtcNow.AddSeconds(30));
            for (var f = 0; f < 8; f++)
            {
                var want = float.Parse(expected[2 + f], CultureInfo.InvariantCulture);
                Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits((float)response.Features[f].Value),
                    $"row {row} ({card} at {time}): {response.Features[f].Name} is {(float)response.Features[f].Value}, features.csv.gz says {want}");
            }

            // Ingest on one open stream; a Predict sees an event once the server has applied it, so wait for that
            // before the next row of the same card by flushing the stream through one GetFeatures round trip.
            await ingest.RequestStream.WriteAsync(GatewayPredictTests.Transaction(card, time, amount, category, merchant));
            await WaitAppliedAsync(client, card, time);
        }

        await ingest.RequestStream.CompleteAsync();
        var summary = await ingest.ResponseAsync;
        Assert.Equal(Rows, summary.Accepted);
    }

    private static async Task WaitAppliedAsync(Gateway.GatewayClient client, string card, long time)
    {
        var request = new GetFeaturesRequest { EntityId = card, AsOfUnixMs = time + 1 };
        request.Names.Add("seconds_since_last_txn");
        for (var attempt = 0; attempt < 2000; attempt++)
        {
            var features = await client.GetFeaturesAsync(request, deadline: DateTime.UtcNow.AddSeconds(30));
            if (features.Features[0].Value == 0.001f)
            {
                return;
            }

            await Task.Delay(1);
        }

        throw new TimeoutException($"event of {card} at {time} never became visible");
    }
}

/// <summary>The feature state outlives a restart: saved to the data directory at shutdown, restored at start.</summary>
public sealed class GatewayRestartTests
{
    [Fact]
    public async Task Restart_SameDataDirectory_FeaturesAsBefore_AndACorruptSnapshotStartsEmpty()
    {
        var data = TestDataDirectory.Create();
        try
        {
            var card = "c-restart";
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var request = new GetFeaturesRequest { EntityId = card, AsOfUnixMs = now };
            request.Names.Add("txn_count_10m");
            request.Names.Add("distinct_merchants_24h");

            await using (var first = await StartAsync(data))
            {
                var client = new Gateway.GatewayClient(first.Channel);
                var summary = await GatewayPredictTests.IngestAsync(client, Enumerable.Range(0, 5).Select(i => GatewayPredictTests.Transaction(card, now - 60_000 + i, 1 + i, 2, "m" + (i % 3))));
                Assert.Equal(5, summary.Accepted);
            }

            Assert.True(File.Exists(Path.Combine(data, "features.snapshot")), "no snapshot written at shutdown");
            await using (var second = await StartAsync(data))
            {
                var features = (await new Gateway.GatewayClient(second.Channel).GetFeaturesAsync(request, deadline: DateTime.UtcNow.AddSeconds(30))).Features;
                Assert.Equal(5, features[0].Value);
                Assert.Equal(3, features[1].Value);
            }

            // Cut the snapshot in half: the gateway reports it, starts with no state, and serves.
            var bytes = await File.ReadAllBytesAsync(Path.Combine(data, "features.snapshot"));
            await File.WriteAllBytesAsync(Path.Combine(data, "features.snapshot"), bytes[..(bytes.Length / 2)]);
            await using (var third = await StartAsync(data))
            {
                var features = (await new Gateway.GatewayClient(third.Channel).GetFeaturesAsync(request, deadline: DateTime.UtcNow.AddSeconds(30))).Features;
                Assert.Equal(0, features[0].Value);
                Assert.True(features[0].Defaulted);
            }
        }
        finally
        {
            TestDataDirectory.Delete(data);
        }
    }

    private static async Task<RunningGateway> StartAsync(string data)
    {
        var app = GatewayHost.Build(TestGatewayArgs.For(data, RepoPaths.Models));
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return new RunningGateway(app, global::Grpc.Net.Client.GrpcChannel.ForAddress($"http://127.0.0.1:{LoggedGateway.GrpcPort(app)}"));
    }

    private sealed record RunningGateway(Microsoft.AspNetCore.Builder.WebApplication App, global::Grpc.Net.Client.GrpcChannel Channel) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Channel.Dispose();
            await App.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
            await App.DisposeAsync();
        }
    }
}
