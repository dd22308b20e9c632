using System.Net;
using InferenceGateway.Core.Models;

namespace InferenceGateway.Server.Hosting;

/// <summary>The gateway's configuration (section <c>Gateway</c>); defaults here are the documented defaults.</summary>
public sealed class GatewayOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Gateway";

    /// <summary>Address both listeners bind to. Loopback unless told otherwise.</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>gRPC port (HTTP/2 cleartext with prior knowledge); 0 picks a free port.</summary>
    public int GrpcPort { get; set; } = 50051;

    /// <summary>Admin HTTP/1.1 port (/healthz, /readyz, /metrics); 0 picks a free port.</summary>
    public int AdminPort { get; set; } = 8080;

    /// <summary>Folder for the gateway's own state (prediction log, feature snapshots).</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>How long SIGTERM waits for in-flight and queued work before the process exits.</summary>
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Model repository location and watching.</summary>
    public ModelRepositoryOptions ModelRepository { get; set; } = new();

    /// <summary>Per-model overrides of config.json values, keyed by model name.</summary>
    public Dictionary<string, ModelOverrides> Models { get; set; } = new(StringComparer.Ordinal);

    /// <summary>ONNX Runtime settings.</summary>
    public OnnxRuntimeSettings OnnxRuntime { get; set; } = new();

    /// <summary>gRPC transport settings.</summary>
    public GrpcSettings Grpc { get; set; } = new();

    /// <summary>Admin endpoint settings.</summary>
    public AdminSettings Admin { get; set; } = new();

    /// <summary>Optional TLS for the gRPC listener.</summary>
    public TlsSettings Tls { get; set; } = new();

    /// <summary>Request rate limit for gRPC calls.</summary>
    public RateLimitSettings RateLimit { get; set; } = new();

    /// <summary>Metrics exposition settings.</summary>
    public MetricsSettings Metrics { get; set; } = new();

    /// <summary>Streaming features: definitions and the engine's state.</summary>
    public FeatureSettings Features { get; set; } = new();

    /// <summary>Experiments (sticky A/B arms, shadows): the experiments file and the shadow lanes' bounds.</summary>
    public Experiments.ExperimentSettings Experiments { get; set; } = new();

    /// <summary>The prediction log: sink, buffer and overflow policy.</summary>
    public Server.PredictionLog.PredictionLogSettings PredictionLog { get; set; } = new();

    /// <summary>The Redis online store replicas share (section <c>Gateway:Redis</c>; used when <c>Features:Store</c> is <c>redis</c>).</summary>
    public ScaleOut.RedisSettings Redis { get; set; } = new();

    /// <summary>Kafka ingestion of the event streams, shared by replicas (section <c>Gateway:Kafka</c>; on when BootstrapServers is set).</summary>
    public ScaleOut.KafkaSettings Kafka { get; set; } = new();

    /// <summary>Every problem with the configuration, all at once (empty when valid).</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if (!IPAddress.TryParse(ListenAddress, out _) && ListenAddress != "localhost" && ListenAddress != "*")
        {
            errors.Add($"Gateway:ListenAddress '{ListenAddress}' is not an IP address, 'localhost' or '*'");
        }

        if (GrpcPort is < 0 or > 65535)
        {
            errors.Add($"Gateway:GrpcPort {GrpcPort} is not a port number");
        }

        if (AdminPort is < 0 or > 65535)
        {
            errors.Add($"Gateway:AdminPort {AdminPort} is not a port number");
        }

        if (GrpcPort != 0 && GrpcPort == AdminPort)
        {
            errors.Add("Gateway:GrpcPort and Gateway:AdminPort must differ");
        }

        if (ShutdownGracePeriod < TimeSpan.Zero)
        {
            errors.Add("Gateway:ShutdownGracePeriod must not be negative");
        }

        ModelRepository.Models = Models;
        errors.AddRange(ModelRepository.Validate());
        OnnxRuntime.Validate(errors);
        Admin.Validate(errors);
        Tls.Validate(errors);
        RateLimit.Validate(errors);
        if (Metrics.MaxSeriesPerMetric < 1)
        {
            errors.Add("Gateway:Metrics:MaxSeriesPerMetric must be at least 1");
        }
        Grpc.Validate(errors);
        Features.Validate(errors);
        Experiments.Validate(errors);
        PredictionLog.Validate(errors, DataDirectory);
        ScaleOut.KafkaSettings.Validate(errors, Features, Redis, Kafka);
        return errors;
    }
}

