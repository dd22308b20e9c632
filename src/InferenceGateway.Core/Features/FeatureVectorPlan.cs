using System.Diagnostics;
using InferenceGateway.Core.Features.Internal;

namespace InferenceGateway.Core.Features;

/// <summary>
/// How to fill one model version's input row: compiled once from the version's ordered feature names
/// (<see cref="FeatureEngine.CreatePlan"/>), then <see cref="Assemble(in FeatureRequest, Span{float}, Span{bool}, SharedLookup?)"/> per request writes the float32 values (and a
/// defaulted flag per feature) into the caller's spans. Every name, stream, column and expression slot is resolved at
/// compile time, so assembly only reads state: no allocation, one stripe lock per stream read. Thread-safe.
/// </summary>
public sealed class FeatureVectorPlan
{
    // Plans larger than this take their scratch from the heap (a model with more features than this is not expected).
    private const int StackSlots = 128;

    private readonly FeatureEngine _engine;
    private readonly StreamGroup[] _groups;
    private readonly RequestSpec[] _requests;
    private readonly ExpressionSpec[] _expressions;
    private readonly int[] _outputs;
    private readonly int _slotCount;
    private readonly int _stackDepth;

    internal FeatureVectorPlan(
        FeatureEngine engine,
        string[] names,
        StreamGroup[] groups,
        RequestSpec[] requests,
        ExpressionSpec[] expressions,
        int[] outputs,
        int slotCount)
    {
        _engine = engine;
        FeatureNames = names;
        _groups = groups;
        _requests = requests;
        _expressions = expressions;
        _outputs = outputs;
        _slotCount = slotCount;
        foreach (var expression in expressions)
        {
            _stackDepth = Math.Max(_stackDepth, expression.Expression.StackDepth);
        }

        var inputs = new List<string>();
        foreach (var request in requests)
        {
            if (request.Input is not null && request.Default is null && !inputs.Contains(request.Input))
            {
                inputs.Add(request.Input);
            }
        }

        RequiredInputs = inputs;
        Streams = Array.ConvertAll(groups, g => g.Stream.Name);
    }

    /// <summary>The features written, in order: column i of the row is <c>FeatureNames[i]</c>.</summary>
    public IReadOnlyList<string> FeatureNames { get; }

    /// <summary>Number of values written (the row's width).</summary>
    public int Count => _outputs.Length;

    /// <summary>Request numbers the plan needs that have no default (a request without one fails with their name).</summary>
    public IReadOnlyList<string> RequiredInputs { get; }

    /// <summary>Streams whose state the plan reads (empty for request-time features only).</summary>
    public IReadOnlyList<string> Streams { get; }

    /// <summary>
    /// Computes the features as of <see cref="FeatureRequest.AsOfUnixMs"/> into <paramref name="values"/> (at least
    /// <see cref="Count"/> floats) and, when not empty, <paramref name="defaulted"/>. Each value is computed in float64
    /// and rounded once to float32. On failure (a missing or non-finite request input, no entity id) nothing useful is
    /// written and the result names the input.
    /// </summary>
    public FeatureAssemblyResult Assemble(in FeatureRequest request, Span<float> values, Span<bool> defaulted) =>
        Assemble(request, values, defaulted, null);

