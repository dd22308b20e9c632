namespace InferenceGateway.Server.Tests;

/// <summary>
/// A version's drain begun twice (a scan and a shutdown, or two scans, can both drain the same version) still ends when
/// the last lease is released: the draining flag is added to the lease count once only.
/// </summary>
public sealed class DrainTests : ScratchGateway
{
    protected override void Populate(ScratchRepository repository)
    {
        repository.WriteConfig("scale", 8, ("x", "FP32", 4), ("y", "FP32", 4));
        repository.PlaceModel("scale", "1", "scale2.onnx");
    }

    [Fact]
    public async Task BeginDrain_TwiceWithALeaseHeld_CompletesWhenTheLeaseIsReleased()
    {
        var version = Gateway.Repository.Models["scale"].Versions.Single();
        Assert.True(version.TryAcquire());

        var first = version.BeginDrain();
        var second = version.BeginDrain();
        Assert.False(first.IsCompleted); // the lease is still held
        Assert.False(version.TryAcquire()); // draining admits nothing

        version.Release();
        await Task.WhenAll(first, second).WaitAsync(TestGateway.Timeout);
        Assert.Equal(0, version.ActiveLeases);
    }
}
