namespace InferenceGateway.Core.Models;

/// <summary>What one scan of the model repository changed (<see cref="ModelRepository.ScanAsync"/>).</summary>
public sealed class ModelScanReport
{
    internal ModelScanReport(
        IReadOnlyList<string> loaded,
        IReadOnlyList<string> reloaded,
        IReadOnlyList<string> unloaded,
        IReadOnlyDictionary<string, string> failed,
        IReadOnlyDictionary<string, string> errors,
        int serving)
    {
        Loaded = loaded;
        Reloaded = reloaded;
        Unloaded = unloaded;
        Failed = failed;
        Errors = errors;
        Serving = serving;
    }

    /// <summary>Versions served for the first time, as <c>model:version</c>.</summary>
    public IReadOnlyList<string> Loaded { get; }

    /// <summary>Versions whose new file or config replaced the one served (the old one drains), as <c>model:version</c>.</summary>
    public IReadOnlyList<string> Reloaded { get; }

    /// <summary>Versions no longer served (folder removed, or their model gone), draining, as <c>model:version</c>.</summary>
    public IReadOnlyList<string> Unloaded { get; }

    /// <summary>
    /// Files this scan tried and failed to load (or warm), with the error, keyed by path. A file that failed before and
    /// has not changed since is not tried again: it is only in <see cref="Errors"/>.
    /// </summary>
    public IReadOnlyDictionary<string, string> Failed { get; }

    /// <summary>Every problem standing after the scan, keyed by the file or folder it concerns (<see cref="ModelRepository.Errors"/>).</summary>
    public IReadOnlyDictionary<string, string> Errors { get; }

    /// <summary>Versions served after the scan, all models together.</summary>
    public int Serving { get; }

    /// <summary>True when the scan changed what is served.</summary>
    public bool Changed => Loaded.Count > 0 || Reloaded.Count > 0 || Unloaded.Count > 0;
}