    /// <summary>
    /// As <see cref="Assemble(in FeatureRequest, Span{float}, Span{bool})"/>, with the streams' state read from
    /// <paramref name="shared"/> (fetched from a store shared by replicas for this request) instead of this process's
    /// engine when it is not null. When the store was unavailable every aggregation defaults and the result says so.
    /// </summary>
    public FeatureAssemblyResult Assemble(in FeatureRequest request, Span<float> values, Span<bool> defaulted, SharedLookup? shared)
    {
        if (values.Length < _outputs.Length)
        {
            throw new ArgumentException($"values holds {values.Length} floats; the plan writes {_outputs.Length}", nameof(values));
        }

        if (!defaulted.IsEmpty && defaulted.Length < _outputs.Length)
        {
            throw new ArgumentException($"defaulted holds {defaulted.Length} flags; the plan writes {_outputs.Length}", nameof(defaulted));
        }

        var asOf = request.AsOfUnixMs;
        if (asOf <= 0)
        {
            return new FeatureAssemblyResult(FeatureAssemblyError.InvalidAsOf, null, false);
        }

        var started = Stopwatch.GetTimestamp();
        Span<double> slots = _slotCount <= StackSlots ? stackalloc double[_slotCount] : new double[_slotCount];
        Span<bool> slotDefaulted = _slotCount <= StackSlots ? stackalloc bool[_slotCount] : new bool[_slotCount];

        // Request inputs first: a bad request fails before any lock is taken.
        var numbers = request.Numbers;
        foreach (var spec in _requests)
        {
            if (spec.Input is null)
            {
                slots[spec.Slot] = EventTime(spec.Part, asOf);
                slotDefaulted[spec.Slot] = false;
                continue;
            }

            if (numbers is not null && numbers.TryGetValue(spec.Input, out var value))
            {
                if (!double.IsFinite(value))
                {
                    return new FeatureAssemblyResult(FeatureAssemblyError.NonFiniteInput, spec.Input, false);
                }

                slots[spec.Slot] = value;
                slotDefaulted[spec.Slot] = false;
            }
            else if (spec.Default is { } fallback)
            {
                slots[spec.Slot] = fallback;
                slotDefaulted[spec.Slot] = true;
            }
            else
            {
                return new FeatureAssemblyResult(FeatureAssemblyError.MissingInput, spec.Input, false);
            }
        }

        var incomplete = false;
        foreach (var group in _groups)
        {
            var entityId = request.EntityId;
            if (request.Strings is { } strings && strings.TryGetValue(group.EntityKey, out var keyed))
            {
                entityId = keyed;
            }

            if (string.IsNullOrEmpty(entityId))
            {
                return new FeatureAssemblyResult(FeatureAssemblyError.MissingEntityId, group.EntityKey, false);
            }

            incomplete |= shared is null
                ? _engine.ReadAggregations(group.Stream, entityId, asOf, group.Specs, slots, slotDefaulted)
                : shared.ReadAggregations(group.Stream, entityId, asOf, group.Specs, slots, slotDefaulted);
        }

        if (_expressions.Length > 0)
        {
            Span<double> stack = stackalloc double[_stackDepth];
            Span<bool> stackDefaulted = stackalloc bool[_stackDepth];
            foreach (var spec in _expressions)
            {
                var value = spec.Expression.Evaluate(spec.ReferenceSlots, slots, slotDefaulted, stack, stackDefaulted, out var fromDefault);
                if (double.IsFinite(value))
                {
                    slots[spec.Slot] = value;
                    slotDefaulted[spec.Slot] = fromDefault;
                }
                else
                {
                    slots[spec.Slot] = spec.Default;
                    slotDefaulted[spec.Slot] = true;
                }
            }
        }

        // The one rounding to float32.
        for (var i = 0; i < _outputs.Length; i++)
        {
            values[i] = (float)slots[_outputs[i]];
        }

        if (!defaulted.IsEmpty)
        {
            for (var i = 0; i < _outputs.Length; i++)
            {
                defaulted[i] = slotDefaulted[_outputs[i]];
            }
        }

        _engine.RecordLookup(started);
        return new FeatureAssemblyResult(FeatureAssemblyError.None, null, incomplete, shared is { StoreUnavailable: true } && _groups.Length > 0);
    }

    /// <summary>Integer parts of the UTC event time, as models/README.md defines hour_of_day.</summary>
    internal static double EventTime(EventTimePart? part, long t) => part switch
    {
        EventTimePart.HourOfDay => (t / 3_600_000) % 24,
        EventTimePart.DayOfWeek => ((t / 86_400_000) + 4) % 7,
        _ => (t / 60_000) % 60,
    };

    internal sealed class StreamGroup(StreamRuntime stream, AggregationSpec[] specs)
    {
        public StreamRuntime Stream { get; } = stream;

        public string EntityKey { get; } = stream.Definition.EntityKey;

        public AggregationSpec[] Specs { get; } = specs;
    }

    internal readonly record struct RequestSpec(int Slot, string? Input, EventTimePart? Part, double? Default);

    internal sealed class ExpressionSpec(int slot, FeatureExpression expression, int[] referenceSlots, double defaultValue)
    {
        public int Slot { get; } = slot;

        public FeatureExpression Expression { get; } = expression;

        public int[] ReferenceSlots { get; } = referenceSlots;

        public double Default { get; } = defaultValue;
    }
}

/// <summary>Feature names a plan asked for that the repository does not define; <see cref="Names"/> lists them all.</summary>
public sealed class UnknownFeatureException : Exception
{
    /// <summary>Creates the exception for the unknown names.</summary>
    public UnknownFeatureException(IReadOnlyList<string> names)
        : base($"Unknown feature(s): {string.Join(", ", names)}")
    {
        Names = names;
    }

    /// <summary>Creates the exception with no names.</summary>
    public UnknownFeatureException()
        : this(Array.Empty<string>())
    {
    }

    /// <summary>Creates the exception for one unknown name.</summary>
    public UnknownFeatureException(string message)
        : base(message)
    {
        Names = [];
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public UnknownFeatureException(string message, Exception innerException)
        : base(message, innerException)
    {
        Names = [];
    }

    /// <summary>Every unknown name, in the order asked.</summary>
    public IReadOnlyList<string> Names { get; }
}
