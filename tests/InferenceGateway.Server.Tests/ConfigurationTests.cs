using InferenceGateway.Server.Hosting;

namespace InferenceGateway.Server.Tests;

public sealed class ConfigurationTests
{
    [Fact]
    public void Build_InvalidValues_ListsEveryErrorAtOnce()
    {
        var ex = Assert.Throws<GatewayConfigurationException>(() => GatewayHost.Build(
        [
            "--Gateway:GrpcPort=70000",
            "--Gateway:ListenAddress=not-an-ip",
            "--Gateway:OnnxRuntime:ExecutionProvider=Tpu",
            "--Gateway:Models:fraud:MaxBatchSize=0",
        ]));

        Assert.Equal(4, ex.Errors.Count);
        Assert.Contains(ex.Errors, e => e.Contains("Gateway:GrpcPort 70000"));
        Assert.Contains(ex.Errors, e => e.Contains("Gateway:ListenAddress 'not-an-ip'"));
        Assert.Contains(ex.Errors, e => e.Contains("ExecutionProvider 'Tpu'"));
        Assert.Contains(ex.Errors, e => e.Contains("Gateway:Models:fraud:MaxBatchSize"));
    }

    [Fact]
    public void Build_BadBatchingPolicyOverrides_ListedWithTheirKeys()
    {
        var ex = Assert.Throws<GatewayConfigurationException>(() => GatewayHost.Build(
        [
            "--Gateway:Models:fraud:BatchingPolicy=sometimes",
            "--Gateway:Models:fraud:AdaptiveWaitMicroseconds=-1",
        ]));

        Assert.Equal(2, ex.Errors.Count);
        Assert.Contains(ex.Errors, e => e.Contains("Gateway:Models:fraud:BatchingPolicy 'sometimes' must be 'adaptive' or 'fixed_delay'"));
        Assert.Contains(ex.Errors, e => e.Contains("Gateway:Models:fraud:AdaptiveWaitMicroseconds must be between 0 and 10000000"));
    }
}