/// <summary>ONNX Runtime settings (section <c>Gateway:OnnxRuntime</c>).</summary>
public sealed class OnnxRuntimeSettings
{
    /// <summary>
    /// No longer used: ONNX Runtime comes from the build's NuGet package (CPU, or CUDA with <c>-p:OrtFlavor=Gpu</c>).
    /// Kept only so a configuration that still sets it fails validation instead of silently running another build.
    /// </summary>
    public string? LibraryPath { get; set; }

    /// <summary>"Cpu" or "Cuda"; Cuda falls back to CPU with a warning when the provider cannot load.</summary>
    public string ExecutionProvider { get; set; } = "Cpu";

    /// <summary>CUDA device ordinal.</summary>
    public int CudaDeviceId { get; set; }

    /// <summary>Threads ORT uses inside one operator; 0 = one per core (<see cref="Environment.ProcessorCount"/>).</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>Threads ORT uses across operators.</summary>
    public int InterOpThreads { get; set; } = 1;

    /// <summary>
    /// Whether ORT's thread pools spin between runs (ORT's default). Turning it off frees cores on a shared machine
    /// but on this 2-core box it lowered bench_mlp throughput under load (side-by-side runs, see docs/batching.md).
    /// </summary>
    public bool AllowSpinning { get; set; } = true;

    /// <summary>"Disabled", "Basic", "Extended" or "All".</summary>
    public string GraphOptimizationLevel { get; set; } = "All";

    internal void Validate(List<string> errors)
    {
        if (ExecutionProvider is not ("Cpu" or "Cuda"))
        {
            errors.Add($"Gateway:OnnxRuntime:ExecutionProvider '{ExecutionProvider}' must be 'Cpu' or 'Cuda'");
        }

        if (GraphOptimizationLevel is not ("Disabled" or "Basic" or "Extended" or "All"))
        {
            errors.Add($"Gateway:OnnxRuntime:GraphOptimizationLevel '{GraphOptimizationLevel}' must be Disabled, Basic, Extended or All");
        }

        if (IntraOpThreads < 0 || InterOpThreads < 0)
        {
            errors.Add("Gateway:OnnxRuntime thread counts must not be negative");
        }

        if (CudaDeviceId < 0)
        {
            errors.Add("Gateway:OnnxRuntime:CudaDeviceId must not be negative");
        }

        if (!string.IsNullOrEmpty(LibraryPath))
        {
            errors.Add($"Gateway:OnnxRuntime:LibraryPath '{LibraryPath}' is no longer supported: ONNX Runtime comes from the build's package (build with -p:OrtFlavor=Gpu for CUDA)");
        }
    }
}

/// <summary>gRPC transport settings (section <c>Gateway:Grpc</c>).</summary>
public sealed class GrpcSettings
{
    /// <summary>Largest request message accepted, in bytes; larger ones get RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest response message sent, in bytes.</summary>
    public int MaxSendMessageSize { get; set; } = 64 * 1024 * 1024;

    /// <summary>Send exception details to clients (development only).</summary>
    public bool EnableDetailedErrors { get; set; }

    internal void Validate(List<string> errors)
    {
        if (MaxReceiveMessageSize < 1024)
        {
            errors.Add("Gateway:Grpc:MaxReceiveMessageSize must be at least 1024 bytes");
        }

        if (MaxSendMessageSize < 1024)
        {
            errors.Add("Gateway:Grpc:MaxSendMessageSize must be at least 1024 bytes");
        }
    }
}

/// <summary>Admin endpoint settings (section <c>Gateway:Admin</c>).</summary>
public sealed class AdminSettings
{
    /// <summary>Bearer token required by admin mutations (POST /admin/...); empty disables them (403).</summary>
    public string? Token { get; set; }

    internal void Validate(List<string> errors)
    {
        if (!string.IsNullOrEmpty(Token) && Token.Length < 16)
        {
            errors.Add("Gateway:Admin:Token must be at least 16 characters");
        }
    }
}

/// <summary>TLS for the gRPC listener (section <c>Gateway:Tls</c>); off unless a certificate is given.</summary>
public sealed class TlsSettings
{
    /// <summary>PEM certificate file; enables TLS on the gRPC port when set.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>PEM private key file for <see cref="CertificatePath"/>.</summary>
    public string? KeyPath { get; set; }

    /// <summary>True when TLS is configured.</summary>
    public bool Enabled => !string.IsNullOrEmpty(CertificatePath);

