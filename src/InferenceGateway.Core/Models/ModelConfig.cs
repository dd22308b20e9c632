using System.Text.Json;
using System.Text.Json.Serialization;
using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Models;

/// <summary>
/// Per-model configuration, read from <c>models/&lt;name&gt;/config.json</c> (Triton-like: one file per model,
/// with a section per version for what differs between versions: tensors and the feature list).
/// </summary>
public sealed class ModelConfig
{
    /// <summary>Logical model name; must match the folder name.</summary>
    public string Name { get; set; } = "";

    /// <summary>Backend platform; only <c>onnxruntime_onnx</c> is served.</summary>
    public string Platform { get; set; } = "onnxruntime_onnx";

    /// <summary>Largest batch, in rows, the batcher forms. 0 means the model does not batch (no batch dimension).</summary>
    public int MaxBatchSize { get; set; }

    /// <summary>Dynamic batching settings; absent means batching off (each request runs alone).</summary>
    public DynamicBatchingConfig? DynamicBatching { get; set; }

    /// <summary>Number of execution instances (parallel runners) per version.</summary>
    public int InstanceCount { get; set; } = 1;

    /// <summary>
    /// ONNX Runtime intra-op threads per instance (Triton's ORT backend parameter <c>intra_op_thread_count</c>);
    /// absent uses the gateway-wide <c>Gateway:OnnxRuntime:IntraOpThreads</c>. 1 keeps a small model on the calling
    /// thread: no worker thread to wake or to spin after each run.
    /// </summary>
    public int? IntraOpThreads { get; set; }

    /// <summary>
    /// Whether this model's ONNX Runtime thread pools spin while waiting for work (ORT's
    /// <c>session.intra_op.allow_spinning</c> and <c>session.inter_op.allow_spinning</c>); absent uses the gateway-wide
    /// <c>Gateway:OnnxRuntime:AllowSpinning</c>. <c>false</c> for a model with several intra-op threads that runs
    /// rarely, so its idle threads do not burn the cores that the other models and the network work need.
    /// </summary>
    public bool? AllowSpinning { get; set; }

    /// <summary>Per-version tensors and feature lists, keyed by version number.</summary>
    public Dictionary<string, VersionConfig> Versions { get; set; } = [];

    /// <summary>Used for version folders that have no entry in <see cref="Versions"/>.</summary>
    public VersionConfig? DefaultVersion { get; set; }

    /// <summary>JSON options: snake_case names, comments and trailing commas allowed, unknown members rejected.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
    };

    /// <summary>Reads and validates a config file; throws <see cref="ModelConfigException"/> listing every problem.</summary>
    public static ModelConfig Load(string path)
    {
        ModelConfig? config;
        try
        {
            using var stream = File.OpenRead(path);
            config = JsonSerializer.Deserialize<ModelConfig>(stream, JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new ModelConfigException(path, [$"invalid JSON: {ex.Message}"]);
        }
        catch (IOException ex)
        {
            throw new ModelConfigException(path, [$"cannot read: {ex.Message}"]);
        }

        if (config is null)
        {
            throw new ModelConfigException(path, ["file is empty"]);
        }

        var errors = config.Validate();
        if (errors.Count > 0)
        {
            throw new ModelConfigException(path, errors);
        }

        return config;
    }

    /// <summary>Returns every problem with this configuration (empty when valid).</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Name))
        {
            errors.Add("name is required");
        }

        if (Platform != "onnxruntime_onnx")
        {
            errors.Add($"platform '{Platform}' is not supported (expected 'onnxruntime_onnx')");
        }

        if (MaxBatchSize < 0)
        {
            errors.Add($"max_batch_size must be >= 0, was {MaxBatchSize}");
        }

        if (InstanceCount < 1 || InstanceCount > 64)
        {
            errors.Add($"instance_count must be between 1 and 64, was {InstanceCount}");
        }

        if (IntraOpThreads is < 0 or > 256)
        {
            errors.Add($"intra_op_threads must be between 0 and 256, was {IntraOpThreads}");
        }

        DynamicBatching?.Validate(MaxBatchSize, errors);

        foreach (var (version, versionConfig) in Versions)
        {
            if (!long.TryParse(version, out var number) || number < 1)
            {
                errors.Add($"versions: '{version}' is not a positive integer version");
            }

            versionConfig.Validate($"versions.{version}", MaxBatchSize, errors);
        }

        DefaultVersion?.Validate("default_version", MaxBatchSize, errors);
        if (DefaultVersion?.Remote is not null)
        {
            errors.Add("default_version: a remote version is declared under its own number in versions");
        }

        return errors;
    }

    /// <summary>The configuration that applies to a version folder, or null when none does.</summary>
    public VersionConfig? ForVersion(string version) =>
        Versions.TryGetValue(version, out var config) ? config : DefaultVersion;
}

