using System.Globalization;
using System.Net;
using Google.Protobuf;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.LoadTest.Engine;

namespace InferenceGateway.LoadTest.Targets;

/// <summary>Which request a run sends.</summary>
public enum TargetKind
{
    /// <summary>Open Inference Protocol ModelInfer through our gRPC client library.</summary>
    KServe,

    /// <summary>gateway.v1 Predict through our gRPC client library.</summary>
    Predict,

    /// <summary>Pre-built frames posted over bare HTTP/2 (no gRPC library).</summary>
    Raw,

    /// <summary>gateway.v1 IngestEvents: client-streaming calls of events from a CSV file.</summary>
    Ingest,
}

/// <summary>Which client sends the calls.</summary>
public enum ClientKind
{
    /// <summary>ig-load's own HTTP/2 connections (<see cref="H2GrpcTarget"/>): the cheapest for the client's CPU.</summary>
    H2,

    /// <summary>HttpClient: our gRPC client library for kserve/predict, a bare SocketsHttpHandler for raw.</summary>
    Http,
}

/// <summary>Everything needed to build a target and its pre-serialized requests.</summary>
public sealed record TargetSettings
{
    /// <summary>KServe ModelInfer method path.</summary>
    public const string ModelInferPath = "/inference.GRPCInferenceService/ModelInfer";

    /// <summary>Gateway Predict method path.</summary>
    public const string PredictPath = "/gateway.v1.Gateway/Predict";

    /// <summary>Gateway IngestEvents method path.</summary>
    public const string IngestPath = "/gateway.v1.Gateway/IngestEvents";

    /// <summary>The bundled stream (features/transactions.json).</summary>
    public const string DefaultStream = "transactions";

    /// <summary>Request kind.</summary>
    public TargetKind Kind { get; init; } = TargetKind.KServe;

    /// <summary>Server address, e.g. http://127.0.0.1:50051.</summary>
    public Uri Url { get; init; } = new("http://127.0.0.1:50051");

    /// <summary>Permit a non-loopback address.</summary>
    public bool AllowRemote { get; init; }

    /// <summary>Model name.</summary>
    public string Model { get; init; } = "fraud";

    /// <summary>Model version ("" lets the server choose).</summary>
    public string Version { get; init; } = "1";

    /// <summary>Random tensor shape; null uses the model's test data.</summary>
    public long[]? Shape { get; init; }

    /// <summary>Input name for random tensors.</summary>
    public string InputName { get; init; } = "input";

    /// <summary>Distinct random requests built (cycled).</summary>
    public int Distinct { get; init; } = 16;

    /// <summary>Seed for random tensors.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Explicit test data file; null looks for models/&lt;model&gt;/&lt;version&gt;/test_data.json.</summary>
    public string? DataFile { get; init; }

    /// <summary>Model repository root for test data look-up.</summary>
    public string ModelsDirectory { get; init; } = "models";

    /// <summary>Rows of test data per request.</summary>
    public int RowsPerRequest { get; init; } = 1;

    /// <summary>Tensor encoding.</summary>
    public TensorEncoding Encoding { get; init; } = TensorEncoding.Raw;

    /// <summary>Predict features.</summary>
    public IReadOnlyDictionary<string, double> Features { get; init; } = new Dictionary<string, double>();

    /// <summary>Predict: distinct entity ids (cycled).</summary>
    public int Entities { get; init; } = 64;

    /// <summary>
    /// Ingest (and predict with <see cref="EventsFile"/>): spread the file's rows over this many entity ids
    /// (<c>entity-0</c> ...); 0 keeps the file's own ids.
    /// </summary>
    public int SpreadEntities { get; init; }

    /// <summary>
    /// Events CSV: ingest reads its events from it (null: <c>&lt;models-dir&gt;/data/transactions.csv.gz</c>); predict,
    /// when given, sends one request per row instead of test data rows.
    /// </summary>
    public string? EventsFile { get; init; }

    /// <summary>Entity, event-time and ignored columns of <see cref="EventsFile"/>.</summary>
    public EventColumns EventColumns { get; init; } = new();

    /// <summary>Ingest: the stream the events belong to.</summary>
    public string Stream { get; init; } = DefaultStream;

    /// <summary>Ingest: events per IngestEvents call.</summary>
    public int EventsPerCall { get; init; } = 100;

    /// <summary>
    /// Ingest: times the file is laid out, one pass after the other in event time, so a run that sends up to that many
    /// passes appends to each entity's history (memory: one payload per pass).
    /// </summary>
    public int Passes { get; init; } = 1;

    /// <summary>Ingest: the clock event times are rebased against.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Raw: method path; null derives it from the payload kind.</summary>
    public string? Path { get; init; }

    /// <summary>Raw: a file holding one length-prefixed gRPC frame; null builds a ModelInfer frame.</summary>
    public string? PayloadFile { get; init; }

    /// <summary>Client implementation.</summary>
    public ClientKind Client { get; init; } = ClientKind.H2;

    /// <summary>HTTP/2 connections.</summary>
    public int Connections { get; init; } = 1;

