using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using InferenceGateway.Core.Routing;

namespace InferenceGateway.Server.Experiments;

/// <summary>
/// The experiments in force and the file that holds them: the file is the configuration (read at start, re-read when
/// edited or when the served versions change), and the admin API changes both at once. An experiment that does not
/// validate is rejected whole with its reasons; the last good one for that model keeps serving.
/// </summary>
internal sealed partial class ExperimentStore : IDisposable
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
    private static readonly JsonSerializerOptions FileWriteOptions = new() { WriteIndented = true };

    private readonly ExperimentRouter _router;
    private readonly IModelCatalog _catalog;
    private readonly TimeSpan _defaultShadowTimeout;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, string> _active = new(StringComparer.Ordinal); // model -> normalized JSON in force
    private readonly Dictionary<string, string> _rejected = new(StringComparer.Ordinal); // model -> why the file's entry is not in force
    private (DateTime Time, long Length) _stamp;

    private readonly ExperimentMetrics _metrics;

    public ExperimentStore(ExperimentRouter router, IModelCatalog catalog, string path, TimeSpan defaultShadowTimeout, ExperimentMetrics metrics, ILogger<ExperimentStore> logger)
    {
        _metrics = metrics;
        _router = router;
        _catalog = catalog;
        FilePath = path;
        _defaultShadowTimeout = defaultShadowTimeout;
        _logger = logger;
    }

    /// <summary>The experiments file.</summary>
    public string FilePath { get; }

    /// <summary>PUT: validates, writes the file, puts the experiment in force; 200 with it, 400 with every reason.</summary>
    public async Task<IResult> PutAsync(string model, Stream body, CancellationToken cancellationToken)
    {
        ExperimentDefinition? definition;
        try
        {
            definition = await JsonSerializer.DeserializeAsync<ExperimentDefinition>(body, ExperimentDefinition.JsonOptions, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            return Invalid([$"invalid JSON: {ex.Message}"]);
        }

        var errors = new List<string>();
        var experiment = ExperimentValidator.Validate(model, definition, _catalog, _defaultShadowTimeout, errors);
        if (experiment is null)
        {
            Log.Rejected(_logger, model, "admin API", string.Join("; ", errors));
            _metrics.Rejected(model, "admin");
            return Invalid(errors);
        }

        var json = Serialize(experiment.Definition);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!TryReadFile(out var file, out var problem))
            {
                return Results.Json(new { error = problem, errors = new[] { problem } }, statusCode: StatusCodes.Status409Conflict);
            }

            file[model] = JsonNode.Parse(json);
            await WriteFileAsync(file, cancellationToken).ConfigureAwait(false);
            Activate(experiment, json, "admin API");
        }
        finally
        {
            _gate.Release();
        }

        return Results.Text(json, "application/json", Encoding.UTF8, StatusCodes.Status200OK);
    }

    /// <summary>GET: 200 with the experiment in force, 404 without one (with the reason when the file's entry was rejected).</summary>
    public IResult Get(string model)
    {
        if (_router.TryGet(model, out var experiment))
        {
            return Results.Text(Serialize(experiment.Definition), "application/json", Encoding.UTF8, StatusCodes.Status200OK);
        }

        lock (_rejected)
        {
            var reason = _rejected.GetValueOrDefault(model);
            return Results.Json(reason is null
                ? new { error = $"no experiment for model '{model}'" }
                : (object)new { error = $"no experiment for model '{model}'", rejected = reason }, statusCode: StatusCodes.Status404NotFound);
        }
    }

    /// <summary>DELETE: ends the experiment (the model goes back to its latest version); 204, or 404 when there was none.</summary>
    public async Task<IResult> DeleteAsync(string model, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var inFile = false;
            if (TryReadFile(out var file, out _) && file.ContainsKey(model))
            {
                file.Remove(model);
                await WriteFileAsync(file, cancellationToken).ConfigureAwait(false);
                inFile = true;
            }

            lock (_rejected)
            {
                _rejected.Remove(model);
            }

            var removed = Deactivate(model, "admin API");
            return removed || inFile ? Results.NoContent() : Results.Json(new { error = $"no experiment for model '{model}'" }, statusCode: StatusCodes.Status404NotFound);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>True when the file's time or length differs from what was last read or written.</summary>
    public bool FileChanged()
    {
        var info = new FileInfo(FilePath);
        var stamp = info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1L);
        return stamp != _stamp;
    }

    /// <summary>Applies the file: every valid entry that differs from what is in force, and ends experiments it no longer lists.</summary>
    public async Task LoadFileAsync(string why, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!TryReadFile(out var file, out var problem))
            {
                Log.FileInvalid(_logger, FilePath, problem);
                return;
            }

            var listed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (model, node) in file)
            {
                listed.Add(model);
                var errors = new List<string>();
                Experiment? experiment = null;
                try
                {
                    var definition = node.Deserialize<ExperimentDefinition>(ExperimentDefinition.JsonOptions);
                    experiment = ExperimentValidator.Validate(model, definition, _catalog, _defaultShadowTimeout, errors);
                }
                catch (JsonException ex)
                {
                    errors.Add($"invalid JSON: {ex.Message}");
                }

                if (experiment is null)
                {
                    var reason = string.Join("; ", errors);
                    lock (_rejected)
                    {
                        if (_rejected.GetValueOrDefault(model) == reason)
                        {
                            continue; // said once already
                        }

                        _rejected[model] = reason;
                    }

                    Log.Rejected(_logger, model, FilePath, reason);
                    _metrics.Rejected(model, "file");
                    continue;
                }

                lock (_rejected)
                {
                    _rejected.Remove(model);
                }

                var json = Serialize(experiment.Definition);
                if (_active.GetValueOrDefault(model) != json)
                {
                    Activate(experiment, json, why);
                }
            }

            foreach (var model in _active.Keys.Where(m => !listed.Contains(m)).ToArray())
            {
                Deactivate(model, why);
            }

            lock (_rejected)
            {
                foreach (var model in _rejected.Keys.Where(m => !listed.Contains(m)).ToArray())
                {
                    _rejected.Remove(model);
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Activate(Experiment experiment, string json, string source)
    {
        _router.Set(experiment);
        _active[experiment.Model] = json;
        Log.Applied(_logger, experiment.Model, source, string.Join(", ", experiment.Arms.Select(a => $"{a.Name}={a.Version}x{a.Weight}")), experiment.Shadows.Count);
    }

    private bool Deactivate(string model, string source)
    {
        _active.Remove(model);
        if (!_router.Remove(model))
        {
            return false;
        }

        Log.Removed(_logger, model, source);
        return true;
    }

    private bool TryReadFile(out JsonObject file, out string problem)
    {
        file = [];
        problem = "";
        var info = new FileInfo(FilePath);
        if (!info.Exists)
        {
            _stamp = (DateTime.MinValue, -1);
            return true;
        }

        try
        {
            var text = File.ReadAllText(FilePath);
            _stamp = (info.LastWriteTimeUtc, info.Length);
            if (string.IsNullOrWhiteSpace(text))
            {
                // Most likely an editor between truncating and writing: an empty file must not end every experiment.
                problem = $"experiments file '{FilePath}' is empty (write {{}} to end every experiment)";
                return false;
            }

            if (JsonNode.Parse(text, documentOptions: DocumentOptions) is JsonObject parsed)
            {
                file = parsed;
                return true;
            }

            problem = $"experiments file '{FilePath}' must hold a JSON object of experiments by model name";
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            problem = $"experiments file '{FilePath}' cannot be read as JSON: {ex.Message}; fix or remove it first";
        }

        return false;
    }

    /// <summary>Writes the whole file next to itself and renames it in place, so a reader never sees half of it.</summary>
    private async Task WriteFileAsync(JsonObject file, CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(FilePath);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var temporary = FilePath + ".tmp";
        await File.WriteAllTextAsync(temporary, file.ToJsonString(FileWriteOptions) + "\n", cancellationToken).ConfigureAwait(false);
        File.Move(temporary, FilePath, overwrite: true);
        var info = new FileInfo(FilePath);
        _stamp = (info.LastWriteTimeUtc, info.Length);
    }

    private static string Serialize(ExperimentDefinition definition) => JsonSerializer.Serialize(definition, ExperimentDefinition.JsonOptions);

    private static IResult Invalid(List<string> errors) =>
        Results.Json(new { error = string.Join("; ", errors), errors }, statusCode: StatusCodes.Status400BadRequest);

    public void Dispose() => _gate.Dispose();

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Experiment for {Model} in force (from {Source}): arms {Arms}, {Shadows} shadow(s)", EventName = "ExperimentApplied")]
        public static partial void Applied(ILogger logger, string model, string source, string arms, int shadows);

        [LoggerMessage(2, LogLevel.Warning, "Experiment for {Model} from {Source} rejected, the last good one keeps serving: {Reason}", EventName = "ExperimentRejected")]
        public static partial void Rejected(ILogger logger, string model, string source, string reason);

        [LoggerMessage(3, LogLevel.Information, "Experiment for {Model} ended (from {Source}); the model serves its latest version", EventName = "ExperimentRemoved")]
        public static partial void Removed(ILogger logger, string model, string source);

        [LoggerMessage(4, LogLevel.Warning, "{Path}: {Problem}; experiments in force are kept", EventName = "ExperimentsFileInvalid")]
        public static partial void FileInvalid(ILogger logger, string path, string problem);
    }
}