/// <summary>Dynamic batching knobs, named as Triton names them (plus a few of ours, marked so).</summary>
public sealed class DynamicBatchingConfig
{
    /// <summary>
    /// When a batch that is neither full nor of a preferred size is released: <c>adaptive</c> (the default: as soon as
    /// an instance is free to run it) or <c>fixed_delay</c> (Triton's: once its oldest request has waited
    /// <see cref="MaxQueueDelayMicroseconds"/>). See <see cref="Batching.BatchingPolicy"/>. Not a Triton knob.
    /// </summary>
    public string Policy { get; set; } = BatchingPolicies.AdaptiveName;

    /// <summary><c>fixed_delay</c> only: longest a request waits for others to join its batch. <c>adaptive</c> ignores it.</summary>
    public long MaxQueueDelayMicroseconds { get; set; } = 1000;

    /// <summary>
    /// <c>adaptive</c> only, 0 (off) by default: longest an idle instance holds a batch for company while another
    /// instance runs (see <see cref="Batching.BatchingOptions.AdaptiveWait"/>). Not a Triton knob.
    /// </summary>
    public long AdaptiveWaitMicroseconds { get; set; }

    /// <summary>Batch sizes the batcher prefers to release at.</summary>
    public int[] PreferredBatchSize { get; set; } = [];

    /// <summary>Most requests queued per version before new ones are rejected.</summary>
    public int MaxQueueSize { get; set; } = 4096;

    /// <summary>
    /// Longest a request may expect to wait in the queue: one that finds more work queued ahead of it than the model
    /// runs in this time (at its recent cost per row), or than its deadline leaves, is refused at once
    /// (RESOURCE_EXHAUSTED); see <see cref="Batching.BatchingOptions.MaxQueueTime"/>. 0 turns the bound off (only
    /// <see cref="MaxQueueSize"/> applies). Not a Triton knob.
    /// </summary>
    public long MaxQueueTimeMicroseconds { get; set; } = DefaultMaxQueueTimeMicroseconds;

    /// <summary>The default <see cref="MaxQueueTimeMicroseconds"/>, also for models without a dynamic_batching section: 100 ms.</summary>
    public const long DefaultMaxQueueTimeMicroseconds = 100_000;

    /// <summary>Number of priority levels (1 = highest).</summary>
    public int PriorityLevels { get; set; } = 1;

    /// <summary>Queue timeout applied when the caller gives no deadline; 0 means none.</summary>
    public long DefaultTimeoutMicroseconds { get; set; }

    /// <summary>Complete responses in arrival order even with several instances.</summary>
    public bool PreserveOrdering { get; set; }

    /// <summary>
    /// Run a request on the caller's thread when it would be released at once anyway (see
    /// <see cref="Batching.BatchingOptions.RunOnCallerWhenIdle"/>). Not a Triton knob; on by default.
    /// </summary>
    public bool RunOnCallerWhenIdle { get; set; } = true;

    internal void Validate(int maxBatchSize, List<string> errors)
    {
        if (!BatchingPolicies.TryParse(Policy, out _))
        {
            errors.Add($"dynamic_batching.policy '{Policy}' must be '{BatchingPolicies.AdaptiveName}' or '{BatchingPolicies.FixedDelayName}'");
        }

        if (MaxQueueDelayMicroseconds < 0 || MaxQueueDelayMicroseconds > 10_000_000)
        {
            errors.Add($"dynamic_batching.max_queue_delay_microseconds must be between 0 and 10000000, was {MaxQueueDelayMicroseconds}");
        }

        if (AdaptiveWaitMicroseconds < 0 || AdaptiveWaitMicroseconds > 10_000_000)
        {
            errors.Add($"dynamic_batching.adaptive_wait_microseconds must be between 0 and 10000000, was {AdaptiveWaitMicroseconds}");
        }

        foreach (var size in PreferredBatchSize)
        {
            if (size < 1 || (maxBatchSize > 0 && size > maxBatchSize))
            {
                errors.Add($"dynamic_batching.preferred_batch_size {size} must be between 1 and max_batch_size {maxBatchSize}");
            }
        }

        if (MaxQueueSize < 1)
        {
            errors.Add($"dynamic_batching.max_queue_size must be >= 1, was {MaxQueueSize}");
        }

        if (MaxQueueTimeMicroseconds < 0 || MaxQueueTimeMicroseconds > 60_000_000)
        {
            errors.Add($"dynamic_batching.max_queue_time_microseconds must be between 0 and 60000000, was {MaxQueueTimeMicroseconds}");
        }

        if (PriorityLevels < 1 || PriorityLevels > 16)
        {
            errors.Add($"dynamic_batching.priority_levels must be between 1 and 16, was {PriorityLevels}");
        }

        if (DefaultTimeoutMicroseconds < 0)
        {
            errors.Add($"dynamic_batching.default_timeout_microseconds must be >= 0, was {DefaultTimeoutMicroseconds}");
        }
    }
}