    /// <summary>Per-request limit (gRPC deadline).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>Builds targets and their pre-serialized payloads from <see cref="TargetSettings"/>.</summary>
public static class TargetFactory
{
    /// <summary>Throws unless <paramref name="url"/> is loopback or remote load was explicitly allowed.</summary>
    public static void EnsureAllowed(Uri url, bool allowRemote)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (allowRemote || IsLoopback(url))
        {
            return;
        }

        throw new InvalidOperationException(
            $"refusing to send load to {url.Host}: only 127.0.0.1, ::1 and localhost are allowed without --allow-remote");
    }

    /// <summary>Whether the URL's host is a loopback address or "localhost".</summary>
    public static bool IsLoopback(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (string.Equals(url.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        string host = url.Host.Trim('[', ']');
        return IPAddress.TryParse(host, out IPAddress? ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>Creates the target; payloads are built and serialized here, once.</summary>
    public static ILoadTarget Create(TargetSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        EnsureAllowed(settings.Url, settings.AllowRemote);
        switch (settings.Kind)
        {
            case TargetKind.KServe:
            {
                List<byte[]> messages = InferRequests(settings).ConvertAll(r => r.ToByteArray());
                return Unary(settings, TargetSettings.ModelInferPath, messages, $"kserve ModelInfer {settings.Model}/{settings.Version}");
            }

            case TargetKind.Predict:
            {
                var messages = new List<byte[]>();
                foreach (var r in PredictRequests(settings))
                {
                    messages.Add(r.ToByteArray());
                }

                return Unary(settings, TargetSettings.PredictPath, messages, $"gateway Predict {settings.Model}/{settings.Version}");
            }

            case TargetKind.Raw:
            {
                List<byte[]> frames = settings.PayloadFile is { } file
                    ? [File.ReadAllBytes(file)]
                    : InferRequests(settings).ConvertAll(r => GrpcFrame.Encode(r));
                string path = settings.Path ?? TargetSettings.ModelInferPath;
                return settings.Client == ClientKind.H2
                    ? new H2GrpcTarget(settings.Url, path, frames, settings.Connections, settings.Timeout, "raw frames")
                    : new RawGrpcTarget(settings.Url, path, frames, settings.Connections, settings.Timeout);
            }

            case TargetKind.Ingest:
            {
                IngestCalls calls = IngestCalls(settings, framed: settings.Client == ClientKind.H2);
                string description = string.Create(
                    CultureInfo.InvariantCulture,
                    $"gateway IngestEvents {settings.Stream}: {calls.Count} call(s) of {calls.EventsPerCall} events from {EventsPath(settings)} ({calls.Rows} rows x {calls.Passes} pass(es), {calls.Entities} entities, times rebased to {DateTimeOffset.FromUnixTimeMilliseconds(calls.FirstTime):HH:mm:ss.fff}..{DateTimeOffset.FromUnixTimeMilliseconds(calls.LastTime):HH:mm:ss.fff} UTC)");
                var check = new IngestSummaryCheck(calls.EventsPerCall);
                return settings.Client == ClientKind.H2
                    ? new H2GrpcTarget(settings.Url, TargetSettings.IngestPath, calls.Bodies!, settings.Connections, settings.Timeout, description, check)
                    : new GrpcClientStreamingTarget(settings.Url, TargetSettings.IngestPath, calls.Messages!, settings.Connections, settings.Timeout, description, check);
            }

            default:
                throw new NotSupportedException($"unknown target kind {settings.Kind}");
        }
    }

    /// <summary>The events file the settings name, or the bundled one under the models directory.</summary>
    public static string EventsPath(TargetSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.EventsFile ?? System.IO.Path.Combine(settings.ModelsDirectory, "data", "transactions.csv.gz");
    }

    /// <summary>
    /// The ingest target's calls: <see cref="TargetSettings.EventsPerCall"/> events each from <see cref="EventsPath"/>,
    /// times rebased into the minute before now (<see cref="EventPayloads.BuildIngestCalls"/>), as request bodies
    /// (<paramref name="framed"/>) or as messages.
    /// </summary>
    public static IngestCalls IngestCalls(TargetSettings settings, bool framed)
    {
        ArgumentNullException.ThrowIfNull(settings);
        EventTable table = EventTable.Load(EventsPath(settings), settings.EventColumns);
        return EventPayloads.BuildIngestCalls(
            table, settings.Stream, settings.EventsPerCall, settings.SpreadEntities, settings.Time.GetUtcNow().ToUnixTimeMilliseconds(), settings.Passes, framed);
    }

    private static ILoadTarget Unary(TargetSettings settings, string path, List<byte[]> messages, string description) =>
        settings.Client == ClientKind.H2
            ? new H2GrpcTarget(settings.Url, path, messages.ConvertAll(m => GrpcFrame.Encode(m)), settings.Connections, settings.Timeout, description)
            : new GrpcUnaryTarget(settings.Url, path, messages, settings.Connections, settings.Timeout, description);

    /// <summary>
    /// ModelInfer requests: random tensors when a shape is given, otherwise rows of the model's test data
    /// (<c>models/&lt;model&gt;/&lt;version&gt;/test_data.json</c> or <see cref="TargetSettings.DataFile"/>).
    /// </summary>
    public static List<ModelInferRequest> InferRequests(TargetSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var list = new List<ModelInferRequest>();
        if (settings.Shape is { } shape && settings.DataFile is null)
        {
            foreach (TensorData t in RequestPayloads.RandomTensors(settings.InputName, shape, Math.Max(1, settings.Distinct), settings.Seed))
            {
                list.Add(RequestPayloads.InferRequest(settings.Model, settings.Version, [t], settings.Encoding));
            }

            return list;
        }

        string path = settings.DataFile ?? System.IO.Path.Combine(
            settings.ModelsDirectory, settings.Model, string.IsNullOrEmpty(settings.Version) ? "1" : settings.Version, "test_data.json");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"no test data at {path}: pass --shape (random tensors) or --data FILE", path);
        }

        IReadOnlyList<TensorData> inputs = RequestPayloads.ReadTestData(path);
        foreach (IReadOnlyList<TensorData> tensors in RequestPayloads.SliceRows(inputs, settings.RowsPerRequest))
        {
            list.Add(RequestPayloads.InferRequest(settings.Model, settings.Version, tensors, settings.Encoding));
        }

        return list;
    }

    /// <summary>
    /// Predict requests: the given <see cref="TargetSettings.Features"/> for each entity; or one request per row of
    /// <see cref="TargetSettings.EventsFile"/> when given (<see cref="EventPayloads.PredictRequests"/>: numbers as
    /// features, strings as attributes, the row's entity, event time now); or one request per test data row with
    /// feature names from <c>models/&lt;model&gt;/config.json</c> (<c>versions.&lt;v&gt;.features</c>), entity ids
    /// cycling over <see cref="TargetSettings.Entities"/>.
    /// </summary>
    public static List<Contracts.Gateway.PredictRequest> PredictRequests(TargetSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        int entities = Math.Max(1, settings.Entities);
        if (settings.EventsFile is { } events && settings.Features.Count == 0)
        {
            return EventPayloads.PredictRequests(EventTable.Load(events, settings.EventColumns), settings.Model, settings.Version, settings.SpreadEntities);
        }

        if (settings.Features.Count > 0)
        {
            return [.. RequestPayloads.PredictRequests(settings.Model, settings.Version, settings.Features, entities)];
        }

        string version = string.IsNullOrEmpty(settings.Version) ? "1" : settings.Version;
        string config = System.IO.Path.Combine(settings.ModelsDirectory, settings.Model, "config.json");
        string data = settings.DataFile ?? System.IO.Path.Combine(settings.ModelsDirectory, settings.Model, version, "test_data.json");
        if (!File.Exists(config) || !File.Exists(data))
        {
            throw new InvalidOperationException(
                $"the predict target needs --feature name=value (repeatable), or {config} with feature names and {data}");
        }

        string[] names = ReadFeatureNames(config, version);
        TensorData rows = RequestPayloads.ReadTestData(data)[0];
        if (names.Length != rows.RowLength)
        {
            throw new FormatException($"{config}: {names.Length} feature names but {data} rows have {rows.RowLength} values");
        }

        var list = new List<Contracts.Gateway.PredictRequest>();
        int count = (int)Math.Max(rows.Rows, entities);
        for (int i = 0; i < count; i++)
        {
            long row = i % rows.Rows;
            var features = new Dictionary<string, double>(StringComparer.Ordinal);
            for (int f = 0; f < names.Length; f++)
            {
                features[names[f]] = rows.Data[(row * rows.RowLength) + f];
            }

            var request = RequestPayloads.PredictRequests(settings.Model, settings.Version, features, 1)[0];
            request.EntityId = "entity-" + (i % entities).ToString(CultureInfo.InvariantCulture);
            list.Add(request);
        }

        return list;
    }

    private static string[] ReadFeatureNames(string configPath, string version)
    {
        using System.Text.Json.JsonDocument doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(configPath));
        if (!doc.RootElement.TryGetProperty("versions", out var versions)
            || !versions.TryGetProperty(version, out var v)
            || !v.TryGetProperty("features", out var features)
            || features.GetArrayLength() == 0)
        {
            throw new FormatException($"{configPath}: no versions.{version}.features list");
        }

        var names = new List<string>();
        foreach (var n in features.EnumerateArray())
        {
            names.Add(n.GetString() ?? throw new FormatException($"{configPath}: feature name is not a string"));
        }

        return [.. names];
    }

    /// <summary>Parses "name=value" feature arguments.</summary>
    public static Dictionary<string, double> ParseFeatures(IEnumerable<string> pairs)
    {
        var features = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string pair in pairs)
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !double.TryParse(pair[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            {
                throw new FormatException($"feature '{pair}' is not name=number");
            }

            features[pair[..eq]] = v;
        }

        return features;
    }
}
