using System.Collections.Frozen;
using System.Globalization;
using InferenceGateway.Core.Batching;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Core.Models;

/// <summary>
/// The served models: scans the repository folder, loads each version through the backend, validates it against
/// its config, warms it, and keeps watching the folder so versions added, changed or removed take effect without a
/// restart. Lookups read an immutable snapshot, so the request path takes no lock and allocates nothing.
/// </summary>
public sealed partial class ModelRepository : IAsyncDisposable
{
    private readonly ModelRepositoryOptions _options;
    private readonly IModelBackend _backend;
    private readonly Func<ModelVersion, CancellationToken, Task>? _warmUp;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly BatcherMetrics? _metrics;
    private readonly SemaphoreSlim _scanLock = new(1, 1);
    private readonly HashSet<string> _missingModelFiles = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _draining = [];
    private volatile FrozenDictionary<string, ServedModel> _models = FrozenDictionary<string, ServedModel>.Empty;
    private Dictionary<string, string> _errors = new(StringComparer.Ordinal);

    // Files that failed to load (or warm), by path, with the file and config times they failed with: not tried again,
    // nor logged again, until one of them changes. A bad 20 MB model would otherwise be parsed and logged every poll.
    private Dictionary<string, FailedLoad> _failedLoads = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _initialScan = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _pollLoop;
    private volatile bool _initialScanDone;
    private int _disposed;

    /// <summary>Creates the repository; call <see cref="StartAsync"/> to load.</summary>
    public ModelRepository(
        ModelRepositoryOptions options,
        IModelBackend backend,
        ILoggerFactory loggerFactory,
        TimeProvider? timeProvider = null,
        BatcherMetrics? metrics = null,
        Func<ModelVersion, CancellationToken, Task>? warmUp = null)
    {
        _options = options;
        _backend = backend;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ModelRepository>();
        _time = timeProvider ?? TimeProvider.System;
        _metrics = metrics;
        _warmUp = warmUp;
    }

    /// <summary>Raised after a scan that changed which versions are served.</summary>
    public event Action? Changed;

    /// <summary>Served models by name.</summary>
    public IReadOnlyDictionary<string, ServedModel> Models => _models;

    /// <summary>Completes when the first scan has finished (whether or not it loaded anything).</summary>
    public Task InitialScanCompleted => _initialScan.Task;

    /// <summary>Problems from the last scan, keyed by the file or folder they concern.</summary>
    public IReadOnlyDictionary<string, string> Errors => _errors;