/// <summary>What one version of a model takes and gives.</summary>
public sealed class VersionConfig
{
    /// <summary>Input tensors; dims[0] = -1 is the batch dimension when the model batches.</summary>
    public List<TensorConfig> Inputs { get; set; } = [];

    /// <summary>Output tensors.</summary>
    public List<TensorConfig> Outputs { get; set; } = [];

    /// <summary>Names of the features, in input column order, that this version expects (empty for raw-tensor models).</summary>
    public List<string> Features { get; set; } = [];

    /// <summary>Declares the version remote: served by these Open Inference Protocol endpoints, not by a local model file.</summary>
    public RemoteVersionConfig? Remote { get; set; }

    internal void Validate(string where, int maxBatchSize, List<string> errors)
    {
        // A remote version's tensors are the replicas' business; when given they describe it (Predict, metadata).
        Remote?.Validate($"{where}.remote", errors);
        if (Inputs.Count == 0 && Remote is null)
        {
            errors.Add($"{where}.inputs: at least one input is required");
        }

        if (Outputs.Count == 0 && Remote is null)
        {
            errors.Add($"{where}.outputs: at least one output is required");
        }

        ValidateTensors($"{where}.inputs", Inputs, maxBatchSize, errors);
        ValidateTensors($"{where}.outputs", Outputs, maxBatchSize, errors);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var feature in Features)
        {
            if (string.IsNullOrWhiteSpace(feature) || !seen.Add(feature))
            {
                errors.Add($"{where}.features: '{feature}' is empty or repeated");
            }
        }
    }

    private static void ValidateTensors(string where, List<TensorConfig> tensors, int maxBatchSize, List<string> errors)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in tensors)
        {
            if (string.IsNullOrWhiteSpace(tensor.Name) || !names.Add(tensor.Name))
            {
                errors.Add($"{where}: tensor name '{tensor.Name}' is empty or repeated");
            }

            if (TensorDataTypes.Parse(tensor.DataType) == TensorDataType.Unknown)
            {
                errors.Add($"{where}.{tensor.Name}: data_type '{tensor.DataType}' is not one of BOOL, INT32, INT64, FP32, FP64, BYTES");
            }

            if (maxBatchSize > 0 && (tensor.Dims.Length == 0 || tensor.Dims[0] != -1))
            {
                errors.Add($"{where}.{tensor.Name}: dims must start with -1 (the batch dimension) when max_batch_size > 0");
            }

            for (var i = maxBatchSize > 0 ? 1 : 0; i < tensor.Dims.Length; i++)
            {
                if (tensor.Dims[i] < -1 || tensor.Dims[i] == 0)
                {
                    errors.Add($"{where}.{tensor.Name}: dimension {i} is {tensor.Dims[i]}; expected a positive size or -1");
                }
            }
        }
    }
}

/// <summary>One tensor in a model config.</summary>
public sealed class TensorConfig
{
    /// <summary>Tensor name as the ONNX graph declares it.</summary>
    public string Name { get; set; } = "";

    /// <summary>KServe v2 datatype name.</summary>
    public string DataType { get; set; } = "";

    /// <summary>Dimensions; -1 is dynamic.</summary>
    public long[] Dims { get; set; } = [];

    /// <summary>Parsed element type.</summary>
    [JsonIgnore]
    public TensorDataType Type => TensorDataTypes.Parse(DataType);
}

/// <summary>A model config that is unreadable or invalid; the message names the file and every problem.</summary>
public sealed class ModelConfigException : Exception
{
    /// <summary>Creates the exception for <paramref name="path"/> with the problems found.</summary>
    public ModelConfigException(string path, IReadOnlyList<string> errors)
        : base($"{path}: " + string.Join("; ", errors))
    {
        Path = path;
        Errors = errors;
    }

    /// <summary>The config file.</summary>
    public string Path { get; }

    /// <summary>Every problem found.</summary>
    public IReadOnlyList<string> Errors { get; }
}
