using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;

namespace InferenceGateway.Core.Features;

/// <summary>
/// The feature repository: streams and features declared as data in <c>features/*.json</c>. Loading validates every
/// file and the references between them and reports every problem at once, each with its file and JSON path
/// (<see cref="FeatureDefinitionException"/>). Immutable once loaded.
/// </summary>
public sealed class FeatureRepository
{
    /// <summary>Longest window an aggregation may have.</summary>
    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(3650);

    /// <summary>Longest allowed lateness of a stream.</summary>
    public static readonly TimeSpan MaxAllowedLateness = TimeSpan.FromDays(30);

    private readonly FrozenDictionary<string, StreamDefinition> _streams;
    private readonly FrozenDictionary<string, FeatureDefinition> _features;

    private FeatureRepository(List<StreamDefinition> streams, List<FeatureDefinition> features)
    {
        Streams = streams;
        Features = features;
        _streams = streams.ToFrozenDictionary(s => s.Name, StringComparer.Ordinal);
        _features = features.ToFrozenDictionary(f => f.Name, StringComparer.Ordinal);
    }

    /// <summary>Every stream, in file then declaration order.</summary>
    public IReadOnlyList<StreamDefinition> Streams { get; }

    /// <summary>Every feature, in file then declaration order (request features, aggregations, expressions per file).</summary>
    public IReadOnlyList<FeatureDefinition> Features { get; }

    /// <summary>Finds a stream by name.</summary>
    public bool TryGetStream(string name, out StreamDefinition stream) => _streams.TryGetValue(name, out stream!);

    /// <summary>Finds a feature by name.</summary>
    public bool TryGetFeature(string name, out FeatureDefinition feature) => _features.TryGetValue(name, out feature!);

    /// <summary>Loads every <c>*.json</c> file of <paramref name="directory"/> (in ordinal name order).</summary>
    /// <exception cref="FeatureDefinitionException">Listing every problem found, or the folder is missing or empty.</exception>
    public static FeatureRepository LoadDirectory(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new FeatureDefinitionException([$"{directory}: feature repository folder does not exist"]);
        }

        var files = Directory.GetFiles(directory, "*.json");
        Array.Sort(files, StringComparer.Ordinal);
        if (files.Length == 0)
        {
            throw new FeatureDefinitionException([$"{directory}: no *.json feature definition files"]);
        }

        var sources = new List<(string File, string Json)>(files.Length);
        var errors = new List<string>();
        foreach (var file in files)
        {
            try
            {
                sources.Add((file, File.ReadAllText(file)));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                errors.Add($"{file}: cannot read: {ex.Message}");
            }
        }

