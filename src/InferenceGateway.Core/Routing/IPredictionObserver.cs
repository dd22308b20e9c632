namespace InferenceGateway.Core.Routing;

/// <summary>Which surface a prediction came through.</summary>
public enum PredictionSurface
{
    /// <summary><c>gateway.v1.Gateway/Predict</c> and <c>PredictStream</c>.</summary>
    Predict,

    /// <summary><c>inference.GRPCInferenceService/ModelInfer</c>.</summary>
    ModelInfer,
}

/// <summary>
/// Receives every finished prediction, primary and shadow, with its version and arm: the seam where the prediction log
/// (issue 23) records them. The default (<see cref="NullPredictionObserver"/>) records nothing.
/// </summary>
/// <remarks>
/// Called on the request path for primaries (after the answer is computed, before it is written) and on a shadow
/// lane's thread for shadows, so an implementation must copy what it keeps into its own buffer and return at once:
/// the record's spans are only valid during the call. Implementations must not throw.
/// </remarks>
public interface IPredictionObserver
{
    /// <summary>False to have callers skip building records at all (the default's, so the hot path pays nothing).</summary>
    bool IsEnabled { get; }

    /// <summary>One finished prediction.</summary>
    void OnPrediction(in PredictionRecord record);
}

/// <summary>The default observer: records nothing, and says so through <see cref="IsEnabled"/>.</summary>
public sealed class NullPredictionObserver : IPredictionObserver
{
    /// <summary>The shared instance.</summary>
    public static NullPredictionObserver Instance { get; } = new();

    /// <inheritdoc />
    public bool IsEnabled => false;

    /// <inheritdoc />
    public void OnPrediction(in PredictionRecord record)
    {
    }
}

/// <summary>One finished prediction as the prediction log records it. Spans are valid only during the observer's call.</summary>
public readonly ref struct PredictionRecord
{
    /// <summary>True for a shadow's answer (never returned to the caller).</summary>
    public bool Shadow { get; init; }

    /// <summary>Where the request came in.</summary>
    public PredictionSurface Surface { get; init; }

    /// <summary>The caller's request id (Predict generates one when empty; ModelInfer's <c>id</c> may be empty).</summary>
    public ReadOnlySpan<char> RequestId { get; init; }

    /// <summary>The request's time in Unix milliseconds: Predict's event time, or when a ModelInfer call was received.</summary>
    public long TimeUnixMs { get; init; }

    /// <summary>The logical model.</summary>
    public string Model { get; init; }

    /// <summary>The version that answered: the primary's, or the shadow's (for a remote shadow, the version asked of it).</summary>
    public string Version { get; init; }

    /// <summary>The primary's arm ("" without an experiment, "pinned" when the request named its version); for a shadow, the arm of the request it copied.</summary>
    public string Arm { get; init; }

    /// <summary>For a shadow, its target (<see cref="ShadowTarget.Label"/>); null for a primary.</summary>
    public string? ShadowTarget { get; init; }

    /// <summary>The sticky entity key (Predict's <c>entity_id</c>); empty when the request had none.</summary>
    public ReadOnlySpan<char> EntityId { get; init; }

    /// <summary>Names of the features used, in the version's input order (Predict); empty for ModelInfer.</summary>
    public ReadOnlySpan<string> FeatureNames { get; init; }

    /// <summary>The feature values used, aligned with <see cref="FeatureNames"/>.</summary>
    public ReadOnlySpan<float> FeatureValues { get; init; }

    /// <summary>The first output as FP32 values (Predict's scores); empty when it failed or is of another type.</summary>
    public ReadOnlySpan<float> Outputs { get; init; }

    /// <summary>Time from the request's arrival (a shadow: from its copy leaving the queue) to its answer.</summary>
    public TimeSpan Latency { get; init; }

    /// <summary>The gRPC status code (0 = OK).</summary>
    public int StatusCode { get; init; }

    /// <summary>The failure's message; null on success.</summary>
    public string? Error { get; init; }
}
