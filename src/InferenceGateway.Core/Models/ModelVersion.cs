using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Models;

/// <summary>Lifecycle of a loaded model version.</summary>
public enum ModelVersionState
{
    /// <summary>Loaded, warming up; not yet served.</summary>
    Loading,
    /// <summary>Serving requests.</summary>
    Ready,
    /// <summary>Removed or replaced: finishing requests already admitted, taking no new ones.</summary>
    Draining,
    /// <summary>Released.</summary>
    Unloaded,
}

/// <summary>
/// One served version of a model: its config, the loaded model and its batcher. Requests hold a lease
/// (<see cref="TryAcquire"/>/<see cref="Release"/>) so a removed version is drained, never cut off mid-request.
/// </summary>
public sealed class ModelVersion : IAsyncDisposable
{
    private const int DrainingFlag = 1 << 30;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _leases;
    private int _drainBegun;
    private int _state = (int)ModelVersionState.Loading;

    internal ModelVersion(
        ModelConfig modelConfig,
        string version,
        VersionConfig config,
        string modelPath,
        DateTime modelFileTime,
        ILoadedModel model,
        DynamicBatcher batcher,
        IReadOnlyList<BatchTensorSpec> inputSpecs,
        IReadOnlyList<BatchTensorSpec> outputSpecs)
    {
        ModelConfig = modelConfig;
        Name = modelConfig.Name;
        Version = version;
        VersionNumber = long.Parse(version, System.Globalization.CultureInfo.InvariantCulture);
        Config = config;
        ModelPath = modelPath;
        ModelFileTime = modelFileTime;
        Model = model;
        Batcher = batcher;
        InputSpecs = inputSpecs;
        OutputSpecs = outputSpecs;
    }

    /// <summary>Logical model name.</summary>
    public string Name { get; }

    /// <summary>Version as text ("1", "2", ...).</summary>
    public string Version { get; }

    /// <summary>Version as a number, for ordering.</summary>
    public long VersionNumber { get; }

    /// <summary>The model's configuration.</summary>
    public ModelConfig ModelConfig { get; }

    /// <summary>This version's tensors and feature list.</summary>
    public VersionConfig Config { get; }

    /// <summary>Path of the ONNX file.</summary>
    public string ModelPath { get; }

    /// <summary>Last write time of the ONNX file when it was loaded; a change triggers a reload.</summary>
    public DateTime ModelFileTime { get; }

    /// <summary>The loaded model.</summary>
    public ILoadedModel Model { get; }

    /// <summary>The batcher in front of this version's execution instances.</summary>
    public DynamicBatcher Batcher { get; }

    /// <summary>Per-row layout of each input, in config order.</summary>
    public IReadOnlyList<BatchTensorSpec> InputSpecs { get; }

    /// <summary>Per-row layout of each output, in config order.</summary>
    public IReadOnlyList<BatchTensorSpec> OutputSpecs { get; }

    /// <summary>True when the model has a batch dimension (max_batch_size &gt; 0).</summary>
    public bool HasBatchDimension => ModelConfig.MaxBatchSize > 0;

    /// <summary>Current state.</summary>
    public ModelVersionState State => (ModelVersionState)Volatile.Read(ref _state);

    /// <summary>Requests currently holding a lease.</summary>
    public int ActiveLeases => Volatile.Read(ref _leases) & ~DrainingFlag;

    /// <summary>Admits one request; false once the version is draining.</summary>
    public bool TryAcquire()
    {
        var value = Interlocked.Increment(ref _leases);
        if ((value & DrainingFlag) != 0 || State != ModelVersionState.Ready)
        {
            Release();
            return false;
        }

        return true;
    }

    /// <summary>Ends a lease taken by <see cref="TryAcquire"/>.</summary>
    public void Release()
    {
        var value = Interlocked.Decrement(ref _leases);
        if (value == DrainingFlag)
        {
            _drained.TrySetResult();
        }
    }

    internal void MarkReady() => Interlocked.CompareExchange(ref _state, (int)ModelVersionState.Ready, (int)ModelVersionState.Loading);

    /// <summary>Stops admitting requests and completes when every admitted request has released its lease.</summary>
    internal Task BeginDrain()
    {
        // Once only: a second flag would overflow the count, and the drain would never complete.
        if (Interlocked.Exchange(ref _drainBegun, 1) != 0)
        {
            return _drained.Task;
        }

        Volatile.Write(ref _state, (int)ModelVersionState.Draining);
        var value = Interlocked.Add(ref _leases, DrainingFlag);
        if (value == DrainingFlag)
        {
            _drained.TrySetResult();
        }

        return _drained.Task;
    }

    /// <summary>Drains (bounded by the caller), stops the batcher and releases the model.</summary>
    public async ValueTask DisposeAsync()
    {
        if (State == ModelVersionState.Unloaded)
        {
            return;
        }

        if (State != ModelVersionState.Draining)
        {
            await BeginDrain().ConfigureAwait(false);
        }

        await ReleaseResourcesAsync().ConfigureAwait(false);
    }

    /// <summary>Stops the batcher (its queued work runs first) and releases the model.</summary>
    internal async Task ReleaseResourcesAsync()
    {
        try
        {
            await Batcher.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            Model.Dispose();
            Volatile.Write(ref _state, (int)ModelVersionState.Unloaded);
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name}:{Version}";
}
