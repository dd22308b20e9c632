namespace InferenceGateway.Core.Features;

/// <summary>Type of a stream field: a number (float64, optionally fixed-point) or a string.</summary>
public enum FieldType
{
    /// <summary>A finite float64. With <see cref="StreamField.Decimals"/> it is an exact fixed-point number.</summary>
    Number,

    /// <summary>A string, compared by ordinal equality.</summary>
    String,
}

/// <summary>What a windowed aggregation computes over the events of one entity inside its window.</summary>
public enum AggregationFunction
{
    /// <summary>Number of events.</summary>
    Count,

    /// <summary>Sum of a number field (exact in scaled int64 for fixed-point fields).</summary>
    Sum,

    /// <summary>Sum divided by count.</summary>
    Mean,

    /// <summary>Smallest value of a number field.</summary>
    Min,

    /// <summary>Largest value of a number field.</summary>
    Max,

    /// <summary>Value of a number field on the latest event (ties at one millisecond: the one ingested last).</summary>
    Last,

    /// <summary>Seconds from the latest event to the as-of time, <c>(as_of - t_last) / 1000.0</c>.</summary>
    SecondsSinceLast,

    /// <summary>Number of distinct values of a field (exact; strings by ordinal equality).</summary>
    DistinctCount,
}

/// <summary>A part of the request's event time (UTC) used as a request-time feature.</summary>
public enum EventTimePart
{
    /// <summary><c>(t / 3,600,000) % 24</c>: the UTC hour, 0..23.</summary>
    HourOfDay,

    /// <summary><c>(t / 86,400,000 + 4) % 7</c>: the UTC day of the week, 0 = Sunday .. 6 = Saturday.</summary>
    DayOfWeek,

    /// <summary><c>(t / 60,000) % 60</c>: the UTC minute of the hour, 0..59.</summary>
    MinuteOfHour,
}

/// <summary>
/// One event stream: events carry an entity id, an event time (Unix ms) and typed fields. Aggregations keep
/// per-entity state for it.
/// </summary>
public sealed class StreamDefinition
{
    internal StreamDefinition(string name, string entityKey, string eventTimeField, TimeSpan allowedLateness, IReadOnlyList<StreamField> fields, string source)
    {
        Name = name;
        EntityKey = entityKey;
        EventTimeField = eventTimeField;
        AllowedLateness = allowedLateness;
        Fields = fields;
        Source = source;
    }

    /// <summary>Stream name, as events name it (for example <c>transactions</c>).</summary>
    public string Name { get; }

    /// <summary>Name of the entity key (for example <c>card_id</c>): a CSV column, or a request string that picks the entity.</summary>
    public string EntityKey { get; }

    /// <summary>Name of the event-time column in files (Unix milliseconds, for example <c>event_time_unix_ms</c>).</summary>
    public string EventTimeField { get; }

    /// <summary>How far behind the stream's latest event time an event may arrive and still be applied.</summary>
    public TimeSpan AllowedLateness { get; }

    /// <summary>The typed fields of an event, in declaration order.</summary>
    public IReadOnlyList<StreamField> Fields { get; }

    /// <summary>File that declared the stream.</summary>
    public string Source { get; }

    /// <summary>The field named <paramref name="name"/>, or null.</summary>
    public StreamField? FindField(string name)
    {
        for (var i = 0; i < Fields.Count; i++)
        {
            if (Fields[i].Name == name)
            {
                return Fields[i];
            }
        }

        return null;
    }
}

/// <summary>A typed field of a stream's events.</summary>
public sealed class StreamField
{
    internal StreamField(string name, FieldType type, int? decimals, bool required)
    {
        Name = name;
        Type = type;
        Decimals = decimals;
        Required = required;
    }

    /// <summary>Field name, as the event's <c>numbers</c> or <c>strings</c> map keys it.</summary>
    public string Name { get; }

    /// <summary>Number or string.</summary>
    public FieldType Type { get; }

    /// <summary>
    /// For a fixed-point number field, the digits after the decimal point (0..9): values must be the float64 nearest
    /// to a decimal with at most that many digits, and sums are taken exactly in scaled int64. Null for plain floats.
    /// </summary>
    public int? Decimals { get; }

    /// <summary>Whether an event without this field is rejected (true unless declared otherwise).</summary>
    public bool Required { get; }
}

/// <summary>A named feature: one float32 column of a model's input. See the derived types for the kinds.</summary>
public abstract class FeatureDefinition
{
    private protected FeatureDefinition(string name, double? defaultValue, string source)
    {
        Name = name;
        Default = defaultValue;
        Source = source;
    }

    /// <summary>Feature name, as model configs list it.</summary>
    public string Name { get; }

    /// <summary>
    /// Value used when there is nothing to compute from (empty window, missing optional input, non-finite expression
    /// result); the feature is then reported as defaulted. Null only for a request feature whose input is required.
    /// </summary>
    public double? Default { get; }

    /// <summary>File that declared the feature.</summary>
    public string Source { get; }
}

/// <summary>A feature taken from the request: one of its numbers, or a part of its event time.</summary>
public sealed class RequestFeatureDefinition : FeatureDefinition
{
    internal RequestFeatureDefinition(string name, string? input, EventTimePart? eventTimePart, double? defaultValue, string source)
        : base(name, defaultValue, source)
    {
        Input = input;
        EventTimePart = eventTimePart;
    }

    /// <summary>Key of the request's numbers this feature reads, or null for an event-time part.</summary>
    public string? Input { get; }

    /// <summary>Part of the event time this feature is, or null for a request number.</summary>
    public EventTimePart? EventTimePart { get; }
}

/// <summary>A windowed aggregation over one entity's events of one stream, as of the lookup time.</summary>
public sealed class AggregationFeatureDefinition : FeatureDefinition
{
    internal AggregationFeatureDefinition(string name, string stream, AggregationFunction function, string? field, TimeSpan window, double defaultValue, string source)
        : base(name, defaultValue, source)
    {
        Stream = stream;
        Function = function;
        Field = field;
        Window = window;
    }

    /// <summary>Stream whose events are aggregated.</summary>
    public string Stream { get; }

    /// <summary>What is computed.</summary>
    public AggregationFunction Function { get; }

    /// <summary>Field aggregated; null for <see cref="AggregationFunction.Count"/> and <see cref="AggregationFunction.SecondsSinceLast"/>.</summary>
    public string? Field { get; }

    /// <summary>Window length W: events with <c>as_of - W &lt;= t &lt; as_of</c> count (exact to the millisecond).</summary>
    public TimeSpan Window { get; }

    /// <summary>Window in milliseconds.</summary>
    public long WindowMs => (long)Window.TotalMilliseconds;
}

/// <summary>An on-demand feature: an arithmetic expression over other features, computed per request.</summary>
public sealed class ExpressionFeatureDefinition : FeatureDefinition
{
    internal ExpressionFeatureDefinition(string name, string expression, FeatureExpression compiled, double defaultValue, string source)
        : base(name, defaultValue, source)
    {
        Expression = expression;
        Compiled = compiled;
    }

    /// <summary>The expression text, e.g. <c>amount / amount_avg_30d</c>.</summary>
    public string Expression { get; }

    /// <summary>Names of the features the expression reads.</summary>
    public IReadOnlyList<string> References => Compiled.References;

    internal FeatureExpression Compiled { get; }
}
