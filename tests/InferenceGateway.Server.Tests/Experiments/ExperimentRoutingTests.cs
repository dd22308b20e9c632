using Grpc.Core;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Core.Routing;

namespace InferenceGateway.Server.Tests.Experiments;

/// <summary>Both surfaces under an experiment on a real gateway with real ONNX Runtime sessions.</summary>
public sealed class ExperimentRoutingTests(ExperimentGatewayFixture gateway) : IClassFixture<ExperimentGatewayFixture>
{
    [Fact]
    public async Task ModelInfer_EmptyVersion_EachKeyGetsItsArmsVersionAndKeepsIt()
    {
        const string Definition = """{"arms": [{"name": "a", "version": "1", "weight": 50}, {"name": "b", "version": "2", "weight": 50}], "sticky_key": "entity_id", "salt": "twin-1"}""";
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "twin", Definition);
        var expected = Local("twin", Definition);

        var arms = new Dictionary<string, int>();
        for (var i = 0; i < 60; i++)
        {
            var key = $"card-{i}";
            var first = await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest(key));
            var again = await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest(key));
            var arm = ExperimentAdmin.Arm(first);
            Assert.Equal(expected.ChooseArm(key.AsSpan()).Name, arm); // the arm any process computes for this key and salt
            Assert.Equal(arm, ExperimentAdmin.Arm(again));
            Assert.Equal(arm == "a" ? "1" : "2", first.ModelVersion);
            Assert.Equal("req-" + key, first.Id);
            arms[arm] = arms.GetValueOrDefault(arm) + 1;
        }

        Assert.Equal(2, arms.Count);
        var scrape = await ExperimentAdmin.ScrapeAsync(gateway.Admin);
        Assert.True(ExperimentAdmin.Sum(scrape, "gateway_requests_total", ("model", "twin"), ("arm", "a"), ("version", "1")) >= 2 * arms["a"]);
        Assert.True(ExperimentAdmin.Sum(scrape, "gateway_requests_total", ("model", "twin"), ("arm", "b"), ("version", "2")) >= 2 * arms["b"]);
    }

    [Fact]
    public async Task ModelInfer_KeyAsIntegerParameterOrRequestId_RoutedLikeItsText()
    {
        const string ByMerchant = """{"arms": [{"name": "a", "version": "1", "weight": 1}, {"name": "b", "version": "2", "weight": 1}], "sticky_key": "attribute:merchant", "salt": "m"}""";
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "twin", ByMerchant);
        var expected = Local("twin", ByMerchant);
        for (var i = 0; i < 20; i++)
        {
            var request = ExperimentAdmin.TwinRequest("x");
            request.Parameters["merchant"] = new Contracts.Inference.InferParameter { Int64Param = 1000 + i };
            var response = await ExperimentAdmin.InferAsync(gateway.Channel, request);
            Assert.Equal(expected.ChooseArm((1000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture).AsSpan()).Name, ExperimentAdmin.Arm(response));
        }

        const string ByRequest = """{"arms": [{"name": "a", "version": "1", "weight": 1}, {"name": "b", "version": "2", "weight": 1}], "sticky_key": "request_id", "salt": "r"}""";
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "twin", ByRequest);
        expected = Local("twin", ByRequest);
        for (var i = 0; i < 20; i++)
        {
            var response = await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest($"e{i}"));
            Assert.Equal(expected.ChooseArm($"req-e{i}".AsSpan()).Name, ExperimentAdmin.Arm(response));
        }
    }

    [Fact]
    public async Task ModelInfer_NamedVersion_PinnedPastTheExperiment()
    {
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "twin", """{"arms": [{"name": "a", "version": "1", "weight": 1}], "salt": "p"}""");
        var pinned = await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest("card-9", version: "2"));
        Assert.Equal("2", pinned.ModelVersion);
        Assert.Equal(ExperimentValidator.PinnedArm, ExperimentAdmin.Arm(pinned));

        // No experiment on fraud: no arm parameter at all (the response is what it was before experiments).
        var plain = await ExperimentAdmin.InferAsync(gateway.Channel, KServeTests.RawRequest("fraud", "1", "features", [1, 3], [120f, 13f, 4f]));
        Assert.Empty(plain.Parameters);
    }

    [Fact]
    public async Task Predict_EmptyVersion_ArmAndVersionAnsweredAndStableAndPinningReported()
    {
        const string Definition = """{"arms": [{"name": "control", "version": "1", "weight": 50}, {"name": "treatment", "version": "2", "weight": 50}], "salt": "fraud-p"}""";
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "fraud", Definition);
        var expected = Local("fraud", Definition);
        var client = new Gateway.GatewayClient(gateway.Channel);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var seen = new HashSet<string>();
        try
        {
            for (var i = 0; i < 30; i++)
            {
                var card = $"card-{i}";
                var request = GatewayPredictTests.Fraud(card, now, 42.5, 3, "m-1", version: "");
                var first = await client.PredictAsync(request, deadline: DateTime.UtcNow + ExperimentAdmin.Timeout).ResponseAsync.WaitAsync(ExperimentAdmin.Timeout);
                var again = await client.PredictAsync(request, deadline: DateTime.UtcNow + ExperimentAdmin.Timeout).ResponseAsync.WaitAsync(ExperimentAdmin.Timeout);
                Assert.Equal(expected.ChooseArm(card.AsSpan()).Name, first.Arm);
                Assert.Equal(first.Arm, again.Arm);
                Assert.Equal(first.Arm == "control" ? "1" : "2", first.Version);
                Assert.Equal(first.Arm == "control" ? 3 : 8, first.Features.Count); // each version's own features
                Assert.Single(first.Scores);
                seen.Add(first.Arm);
            }

            var pinned = await client.PredictAsync(GatewayPredictTests.Fraud("card-0", now, 42.5, 3, "m-1", version: "1"), deadline: DateTime.UtcNow + ExperimentAdmin.Timeout).ResponseAsync.WaitAsync(ExperimentAdmin.Timeout);
            Assert.Equal(("1", ExperimentValidator.PinnedArm), (pinned.Version, pinned.Arm));
            Assert.Equal(2, seen.Count);
        }
        finally
        {
            await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Delete, "fraud");
        }

        var after = await client.PredictAsync(GatewayPredictTests.Fraud("card-0", now, 42.5, 3, "m-1", version: ""), deadline: DateTime.UtcNow + ExperimentAdmin.Timeout).ResponseAsync.WaitAsync(ExperimentAdmin.Timeout);
        Assert.Equal(("2", ""), (after.Version, after.Arm)); // back to the latest version, no arm
    }

    /// <summary>The experiment as this process computes it: the gateway must agree for every key.</summary>
    internal static Experiment Local(string model, string json)
    {
        var definition = System.Text.Json.JsonSerializer.Deserialize<ExperimentDefinition>(json, ExperimentDefinition.JsonOptions);
        var errors = new List<string>();
        var experiment = ExperimentValidator.Validate(model, definition, new AnyVersion(), TimeSpan.FromSeconds(1), errors);
        Assert.True(experiment is not null, string.Join("; ", errors));
        return experiment;
    }

    private sealed class AnyVersion : IModelCatalog
    {
        public bool HasModel(string model) => true;

        public CatalogVersion GetVersion(string model, string version) => CatalogVersion.Local;
    }
}