    /// <summary>True once the first scan finished and every model folder serves at least one version.</summary>
    public bool IsReady
    {
        get
        {
            if (!_initialScanDone || _models.Count == 0)
            {
                return false;
            }

            foreach (var model in _models.Values)
            {
                if (model.Latest is null && model.RemoteVersionArray.Length == 0)
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>Finds a version declared remote in the model's config.json.</summary>
    public bool TryGetRemoteVersion(string model, string version, out RemoteVersion? result)
    {
        result = null;
        if (!_models.TryGetValue(model, out var served))
        {
            return false;
        }

        var remotes = served.RemoteVersionArray;
        for (var i = 0; i < remotes.Length; i++)
        {
            if (remotes[i].Version == version)
            {
                result = remotes[i];
                return true;
            }
        }

        return false;
    }

    /// <summary>Finds a ready version; an empty or null <paramref name="version"/> means the latest.</summary>
    public bool TryGetVersion(string model, string? version, out ModelVersion? result)
    {
        result = null;
        if (!_models.TryGetValue(model, out var served))
        {
            return false;
        }

        if (string.IsNullOrEmpty(version))
        {
            result = served.Latest;
            return result is not null;
        }

        // Index loop over the array: foreach on the interface would allocate an enumerator per request.
        var versions = served.VersionArray;
        for (var i = 0; i < versions.Length; i++)
        {
            if (versions[i].Version == version)
            {
                result = versions[i];
                return true;
            }
        }

        return false;
    }

    /// <summary>Loads the repository once, then starts watching it.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(_options.Path))
        {
            throw new DirectoryNotFoundException($"Model repository '{Path.GetFullPath(_options.Path)}' does not exist.");
        }

        try
        {
            await ScanAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _initialScanDone = true;
            _initialScan.TrySetResult();
        }

        if (_options.PollInterval > TimeSpan.Zero)
        {
            _pollLoop = PollAsync(_stopping.Token);
        }
    }

    /// <summary>Rescans the folder now: loads new and changed versions, drains removed ones, and says what it did.</summary>
    public async Task<ModelScanReport> ScanAsync(CancellationToken cancellationToken)
    {
        await _scanLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var scan = ScanCore(cancellationToken);
            foreach (var version in scan.Added)
            {
                await WarmUpAsync(version, scan, cancellationToken).ConfigureAwait(false);
            }

            return Publish(scan);
        }
        finally
        {
            _scanLock.Release();
        }
    }

    private async Task WarmUpAsync(ModelVersion version, ScanResult scan, CancellationToken cancellationToken)
    {
        try
        {
            if (_options.WarmUp && _warmUp is not null)
            {
                await _warmUp(version, cancellationToken).ConfigureAwait(false);
            }

            version.MarkReady();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.WarmUpFailed(_logger, version.Name, version.Version, ex.Message);
            scan.WarmUpFailures.Add(version);
        }
    }

    private sealed class ScanResult
    {
        public Dictionary<string, List<ModelVersion>> Versions { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, (ModelConfig Config, DateTime FileTime)> Configs { get; } = new(StringComparer.Ordinal);

        public List<ModelVersion> Added { get; } = [];

        public List<ModelVersion> Removed { get; } = [];

        public List<ModelVersion> WarmUpFailures { get; } = [];

        public Dictionary<string, string> Errors { get; } = new(StringComparer.Ordinal);

        /// <summary>Loads tried in this scan that failed, by path (the report's <see cref="ModelScanReport.Failed"/>).</summary>
        public Dictionary<string, string> Failed { get; } = new(StringComparer.Ordinal);

        /// <summary>The failed loads standing after this scan: those carried over unchanged, and this scan's.</summary>
        public Dictionary<string, FailedLoad> FailedLoads { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>A file that failed to load: the times it failed with, and the error.</summary>
    private readonly record struct FailedLoad(DateTime FileTime, DateTime ConfigTime, string Message);

    private ScanResult ScanCore(CancellationToken cancellationToken)
    {
        var scan = new ScanResult();
        var errors = scan.Errors;
        var current = _models;
        var next = scan.Versions;

        foreach (var modelDir in Directory.EnumerateDirectories(_options.Path).Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var name = Path.GetFileName(modelDir);
            var configPath = Path.Combine(modelDir, "config.json");
            if (!File.Exists(configPath))
            {
                continue; // Not a model folder (e.g. data/).
            }

            current.TryGetValue(name, out var existing);
            ModelConfig config;
            DateTime configTime = File.GetLastWriteTimeUtc(configPath);
            try
            {
                config = ApplyOverrides(ModelConfig.Load(configPath));
                if (config.Name != name)
                {
                    throw new ModelConfigException(configPath, [$"name '{config.Name}' does not match folder '{name}'"]);
                }
            }
            catch (ModelConfigException ex)
            {
                errors[configPath] = ex.Message;
                if (!_failedLoads.TryGetValue(configPath, out var known) || known.ConfigTime != configTime)
                {
                    Log.ConfigInvalid(_logger, configPath, ex.Message);
                    scan.Failed[configPath] = ex.Message;
                }

                scan.FailedLoads[configPath] = new FailedLoad(configTime, configTime, ex.Message);
                if (existing is not null)
                {
                    next[name] = [.. existing.Versions]; // Keep serving what was loaded.
                    scan.Configs[name] = (existing.Config, existing.ConfigFileTime);
                }

                continue;
            }

            var configChanged = existing is not null && existing.ConfigFileTime != configTime;
            scan.Configs[name] = (config, configTime);
            var versions = new List<ModelVersion>();
            foreach (var versionDir in Directory.EnumerateDirectories(modelDir))
            {
                var version = Path.GetFileName(versionDir);
                if (!long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < 1)
                {
                    continue;
                }

                if (config.Versions.TryGetValue(version, out var declared) && declared.Remote is not null)
                {
                    continue; // Declared remote: a folder of the same number is not loaded.
                }

                var modelPath = Path.Combine(versionDir, "model.onnx");
                if (!File.Exists(modelPath))
                {
                    // Said once per folder: a model whose only versions lack their file otherwise sits at "loading"
                    // with nothing in the log (a generated model not generated yet, a copy under way).
                    if (_missingModelFiles.Add(versionDir))
                    {
                        Log.ModelFileMissing(_logger, name, version, modelPath);
                    }

                    continue;
                }

                _missingModelFiles.Remove(versionDir);

                var fileTime = File.GetLastWriteTimeUtc(modelPath);
                ModelVersion? loaded = null;
                if (existing is not null)
                {
                    foreach (var candidate in existing.Versions)
                    {
                        if (candidate.Version == version)
                        {
                            loaded = candidate;
                            break;
                        }
                    }
                }

                if (loaded is not null && !configChanged && loaded.ModelFileTime == fileTime)
                {
                    versions.Add(loaded);
                    continue;
                }

                if (_failedLoads.TryGetValue(modelPath, out var failed) && failed.FileTime == fileTime && failed.ConfigTime == configTime)
                {
                    // Failed with these very files before: report it again, do not load (nor log) it again.
                    errors[modelPath] = failed.Message;
                    scan.FailedLoads[modelPath] = failed;
                    if (loaded is not null)
                    {
                        versions.Add(loaded);
                    }

                    continue;
                }

                var fresh = TryLoad(config, version, modelPath, fileTime, errors);
                if (fresh is null)
                {
                    scan.Failed[modelPath] = errors[modelPath];
                    scan.FailedLoads[modelPath] = new FailedLoad(fileTime, configTime, errors[modelPath]);
                }

                if (fresh is not null)
                {
                    versions.Add(fresh);
                    scan.Added.Add(fresh);
                }
                else if (loaded is not null)
                {
                    versions.Add(loaded); // The new file is bad: keep serving the old one.
                }
            }

            versions.Sort(static (a, b) => a.VersionNumber.CompareTo(b.VersionNumber));
            next[name] = versions;
        }

        // Anything served before and absent (or replaced) now is drained.
        foreach (var (name, served) in current)
        {
            next.TryGetValue(name, out var kept);
            foreach (var version in served.Versions)
            {
                if (kept is null || !kept.Contains(version))
                {
                    scan.Removed.Add(version);
                }
            }
        }

        return scan;
    }

    private ModelScanReport Publish(ScanResult scan)
    {
        var added = scan.Added;
        var removed = scan.Removed;
        foreach (var failed in scan.WarmUpFailures)
        {
            var message = $"{failed.ModelPath}: warm-up inference failed";
            scan.Errors[failed.ModelPath] = message;
            scan.Failed[failed.ModelPath] = message;
            scan.FailedLoads[failed.ModelPath] = new FailedLoad(failed.ModelFileTime, scan.Configs[failed.Name].FileTime, message);
            foreach (var list in scan.Versions.Values)
            {
                list.Remove(failed);
            }

            removed.Add(failed);
        }

        var snapshot = new Dictionary<string, ServedModel>(StringComparer.Ordinal);
        foreach (var (name, versions) in scan.Versions)
        {
            var ready = new List<ModelVersion>(versions.Count);
            foreach (var version in versions)
            {
                if (version.State == ModelVersionState.Ready)
                {
                    ready.Add(version);
                }
            }

            var (config, configTime) = scan.Configs[name];
            snapshot[name] = new ServedModel(name, config, configTime, [.. ready], RemoteVersionsOf(config));
        }

        var previous = _models;
        var remotesChanged = RemoteSignature(_models.Values) != RemoteSignature(snapshot.Values);
        _models = snapshot.ToFrozenDictionary(StringComparer.Ordinal);
        _errors = scan.Errors;
        _failedLoads = scan.FailedLoads;
        foreach (var version in added)
        {
            if (version.State == ModelVersionState.Ready)
            {
                Log.VersionLoaded(_logger, version.Name, version.Version, version.Model.ExecutionProvider, version.ModelPath);
            }
        }

        foreach (var version in removed)
        {
            Log.VersionDraining(_logger, version.Name, version.Version, version.ActiveLeases);
            lock (_draining)
            {
                _draining.RemoveAll(static t => t.IsCompleted);
                _draining.Add(DrainAndReleaseAsync(version));
            }
        }

        if (added.Count > 0 || removed.Count > 0 || remotesChanged)
        {
            Changed?.Invoke();
        }

        return Report(scan, previous);
    }

    /// <summary>The scan's changes by version name: a version both added and removed was reloaded.</summary>
    private ModelScanReport Report(ScanResult scan, FrozenDictionary<string, ServedModel> previous)
    {
        var loaded = new List<string>();
        var reloaded = new List<string>();
        var unloaded = new List<string>();
        var serving = 0;
        foreach (var model in _models.Values)
        {
            serving += model.Versions.Count;
            foreach (var version in model.Versions)
            {
                if (scan.Added.Contains(version))
                {
                    var wasServed = previous.TryGetValue(version.Name, out var before) && ServedVersion(before, version.Version);
                    (wasServed ? reloaded : loaded).Add(version.ToString());
                }
            }
        }

        foreach (var version in scan.Removed)
        {
            // A removed version that failed its warm-up was never served; one replaced by a new load is "reloaded".
            var replaced = _models.TryGetValue(version.Name, out var now) && ServedVersion(now, version.Version);
            var wasServed = previous.TryGetValue(version.Name, out var before) && before.Versions.Contains(version);
            if (wasServed && !replaced)
            {
                unloaded.Add(version.ToString());
            }
        }

        return new ModelScanReport(loaded, reloaded, unloaded, scan.Failed, scan.Errors, serving);
    }

    private static bool ServedVersion(ServedModel model, string version)
    {
        foreach (var served in model.Versions)
        {
            if (served.Version == version)
            {
                return true;
            }
        }

        return false;
    }

    private static RemoteVersion[] RemoteVersionsOf(ModelConfig config)
    {
        var remotes = new List<RemoteVersion>();
        foreach (var (version, versionConfig) in config.Versions)
        {
            if (versionConfig.Remote is not null)
            {
                remotes.Add(new RemoteVersion(config.Name, version, versionConfig));
            }
        }

        remotes.Sort(static (a, b) => a.VersionNumber.CompareTo(b.VersionNumber));
        return [.. remotes];
    }

    /// <summary>Every remote declaration, as text, to tell whether a scan changed any (config files are re-read each scan).</summary>
    private static string RemoteSignature(IEnumerable<ServedModel> models)
    {
        var parts = new List<string>();
        foreach (var model in models)
        {
            foreach (var remote in model.RemoteVersionArray)
            {
                var r = remote.Remote;
                parts.Add(string.Join('|', model.Name, remote.Version, remote.RemoteModel, remote.RemoteVersionName, string.Join(',', r.Endpoints), r.LoadBalancing,
                    r.HealthCheckIntervalMs.ToString(CultureInfo.InvariantCulture), r.HealthCheckTimeoutMs.ToString(CultureInfo.InvariantCulture), r.UnhealthyAfter.ToString(CultureInfo.InvariantCulture)));
            }
        }

        parts.Sort(StringComparer.Ordinal);
        return string.Join('\n', parts);
    }

    private async Task DrainAndReleaseAsync(ModelVersion version)
    {
        var drained = version.BeginDrain();
        var finished = await Task.WhenAny(drained, Task.Delay(_options.DrainTimeout, _time)).ConfigureAwait(false);
        if (finished != drained)
        {
            Log.DrainTimedOut(_logger, version.Name, version.Version, version.ActiveLeases);
        }

        try
        {
            await version.ReleaseResourcesAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.ReleaseFailed(_logger, version.Name, version.Version, ex.Message);
        }

        Log.VersionUnloaded(_logger, version.Name, version.Version);
    }

    private ModelVersion? TryLoad(ModelConfig config, string version, string modelPath, DateTime fileTime, Dictionary<string, string> errors)
    {
        var versionConfig = config.ForVersion(version);
        if (versionConfig is null)
        {
            errors[modelPath] = $"{modelPath}: version {version} has no entry in config.json versions and there is no default_version";
            Log.LoadFailed(_logger, config.Name, version, errors[modelPath]);
            return null;
        }

        ILoadedModel? model = null;
        try
        {
            model = _backend.Load(config.Name, version, modelPath, config);
            var mismatches = ModelConfigValidator.Compare(versionConfig, model);
            if (mismatches.Count > 0)
            {
                throw new ModelConfigException(modelPath, mismatches);
            }

            var inputs = ToSpecs(versionConfig.Inputs, config.MaxBatchSize > 0);
            var outputs = ToSpecs(versionConfig.Outputs, config.MaxBatchSize > 0);
            var batching = ToBatchingOptions(config);
            var loadedModel = model;
            var batcher = new DynamicBatcher(
                config.Name,
                version,
                batching,
                inputs,
                outputs,
                instance => loadedModel.CreateRunner(instance, inputs, outputs),
                _time,
                _loggerFactory.CreateLogger<DynamicBatcher>(),
                _metrics);
            return new ModelVersion(config, version, versionConfig, modelPath, fileTime, model, batcher, inputs, outputs);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            model?.Dispose();
            var message = ex is ModelConfigException ? ex.Message : $"{modelPath}: {ex.Message}";
            errors[modelPath] = message;
            Log.LoadFailed(_logger, config.Name, version, message);
            return null;
        }
    }

    private ModelConfig ApplyOverrides(ModelConfig config) =>
        ApplyOverrides(config, _options.Models.GetValueOrDefault(config.Name));

    /// <summary>Applies <c>Gateway:Models:&lt;name&gt;</c> values over a config read from its file (null: none).</summary>
    internal static ModelConfig ApplyOverrides(ModelConfig config, ModelOverrides? overrides)
    {
        if (overrides is null)
        {
            return config;
        }

        config.MaxBatchSize = overrides.MaxBatchSize ?? config.MaxBatchSize;
        config.InstanceCount = overrides.InstanceCount ?? config.InstanceCount;

        // A config without a dynamic_batching section batches without waiting (ToBatchingOptions); the section made
        // here to hold the overrides keeps that (the class defaults are those of a section written without the key).
        var batching = config.DynamicBatching ??= new DynamicBatchingConfig { MaxQueueDelayMicroseconds = 0, MaxQueueSize = NoSectionMaxQueueSize };
        batching.Policy = overrides.BatchingPolicy ?? batching.Policy;
        batching.MaxQueueDelayMicroseconds = overrides.MaxQueueDelayMicroseconds ?? batching.MaxQueueDelayMicroseconds;
        batching.AdaptiveWaitMicroseconds = overrides.AdaptiveWaitMicroseconds ?? batching.AdaptiveWaitMicroseconds;
        batching.MaxQueueSize = overrides.MaxQueueSize ?? batching.MaxQueueSize;
        batching.MaxQueueTimeMicroseconds = overrides.MaxQueueTimeMicroseconds ?? batching.MaxQueueTimeMicroseconds;
        batching.PreferredBatchSize = overrides.PreferredBatchSize ?? batching.PreferredBatchSize;
        batching.RunOnCallerWhenIdle = overrides.RunOnCallerWhenIdle ?? batching.RunOnCallerWhenIdle;
        if (overrides.MaxBatchSize is { } max)
        {
            // Preferred sizes above the new maximum no longer apply.
            batching.PreferredBatchSize = Array.FindAll(batching.PreferredBatchSize, size => size <= max);
        }

        return config;
    }

    private const int NoSectionMaxQueueSize = 1024;

    /// <summary>Maps a model config onto the batcher's options (Triton semantics, adaptive policy unless told otherwise).</summary>
    public static BatchingOptions ToBatchingOptions(ModelConfig config)
    {
        var batching = config.DynamicBatching;
        return new BatchingOptions
        {
            // No batch dimension: each request runs alone. Without a dynamic_batching section requests keep their own
            // rows (up to max_batch_size) and only what is already queued is coalesced: no waiting for company.
            MaxBatchSize = config.MaxBatchSize <= 0 ? 1 : config.MaxBatchSize,
            Policy = BatchingPolicies.TryParse(batching?.Policy, out var policy) ? policy : BatchingPolicy.Adaptive,
            MaxQueueDelay = TimeSpan.FromMicroseconds(batching?.MaxQueueDelayMicroseconds ?? 0),
            AdaptiveWait = TimeSpan.FromMicroseconds(batching?.AdaptiveWaitMicroseconds ?? 0),
            PreferredBatchSizes = batching?.PreferredBatchSize ?? [],
            MaxQueueSize = batching?.MaxQueueSize ?? NoSectionMaxQueueSize,
            MaxQueueTime = TimeSpan.FromMicroseconds(batching?.MaxQueueTimeMicroseconds ?? DynamicBatchingConfig.DefaultMaxQueueTimeMicroseconds),
            PriorityLevels = batching?.PriorityLevels ?? 1,
            DefaultTimeout = TimeSpan.FromMicroseconds(batching?.DefaultTimeoutMicroseconds ?? 0),
            PreserveOrdering = batching?.PreserveOrdering ?? false,
            InstanceCount = config.InstanceCount,
            RunOnCallerWhenIdle = batching?.RunOnCallerWhenIdle ?? true,
        };
    }

    private static BatchTensorSpec[] ToSpecs(List<TensorConfig> tensors, bool hasBatchDimension)
    {
        var specs = new BatchTensorSpec[tensors.Count];
        for (var i = 0; i < tensors.Count; i++)
        {
            var dims = tensors[i].Dims;
            var start = hasBatchDimension ? 1 : 0;
            var rowShape = new int[dims.Length - start];
            for (var d = start; d < dims.Length; d++)
            {
                rowShape[d - start] = checked((int)dims[d]);
            }

            specs[i] = new BatchTensorSpec(tensors[i].Name, tensors[i].Type.ElementSize(), rowShape);
        }

        return specs;
    }

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.PollInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await ScanAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.ScanFailed(_logger, ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Stops watching, drains every version (queued work runs) and releases the models.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_pollLoop is not null)
        {
            await _pollLoop.ConfigureAwait(false);
        }

        await _scanLock.WaitAsync().ConfigureAwait(false);
        try
        {
            var all = new List<Task>();
            foreach (var model in _models.Values)
            {
                foreach (var version in model.Versions)
                {
                    all.Add(DrainAndReleaseAsync(version));
                }
            }

            _models = FrozenDictionary<string, ServedModel>.Empty;
            lock (_draining)
            {
                all.AddRange(_draining);
            }

            await Task.WhenAll(all).ConfigureAwait(false);
        }
        finally
        {
            _scanLock.Release();
        }

        _stopping.Dispose();
    }
}

/// <summary>A model and its ready versions, ascending by version number.</summary>
public sealed class ServedModel
{
    internal ServedModel(string name, ModelConfig config, DateTime configFileTime, ModelVersion[] versions, RemoteVersion[]? remoteVersions = null)
    {
        Name = name;
        Config = config;
        ConfigFileTime = configFileTime;
        Versions = versions;
        VersionArray = versions;
        Latest = versions.Length > 0 ? versions[^1] : null;
        RemoteVersionArray = remoteVersions ?? [];
        RemoteVersions = RemoteVersionArray;
        var latestRemote = RemoteVersionArray.Length > 0 ? RemoteVersionArray[^1] : null;
        LatestRemote = latestRemote is not null && (Latest is null || latestRemote.VersionNumber > Latest.VersionNumber) ? latestRemote : null;
    }

    /// <summary>Versions declared remote, ascending.</summary>
    public IReadOnlyList<RemoteVersion> RemoteVersions { get; }

    internal RemoteVersion[] RemoteVersionArray { get; }

    /// <summary>The remote version an empty version asks for: set when the highest-numbered version is remote.</summary>
    public RemoteVersion? LatestRemote { get; }

    /// <summary>Logical model name.</summary>
    public string Name { get; }

    /// <summary>The config the versions were loaded with.</summary>
    public ModelConfig Config { get; }

    internal DateTime ConfigFileTime { get; }

    /// <summary>Ready versions, ascending.</summary>
    public IReadOnlyList<ModelVersion> Versions { get; }

    internal ModelVersion[] VersionArray { get; }

    /// <summary>Highest ready version, or null when none is ready.</summary>
    public ModelVersion? Latest { get; }
}
