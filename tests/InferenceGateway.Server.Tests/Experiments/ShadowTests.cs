using Grpc.Core;
using InferenceGateway.Contracts.Gateway;

namespace InferenceGateway.Server.Tests.Experiments;

/// <summary>A gateway whose shadow lanes are small, so that overflow is easy to reach.</summary>
public sealed class SmallShadowLanesFixture() : ExperimentGatewayFixture(["--Gateway:Experiments:ShadowQueueCapacity=4", "--Gateway:Experiments:ShadowMaxConcurrency=2"]);

/// <summary>
/// Shadows on a real gateway: sampled shares, each version's own features, and slow, failing, hanging and overflowing
/// shadows, local and remote, with every primary still answered. Shadow copies finish after their primary, so the
/// assertions wait for the gateway's own counters; no test asserts a duration.
/// </summary>
public sealed class ShadowTests(SmallShadowLanesFixture gateway) : IClassFixture<SmallShadowLanesFixture>
{
    private const string Sent = "gateway_shadow_sent_total";
    private const string Dropped = "gateway_shadow_dropped_total";
    private const string Failed = "gateway_shadow_failed_total";

    [Fact]
    public async Task LocalShadow_HalfSampled_ReceivesAboutHalfAndPrimariesAllAnswer()
    {
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "twin", """
            {"arms": [{"name": "a", "version": "1", "weight": 1}], "salt": "share", "shadows": [{"version": "2", "sample_rate": 0.5}]}
            """);
        const int Calls = 400;
        for (var i = 0; i < Calls; i++)
        {
            Assert.Equal("1", (await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest($"k{i}"))).ModelVersion);
        }

        var target = ("target", "twin:2");
        var scrape = await ExperimentAdmin.WaitForAsync(gateway.Admin, s =>
            ExperimentAdmin.Sum(s, "gateway_shadow_duration_seconds_count", target) == ExperimentAdmin.Sum(s, Sent, target), "every sent copy finished");
        var sampled = ExperimentAdmin.Sum(scrape, Sent, target) + ExperimentAdmin.Sum(scrape, Dropped, target);
        Assert.InRange(sampled, 150, 250); // 200 expected; 5 standard deviations of a binomial count either side
        Assert.Equal(0, ExperimentAdmin.Sum(scrape, Failed, target));
    }

    [Fact]
    public async Task PredictShadow_OtherVersion_GetsTheFeaturesItsOwnVersionLists()
    {
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "fraud", """
            {"arms": [{"name": "control", "version": "1", "weight": 1}], "salt": "p", "shadows": [{"version": "2", "sample_rate": 1, "timeout_ms": 10000}]}
            """);
        try
        {
            var client = new Gateway.GatewayClient(gateway.Channel);
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            for (var i = 0; i < 10; i++)
            {
                var response = await client.PredictAsync(GatewayPredictTests.Fraud($"card-{i}", now, 10 + i, 2, "m", version: ""), deadline: DateTime.UtcNow + ExperimentAdmin.Timeout).ResponseAsync.WaitAsync(ExperimentAdmin.Timeout);
                Assert.Equal(("1", "control"), (response.Version, response.Arm));
            }

            var target = ("target", "fraud:2");
            var scrape = await ExperimentAdmin.WaitForAsync(gateway.Admin, s => ExperimentAdmin.Sum(s, "gateway_shadow_duration_seconds_count", target) + ExperimentAdmin.Sum(s, Dropped, target) >= 10, "ten copies handled");
            Assert.True(ExperimentAdmin.Sum(scrape, Sent, target) >= 1);
            Assert.Equal(0, ExperimentAdmin.Sum(scrape, Failed, target)); // v1's three features would fail v2's eight-wide input
        }
        finally
        {
            await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Delete, "fraud");
        }
    }

    [Fact]
    public async Task LocalShadows_FailingAndPastTheirDeadline_PrimariesAllAnswerAndFailuresAreCounted()
    {
        // Version 3 takes eight inputs, so a copy of a three-input request fails there; version 2 gets 1 ms, less than a
        // copy's trip through the lane and the batcher usually takes.
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "twin", """
            {"arms": [{"name": "a", "version": "1", "weight": 1}], "salt": "f",
             "shadows": [{"version": "3", "sample_rate": 1}, {"version": "2", "sample_rate": 1, "timeout_ms": 1}]}
            """);
        var calls = Enumerable.Range(0, 8).Select(async worker =>
        {
            for (var i = 0; i < 25; i++)
            {
                Assert.Equal("1", (await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest($"w{worker}-{i}"))).ModelVersion);
            }
        });
        await Task.WhenAll(calls).WaitAsync(ExperimentAdmin.Timeout * 2);

        var failing = ("target", "twin:3");
        var scrape = await ExperimentAdmin.WaitForAsync(gateway.Admin, s => ExperimentAdmin.Sum(s, Failed, failing, ("status", "InvalidArgument")) >= 1, "a failing copy is counted");
        Assert.Equal(0, ExperimentAdmin.Sum(scrape, Failed, failing) - ExperimentAdmin.Sum(scrape, Failed, failing, ("status", "InvalidArgument")));
        var late = ("target", "twin:2");
        await ExperimentAdmin.WaitForAsync(gateway.Admin, s =>
            ExperimentAdmin.Sum(s, Sent, late) + ExperimentAdmin.Sum(s, Dropped, late) >= 1
            && ExperimentAdmin.Sum(s, "gateway_shadow_duration_seconds_count", late) == ExperimentAdmin.Sum(s, Sent, late), "the late shadow's copies are accounted for");
    }

    [Fact]
    public async Task RemoteShadows_SlowFailingAndHanging_PrimariesAllAnswerAndOverflowIsDroppedAndCounted()
    {
        await using var slow = await FakeOipServer.StartAsync(FakeOipBehaviour.Sleep, TimeSpan.FromMilliseconds(200));
        await using var failing = await FakeOipServer.StartAsync(FakeOipBehaviour.Fail);
        await using var hanging = await FakeOipServer.StartAsync(FakeOipBehaviour.Hang);
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "twin", $$"""
            {"arms": [{"name": "a", "version": "1", "weight": 1}], "salt": "r",
             "shadows": [{"endpoint": "{{slow.Endpoint}}", "model": "fraud", "version": "7", "sample_rate": 1, "timeout_ms": 5000},
                         {"endpoint": "{{failing.Endpoint}}", "sample_rate": 1},
                         {"endpoint": "{{hanging.Endpoint}}", "sample_rate": 1, "timeout_ms": 300}]}
            """);
        try
        {
            var calls = Enumerable.Range(0, 8).Select(async worker =>
            {
                for (var i = 0; i < 10; i++)
                {
                    var response = await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest($"r{worker}-{i}"));
                    Assert.Equal(("1", "a"), (response.ModelVersion, ExperimentAdmin.Arm(response)));
                }
            });
            await Task.WhenAll(calls).WaitAsync(ExperimentAdmin.Timeout * 2);

            var slowTarget = ("target", $"{slow.Endpoint}/fraud:7");
            var failingTarget = ("target", $"{failing.Endpoint}/twin:");
            var hangingTarget = ("target", $"{hanging.Endpoint}/twin:");
            var scrape = await ExperimentAdmin.WaitForAsync(gateway.Admin, s =>
                ExperimentAdmin.Sum(s, Sent, slowTarget) + ExperimentAdmin.Sum(s, Dropped, slowTarget) == 80
                && ExperimentAdmin.Sum(s, Sent, failingTarget) + ExperimentAdmin.Sum(s, Dropped, failingTarget) == 80
                && ExperimentAdmin.Sum(s, Sent, hangingTarget) + ExperimentAdmin.Sum(s, Dropped, hangingTarget) == 80
                && ExperimentAdmin.Sum(s, "gateway_shadow_duration_seconds_count", hangingTarget) == ExperimentAdmin.Sum(s, Sent, hangingTarget)
                && ExperimentAdmin.Sum(s, "gateway_shadow_duration_seconds_count", slowTarget) == ExperimentAdmin.Sum(s, Sent, slowTarget),
                "every copy sent and answered or dropped");

            Assert.True(ExperimentAdmin.Sum(scrape, Sent, slowTarget) >= 1);
            Assert.Equal(0, ExperimentAdmin.Sum(scrape, Failed, slowTarget));
            Assert.True(slow.State.Requests.All(r => r.ModelName == "fraud" && r.ModelVersion == "7" && r.RawInputContents.Count == 1));
            Assert.Equal(ExperimentAdmin.Sum(scrape, Sent, failingTarget), ExperimentAdmin.Sum(scrape, Failed, failingTarget, ("status", "Unavailable")));
            Assert.True(ExperimentAdmin.Sum(scrape, Failed, hangingTarget, ("status", "DeadlineExceeded")) >= 1);
            Assert.True(ExperimentAdmin.Sum(scrape, Dropped, hangingTarget, ("reason", "queue_full")) >= 1); // 2 in flight + 4 queued of 80
        }
        finally
        {
            await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Delete, "twin");
        }
    }
}