    internal void Validate(List<string> errors)
    {
        if (!Enabled)
        {
            if (!string.IsNullOrEmpty(KeyPath))
            {
                errors.Add("Gateway:Tls:KeyPath is set but Gateway:Tls:CertificatePath is not");
            }

            return;
        }

        if (!File.Exists(CertificatePath))
        {
            errors.Add($"Gateway:Tls:CertificatePath '{CertificatePath}' does not exist");
        }

        if (string.IsNullOrEmpty(KeyPath) || !File.Exists(KeyPath))
        {
            errors.Add($"Gateway:Tls:KeyPath '{KeyPath}' does not exist");
        }
    }
}

/// <summary>Token-bucket limit on gRPC calls per second (section <c>Gateway:RateLimit</c>); 0 = unlimited.</summary>
public sealed class RateLimitSettings
{
    /// <summary>Calls admitted per second; beyond it calls get RESOURCE_EXHAUSTED. 0 disables the limit.</summary>
    public int PermitsPerSecond { get; set; }

    /// <summary>Calls admitted at once (the token bucket's size); on average no more than PermitsPerSecond pass.</summary>
    public int Burst { get; set; } = 100;

    internal void Validate(List<string> errors)
    {
        if (PermitsPerSecond < 0)
        {
            errors.Add("Gateway:RateLimit:PermitsPerSecond must not be negative");
        }

        if (Burst < 1)
        {
            errors.Add("Gateway:RateLimit:Burst must be at least 1");
        }
    }
}

/// <summary>Metrics settings (section <c>Gateway:Metrics</c>); OTLP export is configured under <c>Gateway:Metrics:Otlp</c>.</summary>
public sealed class MetricsSettings
{
    /// <summary>Most label sets per metric; further series are dropped and counted.</summary>
    public int MaxSeriesPerMetric { get; set; } = 1000;

    /// <summary>Include process and .NET runtime metrics.</summary>
    public bool IncludeProcessMetrics { get; set; } = true;

    /// <summary>OTLP export (Endpoint, Protocol, ExportIntervalMilliseconds, TimeoutMilliseconds, ServiceName); off without an endpoint.</summary>
    public Dictionary<string, string> Otlp { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>Streaming features (section <c>Gateway:Features</c>): the feature repository and the engine's limits.</summary>
public sealed class FeatureSettings
{
    /// <summary>Feature repository folder (<c>*.json</c> definitions); a relative path is looked up like the model repository's.</summary>
    public string Path { get; set; } = "features";

    /// <summary>Events whose time is further ahead of the clock than this are rejected.</summary>
    public TimeSpan MaxEventTimeAhead { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>History kept beyond each stream's longest window and lateness, for point-in-time lookups further back.</summary>
    public TimeSpan HistoryRetention { get; set; } = TimeSpan.Zero;

    /// <summary>Cap on the estimated state bytes; beyond it least recently used entities are evicted. 0: no cap.</summary>
    public long MaxStateBytes { get; set; } = 1L << 30;

    /// <summary>Cap on the entities held; 0: no cap.</summary>
    public int MaxEntities { get; set; }

    /// <summary>Time between snapshots of the state to the data directory (one is always written at shutdown); 0: only then.</summary>
    public TimeSpan SnapshotInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Time between maintenance passes (trimming, idle eviction, caps).</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Where the per-entity state lives: <c>memory</c> (default: this process, snapshots in the data directory) or
    /// <c>redis</c> (shared by replicas, fed through Kafka: needs <c>Gateway:Redis</c> and <c>Gateway:Kafka</c>).
    /// </summary>
    public string Store { get; set; } = "memory";

    /// <summary>True when the state is in the shared Redis store.</summary>
    public bool UsesRedis => string.Equals(Store, "redis", StringComparison.OrdinalIgnoreCase);

    /// <summary>The engine options these settings give, with the snapshot under <paramref name="dataDirectory"/>.</summary>
    public InferenceGateway.Core.Features.FeatureEngineOptions ToEngineOptions(string dataDirectory) => new()
    {
        MaxEventTimeAhead = MaxEventTimeAhead,
        HistoryRetention = HistoryRetention,
        MaxStateBytes = MaxStateBytes,
        MaxEntities = MaxEntities,
        SnapshotInterval = SnapshotInterval,
        MaintenanceInterval = MaintenanceInterval,
        SnapshotPath = System.IO.Path.Combine(dataDirectory, "features.snapshot"),
    };

    internal void Validate(List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(Path))
        {
            errors.Add("Gateway:Features:Path must not be empty");
        }

        foreach (var error in ToEngineOptions("data").Validate())
        {
            errors.Add("Gateway:Features: " + error);
        }
    }
}
