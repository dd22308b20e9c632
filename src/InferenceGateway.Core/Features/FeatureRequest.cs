namespace InferenceGateway.Core.Features;

/// <summary>
/// The request-time inputs of one vector assembly: whose state to read, as of when, and the request's own values.
/// A struct over the caller's dictionaries (protobuf <c>MapField</c>s implement both interfaces), so building one
/// allocates nothing and the plan reads the values by the names it resolved when it was compiled.
/// </summary>
/// <param name="EntityId">Entity whose windowed state is read (for example the card id); may be null when the plan reads no stream.</param>
/// <param name="AsOfUnixMs">
/// The request's event time in Unix milliseconds (&gt; 0): windows end just before it, and event-time features use it.
/// A caller that accepts 0 as "now" substitutes the clock before calling.
/// </param>
/// <param name="Numbers">Request numbers by name (for example <c>amount</c>, <c>merchant_category</c>).</param>
/// <param name="Strings">
/// Request strings by name (for example <c>merchant_id</c>). A stream whose entity key is one of these names reads the
/// entity named by that string instead of <paramref name="EntityId"/> (a merchant-keyed stream in a card request).
/// </param>
public readonly record struct FeatureRequest(
    string? EntityId,
    long AsOfUnixMs,
    IReadOnlyDictionary<string, double>? Numbers = null,
    IReadOnlyDictionary<string, string>? Strings = null);

/// <summary>Why a vector could not be assembled.</summary>
public enum FeatureAssemblyError
{
    /// <summary>Assembled.</summary>
    None,

    /// <summary>A request number the plan needs (and that has no default) is absent; <see cref="FeatureAssemblyResult.Name"/> names it.</summary>
    MissingInput,

    /// <summary>A request number is NaN or infinite; <see cref="FeatureAssemblyResult.Name"/> names it.</summary>
    NonFiniteInput,

    /// <summary>The plan reads a stream but the request names no entity; <see cref="FeatureAssemblyResult.Name"/> is the stream's entity key.</summary>
    MissingEntityId,

    /// <summary>The as-of time is 0 or negative.</summary>
    InvalidAsOf,
}

/// <summary>
/// The outcome of <see cref="FeatureVectorPlan.Assemble(in FeatureRequest, Span{float}, Span{bool}, SharedLookup?)"/>: success, or the error and the name it concerns (a string
/// the plan already held, so failing allocates nothing either). <c>StoreUnavailable</c>: the shared store could not be
/// read, so every streaming feature is its default (and flagged defaulted).
/// </summary>
public readonly record struct FeatureAssemblyResult(FeatureAssemblyError Error, string? Name, bool HistoryIncomplete, bool StoreUnavailable = false)
{
    /// <summary>True when every value was written.</summary>
    public bool IsSuccess => Error == FeatureAssemblyError.None;

    /// <summary>A sentence naming the field, for an INVALID_ARGUMENT status (allocates).</summary>
    public string Message => Error switch
    {
        FeatureAssemblyError.None => HistoryIncomplete ? "assembled; the as-of time is before the exactly retained history" : "assembled",
        FeatureAssemblyError.MissingInput => $"missing request-time input '{Name}'",
        FeatureAssemblyError.NonFiniteInput => $"request-time input '{Name}' is not a finite number",
        FeatureAssemblyError.MissingEntityId => $"missing entity id (the features read entity '{Name}')",
        _ => "the as-of (event) time must be > 0 Unix milliseconds",
    };
}

/// <summary>One named feature value as a model sees it (float32), and whether it is the feature's default.</summary>
public readonly record struct FeatureValue(string Name, float Value, bool Defaulted);
