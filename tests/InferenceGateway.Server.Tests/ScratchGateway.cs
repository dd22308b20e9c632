namespace InferenceGateway.Server.Tests;

/// <summary>
/// An in-process gateway over a scratch repository of its own, started ready (the poll loop off: scans only when a
/// test asks, so what a test changes is picked up when it says). Test classes and fixtures derive from it and fill the
/// repository in <see cref="Populate"/>.
/// </summary>
public abstract class ScratchGateway : IAsyncLifetime
{
    /// <summary>The repository the gateway serves; tests change its files.</summary>
    protected ScratchRepository Repository { get; } = new();

    /// <summary>The running gateway (after <see cref="InitializeAsync"/>).</summary>
    public TestGateway Gateway { get; private set; } = null!;

    /// <summary>Extra gateway arguments, after the poll interval.</summary>
    protected virtual string[] GatewayArgs => [];

    /// <summary>Writes the models this gateway serves.</summary>
    protected abstract void Populate(ScratchRepository repository);

    public async Task InitializeAsync()
    {
        Populate(Repository);
        Gateway = await TestGateway.StartAsync(Repository.Path, null, ["--Gateway:ModelRepository:PollInterval=00:00:00", .. GatewayArgs]);
        await Gateway.WaitReadyAsync();
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        Repository.Dispose();
    }
}
