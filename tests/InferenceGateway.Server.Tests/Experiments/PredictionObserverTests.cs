using System.Collections.Concurrent;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Core.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace InferenceGateway.Server.Tests.Experiments;

/// <summary>Records what the gateway reports through the prediction-log seam.</summary>
public sealed class RecordingObserver : IPredictionObserver
{
    public ConcurrentQueue<Recorded> Records { get; } = new();

    public bool IsEnabled => true;

    public void OnPrediction(in PredictionRecord record) => Records.Enqueue(new Recorded(
        record.Shadow, record.Surface, record.RequestId.ToString(), record.Model, record.Version, record.Arm, record.ShadowTarget,
        record.EntityId.ToString(), record.FeatureNames.ToArray(), record.FeatureValues.ToArray(), record.Outputs.ToArray(), record.StatusCode, record.TimeUnixMs));

    public sealed record Recorded(bool Shadow, PredictionSurface Surface, string RequestId, string Model, string Version, string Arm, string? Target,
        string EntityId, string[] FeatureNames, float[] FeatureValues, float[] Outputs, int Status, long Time);
}

/// <summary>A gateway with a recording prediction observer registered before the gateway's default.</summary>
public sealed class ObservedGatewayFixture : ExperimentGatewayFixture
{
    public RecordingObserver Observer { get; } = new();

    protected override void Configure(WebApplicationBuilder builder) => builder.Services.AddSingleton<IPredictionObserver>(Observer);
}

/// <summary>The seam where the prediction log records primaries and shadows, with their version and arm.</summary>
public sealed class PredictionObserverTests(ObservedGatewayFixture gateway) : IClassFixture<ObservedGatewayFixture>
{
    [Fact]
    public async Task Predict_WithLocalShadow_PrimaryAndShadowRecordedWithVersionArmFeaturesAndOutputs()
    {
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "fraud", """
            {"arms": [{"name": "control", "version": "1", "weight": 1}], "salt": "o", "shadows": [{"version": "2", "sample_rate": 1, "timeout_ms": 10000}]}
            """);
        var client = new Gateway.GatewayClient(gateway.Channel);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var request = GatewayPredictTests.Fraud("card-obs", now, 99, 5, "m-9", version: "");
        request.RequestId = "obs-1";
        var response = await client.PredictAsync(request, deadline: DateTime.UtcNow + ExperimentAdmin.Timeout).ResponseAsync.WaitAsync(ExperimentAdmin.Timeout);

        var until = DateTime.UtcNow + ExperimentAdmin.Timeout;
        while (!gateway.Observer.Records.Any(r => r.Shadow && r.RequestId == "obs-1"))
        {
            Assert.True(DateTime.UtcNow < until, "no shadow record");
            await Task.Delay(20);
        }

        var primary = Assert.Single(gateway.Observer.Records, r => !r.Shadow && r.RequestId == "obs-1");
        Assert.Equal((PredictionSurface.Predict, "fraud", "1", "control", "card-obs", now, 0), (primary.Surface, primary.Model, primary.Version, primary.Arm, primary.EntityId, primary.Time, primary.Status));
        Assert.Equal(["amount", "hour_of_day", "merchant_category"], primary.FeatureNames);
        Assert.Equal(response.Scores.ToArray(), primary.Outputs);
        Assert.Equal(99f, primary.FeatureValues[0]);

        var shadow = Assert.Single(gateway.Observer.Records, r => r.Shadow && r.RequestId == "obs-1");
        Assert.Equal(("2", "control", "fraud:2", 0, now), (shadow.Version, shadow.Arm, shadow.Target, shadow.Status, shadow.Time));
        Assert.Equal(8, shadow.FeatureNames.Length);
        Assert.Single(shadow.Outputs);
        await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Delete, "fraud");
    }

    [Fact]
    public async Task ModelInfer_WithRemoteShadow_PrimaryAndShadowRecorded()
    {
        await using var remote = await FakeOipServer.StartAsync();
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "twin", $$"""
            {"arms": [{"name": "b", "version": "2", "weight": 1}], "salt": "o", "shadows": [{"endpoint": "{{remote.Endpoint}}", "version": "5", "sample_rate": 1}]}
            """);
        var response = await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest("obs-2"));
        var until = DateTime.UtcNow + ExperimentAdmin.Timeout;
        while (!gateway.Observer.Records.Any(r => r.Shadow && r.RequestId == "req-obs-2"))
        {
            Assert.True(DateTime.UtcNow < until, "no shadow record");
            await Task.Delay(20);
        }

        var primary = Assert.Single(gateway.Observer.Records, r => !r.Shadow && r.RequestId == "req-obs-2");
        Assert.Equal((PredictionSurface.ModelInfer, "twin", "2", "b", 0), (primary.Surface, primary.Model, primary.Version, primary.Arm, primary.Status));
        Assert.Single(primary.Outputs);
        var shadow = Assert.Single(gateway.Observer.Records, r => r.Shadow && r.RequestId == "req-obs-2");
        Assert.Equal(("5", "b", $"{remote.Endpoint}/twin:5", 0), (shadow.Version, shadow.Arm, shadow.Target, shadow.Status));
        Assert.Equal([0.25f], shadow.Outputs);
        _ = response;
    }
}