        return Parse(sources, errors);
    }

    /// <summary>Builds a repository from JSON texts, each named by the file it came from (used in messages).</summary>
    /// <exception cref="FeatureDefinitionException">Listing every problem found.</exception>
    public static FeatureRepository Parse(IEnumerable<(string File, string Json)> sources) => Parse(sources, []);

    private static FeatureRepository Parse(IEnumerable<(string File, string Json)> sources, List<string> errors)
    {
        var loader = new Loader(errors);
        foreach (var (file, json) in sources)
        {
            loader.ParseFile(file, json);
        }

        loader.CheckReferences();
        if (errors.Count > 0)
        {
            throw new FeatureDefinitionException(errors);
        }

        return new FeatureRepository(loader.Streams, loader.Features);
    }

    /// <summary>Parses a duration such as <c>250ms</c>, <c>10s</c>, <c>5m</c>, <c>1h</c> or <c>30d</c>.</summary>
    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        var span = text.AsSpan().Trim();
        var digits = 0;
        while (digits < span.Length && char.IsAsciiDigit(span[digits]))
        {
            digits++;
        }

        if (digits == 0 || !long.TryParse(span[..digits], NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
        {
            return false;
        }

        long unitMs = span[digits..] switch
        {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => 0,
        };
        if (unitMs == 0 || amount > long.MaxValue / unitMs / TimeSpan.TicksPerMillisecond)
        {
            return false;
        }

        duration = TimeSpan.FromMilliseconds(amount * unitMs);
        return true;
    }

    private static bool IsIdentifier(string name)
    {
        if (name.Length is 0 or > 128 || !(char.IsAsciiLetter(name[0]) || name[0] == '_'))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Walks the JSON by hand so every problem is reported with its path, not just the first one.</summary>
    private sealed class Loader(List<string> errors)
    {
        private static readonly string[] s_fileMembers = ["description", "streams", "request_features", "aggregations", "expressions"];
        private static readonly string[] s_streamMembers = ["name", "description", "entity_key", "event_time", "allowed_lateness", "fields"];
        private static readonly string[] s_fieldMembers = ["name", "description", "type", "decimals", "required"];
        private static readonly string[] s_requestMembers = ["name", "description", "input", "event_time", "default"];
        private static readonly string[] s_aggregationMembers = ["name", "description", "stream", "function", "field", "window", "default"];
        private static readonly string[] s_expressionMembers = ["name", "description", "expression", "default"];

        private readonly Dictionary<string, string> _featureOrigins = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _streamOrigins = new(StringComparer.Ordinal);
        private readonly List<(AggregationFeatureDefinition Feature, string Where)> _aggregations = [];
        private readonly List<(ExpressionFeatureDefinition Feature, string Where)> _expressions = [];
        private string _file = "";

        public List<StreamDefinition> Streams { get; } = [];

        public List<FeatureDefinition> Features { get; } = [];

        public void ParseFile(string file, string json)
        {
            _file = file;
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            }
            catch (JsonException ex)
            {
                errors.Add($"{file}: invalid JSON: {ex.Message}");
                return;
            }

            using (document)
            {
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    Error("$", "must be an object with streams, request_features, aggregations and expressions");
                    return;
                }

                CheckMembers(root, "$", s_fileMembers);
                ForEach(root, "$", "streams", ParseStream);
                ForEach(root, "$", "request_features", ParseRequestFeature);
                ForEach(root, "$", "aggregations", ParseAggregation);
                ForEach(root, "$", "expressions", ParseExpression);
            }
        }

        /// <summary>Checks what spans files: streams named by aggregations, fields, expression references and cycles.</summary>
        public void CheckReferences()
        {
            var streams = Streams.ToDictionary(s => s.Name, StringComparer.Ordinal);
            foreach (var (feature, where) in _aggregations)
            {
                if (!streams.TryGetValue(feature.Stream, out var stream))
                {
                    errors.Add($"{where}.stream: unknown stream '{feature.Stream}'");
                    continue;
                }

                if (feature.Field is null)
                {
                    continue;
                }

                var field = stream.FindField(feature.Field);
                if (field is null)
                {
                    errors.Add($"{where}.field: stream '{stream.Name}' has no field '{feature.Field}'");
                }
                else if (field.Type == FieldType.String && feature.Function != AggregationFunction.DistinctCount)
                {
                    errors.Add($"{where}.function: {Name(feature.Function)} needs a number field; '{field.Name}' is a string (strings allow distinct_count)");
                }
                else if (!field.Required)
                {
                    // An event without the field would leave nothing to aggregate; every event counts in every window.
                    errors.Add($"{where}.field: '{field.Name}' is optional; aggregated fields must be required");
                }
            }

            var features = Features.ToDictionary(f => f.Name, StringComparer.Ordinal);
            foreach (var (feature, where) in _expressions)
            {
                foreach (var reference in feature.References)
                {
                    if (!_featureOrigins.ContainsKey(reference))
                    {
                        errors.Add($"{where}.expression: unknown feature '{reference}'");
                    }
                }
            }

            // Cycles among expressions: depth-first search, reporting each cycle once.
            var state = new Dictionary<string, int>(StringComparer.Ordinal);
            var path = new List<string>();
            foreach (var (feature, where) in _expressions)
            {
                Visit(feature, where);
            }

            void Visit(ExpressionFeatureDefinition feature, string where)
            {
                state.TryGetValue(feature.Name, out var s);
                if (s == 2)
                {
                    return;
                }

                if (s == 1)
                {
                    var start = path.IndexOf(feature.Name);
                    errors.Add($"{where}.expression: cycle {string.Join(" -> ", path.Skip(start))} -> {feature.Name}");
                    return;
                }

                state[feature.Name] = 1;
                path.Add(feature.Name);
                foreach (var reference in feature.References)
                {
                    if (features.TryGetValue(reference, out var next) && next is ExpressionFeatureDefinition expression)
                    {
                        Visit(expression, _expressions.First(e => e.Feature == expression).Where);
                    }
                }

                path.RemoveAt(path.Count - 1);
                state[feature.Name] = 2;
            }
        }

        private static string Name(AggregationFunction function) => function switch
        {
            AggregationFunction.SecondsSinceLast => "seconds_since_last",
            AggregationFunction.DistinctCount => "distinct_count",
            _ => function.ToString().ToLowerInvariant(),
        };

        private void ParseStream(JsonElement element, string path)
        {
            if (!ExpectObject(element, path))
            {
                return;
            }

            CheckMembers(element, path, s_streamMembers);
            var name = RequiredName(element, path);
            var entityKey = RequiredName(element, path, "entity_key");
            var eventTime = RequiredName(element, path, "event_time");
            var lateness = OptionalDuration(element, path, "allowed_lateness") ?? TimeSpan.Zero;
            if (lateness > MaxAllowedLateness)
            {
                Error(path + ".allowed_lateness", $"must be at most {MaxAllowedLateness.TotalDays} days");
            }

            var fields = new List<StreamField>();
            var fieldNames = new HashSet<string>(StringComparer.Ordinal);
            if (!element.TryGetProperty("fields", out var fieldArray) || fieldArray.ValueKind != JsonValueKind.Array)
            {
                Error(path + ".fields", "is required: a list of {name, type: number|string}");
            }
            else
            {
                var index = 0;
                foreach (var item in fieldArray.EnumerateArray())
                {
                    var itemPath = $"{path}.fields[{index++}]";
                    var field = ParseField(item, itemPath);
                    if (field is null)
                    {
                        continue;
                    }

                    if (!fieldNames.Add(field.Name))
                    {
                        Error(itemPath + ".name", $"duplicate field '{field.Name}'");
                    }
                    else if (field.Name == entityKey || field.Name == eventTime)
                    {
                        Error(itemPath + ".name", $"'{field.Name}' is the stream's entity_key or event_time, not a field");
                    }
                    else
                    {
                        fields.Add(field);
                    }
                }
            }

            if (entityKey is not null && entityKey == eventTime)
            {
                Error(path + ".event_time", "must differ from entity_key");
            }

            if (name is null || entityKey is null || eventTime is null)
            {
                return;
            }

            if (_streamOrigins.TryGetValue(name, out var origin))
            {
                Error(path + ".name", $"stream '{name}' is already declared at {origin}");
                return;
            }

            _streamOrigins[name] = $"{_file}: {path}";
            Streams.Add(new StreamDefinition(name, entityKey, eventTime, lateness, fields, _file));
        }

        private StreamField? ParseField(JsonElement element, string path)
        {
            if (!ExpectObject(element, path))
            {
                return null;
            }

            CheckMembers(element, path, s_fieldMembers);
            var name = RequiredName(element, path);
            var typeText = RequiredString(element, path, "type");
            FieldType? type = typeText switch
            {
                null => null,
                "number" => FieldType.Number,
                "string" => FieldType.String,
                _ => null,
            };
            if (typeText is not null && type is null)
            {
                Error(path + ".type", $"'{typeText}' is not a field type (number, string)");
            }

            int? decimals = null;
            if (element.TryGetProperty("decimals", out var d))
            {
                if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out var value) || value is < 0 or > 9)
                {
                    Error(path + ".decimals", "must be an integer from 0 to 9");
                }
                else if (type == FieldType.String)
                {
                    Error(path + ".decimals", "applies to number fields only");
                }
                else
                {
                    decimals = value;
                }
            }

            var required = true;
            if (element.TryGetProperty("required", out var r))
            {
                if (r.ValueKind is JsonValueKind.True or JsonValueKind.False)
                {
                    required = r.GetBoolean();
                }
                else
                {
                    Error(path + ".required", "must be true or false");
                }
            }

            return name is null || type is null ? null : new StreamField(name, type.Value, decimals, required);
        }

        private void ParseRequestFeature(JsonElement element, string path)
        {
            if (!ExpectObject(element, path))
            {
                return;
            }

            CheckMembers(element, path, s_requestMembers);
            var name = ClaimName(element, path);
            var hasInput = element.TryGetProperty("input", out _);
            var hasTime = element.TryGetProperty("event_time", out _);
            string? input = null;
            EventTimePart? part = null;
            if (hasInput == hasTime)
            {
                Error(path, "needs exactly one of input (a request number) or event_time (hour_of_day, day_of_week, minute_of_hour)");
            }
            else if (hasInput)
            {
                input = RequiredString(element, path, "input");
                if (input is { Length: 0 })
                {
                    Error(path + ".input", "must not be empty");
                    input = null;
                }
            }
            else
            {
                var text = RequiredString(element, path, "event_time");
                part = text switch
                {
                    "hour_of_day" => EventTimePart.HourOfDay,
                    "day_of_week" => EventTimePart.DayOfWeek,
                    "minute_of_hour" => EventTimePart.MinuteOfHour,
                    _ => null,
                };
                if (text is not null && part is null)
                {
                    Error(path + ".event_time", $"'{text}' is not an event-time part (hour_of_day, day_of_week, minute_of_hour)");
                }
            }

            var defaultValue = OptionalNumber(element, path, "default");
            if (name is not null && (input is not null || part is not null))
            {
                Features.Add(new RequestFeatureDefinition(name, input, part, defaultValue, _file));
            }
        }

        private void ParseAggregation(JsonElement element, string path)
        {
            if (!ExpectObject(element, path))
            {
                return;
            }

            CheckMembers(element, path, s_aggregationMembers);
            var name = ClaimName(element, path);
            var stream = RequiredString(element, path, "stream");
            var functionText = RequiredString(element, path, "function");
            AggregationFunction? function = functionText switch
            {
                null => null,
                "count" => AggregationFunction.Count,
                "sum" => AggregationFunction.Sum,
                "mean" => AggregationFunction.Mean,
                "min" => AggregationFunction.Min,
                "max" => AggregationFunction.Max,
                "last" => AggregationFunction.Last,
                "seconds_since_last" => AggregationFunction.SecondsSinceLast,
                "distinct_count" => AggregationFunction.DistinctCount,
                _ => null,
            };
            if (functionText is not null && function is null)
            {
                Error(path + ".function", $"'{functionText}' is not an aggregation (count, sum, mean, min, max, last, seconds_since_last, distinct_count)");
            }

            string? field = null;
            var needsField = function is not (AggregationFunction.Count or AggregationFunction.SecondsSinceLast);
            if (element.TryGetProperty("field", out _))
            {
                field = RequiredString(element, path, "field");
                if (function is not null && !needsField)
                {
                    Error(path + ".field", $"{functionText} takes no field");
                }
            }
            else if (function is not null && needsField)
            {
                Error(path + ".field", $"is required for {functionText}");
            }

            var window = OptionalDuration(element, path, "window");
            if (window is null)
            {
                if (!element.TryGetProperty("window", out _))
                {
                    Error(path + ".window", "is required (e.g. 10m, 1h, 30d)");
                }
            }
            else if (window.Value <= TimeSpan.Zero || window.Value > MaxWindow)
            {
                Error(path + ".window", $"must be from 1ms to {MaxWindow.TotalDays} days");
                window = null;
            }

            // With no explicit default, an empty window gives 0, except seconds_since_last: the window itself, in seconds
            // (the last event is at least that long ago).
            var defaultValue = OptionalNumber(element, path, "default")
                ?? (function == AggregationFunction.SecondsSinceLast && window is not null ? window.Value.TotalMilliseconds / 1000.0 : 0.0);
            if (name is null || stream is null || function is null || window is null || (needsField && field is null))
            {
                return;
            }

            var feature = new AggregationFeatureDefinition(name, stream, function.Value, needsField ? field : null, window.Value, defaultValue, _file);
            Features.Add(feature);
            _aggregations.Add((feature, $"{_file}: {path}"));
        }

        private void ParseExpression(JsonElement element, string path)
        {
            if (!ExpectObject(element, path))
            {
                return;
            }

            CheckMembers(element, path, s_expressionMembers);
            var name = ClaimName(element, path);
            var text = RequiredString(element, path, "expression");
            var defaultValue = OptionalNumber(element, path, "default") ?? 0.0;
            if (text is null)
            {
                return;
            }

            var compiled = FeatureExpression.TryParse(text, out var parseError);
            if (compiled is null)
            {
                Error(path + ".expression", parseError!);
                return;
            }

            if (name is not null && compiled.References.Contains(name))
            {
                Error(path + ".expression", $"'{name}' refers to itself");
                return;
            }

            if (name is not null)
            {
                var feature = new ExpressionFeatureDefinition(name, text, compiled, defaultValue, _file);
                Features.Add(feature);
                _expressions.Add((feature, $"{_file}: {path}"));
            }
        }

        /// <summary>
        /// Takes a feature name as soon as it is read, so a duplicate is reported even when either declaration has other
        /// problems, and an expression naming a feature with problems is not also told the name is unknown.
        /// </summary>
        private string? ClaimName(JsonElement element, string path)
        {
            var name = RequiredName(element, path);
            if (name is null)
            {
                return null;
            }

            if (_featureOrigins.TryGetValue(name, out var origin))
            {
                Error(path + ".name", $"feature '{name}' is already declared at {origin}");
                return null;
            }

            _featureOrigins[name] = $"{_file}: {path}";
            return name;
        }



        private void ForEach(JsonElement root, string path, string property, Action<JsonElement, string> parse)
        {
            if (!root.TryGetProperty(property, out var array))
            {
                return;
            }

            if (array.ValueKind != JsonValueKind.Array)
            {
                Error($"{path}.{property}", "must be a list");
                return;
            }

            var index = 0;
            foreach (var item in array.EnumerateArray())
            {
                parse(item, $"{path}.{property}[{index++}]");
            }
        }

        private bool ExpectObject(JsonElement element, string path)
        {
            if (element.ValueKind == JsonValueKind.Object)
            {
                return true;
            }

            Error(path, "must be an object");
            return false;
        }

        private void CheckMembers(JsonElement element, string path, string[] known)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (Array.IndexOf(known, property.Name) < 0)
                {
                    Error($"{path}.{property.Name}", $"unknown member (known: {string.Join(", ", known)})");
                }
            }
        }

        private string? RequiredName(JsonElement element, string path, string property = "name")
        {
            var name = RequiredString(element, path, property);
            if (name is not null && !IsIdentifier(name))
            {
                Error($"{path}.{property}", $"'{name}' is not a name (letters, digits and '_', not starting with a digit, at most 128)");
                return null;
            }

            return name;
        }

        private string? RequiredString(JsonElement element, string path, string property)
        {
            if (!element.TryGetProperty(property, out var value))
            {
                Error($"{path}.{property}", "is required");
                return null;
            }

            if (value.ValueKind != JsonValueKind.String)
            {
                Error($"{path}.{property}", "must be a string");
                return null;
            }

            return value.GetString();
        }

        private double? OptionalNumber(JsonElement element, string path, string property)
        {
            if (!element.TryGetProperty(property, out var value))
            {
                return null;
            }

            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !double.IsFinite(number))
            {
                Error($"{path}.{property}", "must be a finite number");
                return null;
            }

            return number;
        }

        private TimeSpan? OptionalDuration(JsonElement element, string path, string property)
        {
            if (!element.TryGetProperty(property, out var value))
            {
                return null;
            }

            if (value.ValueKind != JsonValueKind.String || !TryParseDuration(value.GetString()!, out var duration))
            {
                Error($"{path}.{property}", $"{value.GetRawText()} is not a duration (a whole number and a unit: 250ms, 10s, 5m, 1h, 30d)");
                return null;
            }

            return duration;
        }

        private void Error(string path, string message) => errors.Add($"{_file}: {path}: {message}");
    }
}

/// <summary>Feature definitions that do not load: <see cref="Errors"/> lists every problem as "file: path: message".</summary>
public sealed class FeatureDefinitionException : Exception
{
    /// <summary>Creates the exception from its problems.</summary>
    public FeatureDefinitionException(IReadOnlyList<string> errors)
        : base($"Invalid feature definitions ({errors.Count} problem(s)):{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors))
    {
        Errors = errors;
    }

    /// <summary>Creates the exception with no listed problem.</summary>
    public FeatureDefinitionException()
        : this(Array.Empty<string>())
    {
    }

    /// <summary>Creates the exception with one problem.</summary>
    public FeatureDefinitionException(string message)
        : this([message])
    {
    }

    /// <summary>Creates the exception with one problem and its cause.</summary>
    public FeatureDefinitionException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [message];
    }

    /// <summary>Every problem, as "file: JSON path: message".</summary>
    public IReadOnlyList<string> Errors { get; }
}
