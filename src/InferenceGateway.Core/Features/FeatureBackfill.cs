using System.Diagnostics;
using System.Globalization;

namespace InferenceGateway.Core.Features;

/// <summary>
/// Offline point-in-time features through the serving code: events from a CSV file go through
/// <see cref="FeatureEngine.Ingest"/> and every answer comes from a <see cref="FeatureVectorPlan"/>, exactly as online,
/// so training data and serving agree by construction. CSV columns are matched by header name: the stream's entity key
/// and event-time columns, its declared fields; every other column is a request input (a number when it parses as one).
/// Use an engine of its own (not started: no timers) whose caps leave room for the file, since an eviction would make
/// later answers inexact; <see cref="BackfillResult.EvictedMemoryCap"/> reports any.
/// </summary>
public sealed class FeatureBackfill
{
    private const int ProgressEvery = 10_000;

    private readonly FeatureEngine _engine;
    private readonly StreamDefinition _stream;

    /// <summary>Backfills events of <paramref name="stream"/> into <paramref name="engine"/>.</summary>
    /// <exception cref="ArgumentException">The stream is not defined.</exception>
    public FeatureBackfill(FeatureEngine engine, string stream)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
        if (!engine.Definitions.TryGetStream(stream, out var definition))
        {
            throw new ArgumentException($"unknown stream '{stream}'", nameof(stream));
        }

        _stream = definition;
    }

    /// <summary>
    /// "Query, then ingest" each event row in file order (what a Predict followed by an IngestEvents does online):
    /// writes <c>time,entity,features...</c> per row, as of the row's event time with the row's fields as request inputs.
    /// On the bundled <c>transactions.csv.gz</c> with fraud v2's features this writes <c>features.csv.gz</c>.
    /// </summary>
    public BackfillResult Replay(
        TextReader events,
        TextWriter output,
        IReadOnlyList<string> featureNames,
        IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(output);
        var plan = _engine.CreatePlan(featureNames);
        var started = Stopwatch.GetTimestamp();
        var statsBefore = _engine.GetStatistics();
        var reader = new RowReader(events, _stream, "events");
        WriteHeader(output, plan);
        var values = new float[plan.Count];
        var counts = new Counts();
        while (reader.Next())
        {
            cancellationToken.ThrowIfCancellationRequested();
            counts.Rows++;
            if (reader.Time is { } time && !string.IsNullOrEmpty(reader.Entity))
            {
                var request = new FeatureRequest(reader.Entity, time, reader.Numbers, reader.Strings);
                var assembled = plan.Assemble(request, values, default);
                counts.Query(assembled);
                if (assembled.IsSuccess)
                {
                    WriteRow(output, time, reader.Entity, values);
                }
            }

            counts.Ingest(reader.Ingest(_engine));
            if (counts.Rows % ProgressEvery == 0)
            {
                progress?.Report(counts.Rows);
            }
        }

        progress?.Report(counts.Rows);
        return counts.Result(_engine.GetStatistics().EvictedMemoryCap - statsBefore.EvictedMemoryCap, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>
    /// Features for each row of <paramref name="queries"/> (columns: the entity key, the event-time column as the
    /// as-of time, and any request inputs), from the events of <paramref name="events"/>, written in the queries' order.
    /// Events may come out of order within the stream's allowed lateness: a query is answered once the watermark has
    /// passed its time by the lateness, when no event before it can still be accepted.
    /// </summary>
    public BackfillResult Run(
        TextReader events,
        TextReader queries,
        TextWriter output,
        IReadOnlyList<string> featureNames,
        IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(output);
        var plan = _engine.CreatePlan(featureNames);
        var started = Stopwatch.GetTimestamp();
        var statsBefore = _engine.GetStatistics();
        var counts = new Counts();

        var pending = new List<Query>();
        var queryReader = new RowReader(queries, _stream, "queries");
        while (queryReader.Next())
        {
            if (queryReader.Time is { } time && !string.IsNullOrEmpty(queryReader.Entity))
            {
                pending.Add(new Query(pending.Count, queryReader.Entity, time, new Dictionary<string, double>(queryReader.Numbers), new Dictionary<string, string>(queryReader.Strings)));
            }
            else
            {
                counts.QueriesFailed++;
                counts.FirstQueryError ??= $"queries row {queryReader.Line}: no entity or event time";
            }
        }

        // Answer in time order (stable), write in the queries' order.
        var order = pending.OrderBy(q => q.Time).ToArray();
        var answers = new float[pending.Count][];
        var next = 0;
        var lateness = (long)_stream.AllowedLateness.TotalMilliseconds;

        void AnswerUpTo(long time)
        {
            while (next < order.Length && order[next].Time <= time)
            {
                var query = order[next++];
                var values = new float[plan.Count];
                var assembled = plan.Assemble(new FeatureRequest(query.Entity, query.Time, query.Numbers, query.Strings), values, default);
                counts.Query(assembled);
                if (assembled.IsSuccess)
                {
                    answers[query.Index] = values;
                }
            }
        }

        var reader = new RowReader(events, _stream, "events");
        while (reader.Next())
        {
            cancellationToken.ThrowIfCancellationRequested();
            counts.Rows++;
            counts.Ingest(reader.Ingest(_engine));
            if (_engine.GetWatermark(_stream.Name) is { } watermark)
            {
                AnswerUpTo(watermark - lateness);
            }

            if (counts.Rows % ProgressEvery == 0)
            {
                progress?.Report(counts.Rows);
            }
        }

        AnswerUpTo(long.MaxValue);
        progress?.Report(counts.Rows);
        WriteHeader(output, plan);
        foreach (var query in pending)
        {
            if (answers[query.Index] is { } values)
            {
                WriteRow(output, query.Time, query.Entity, values);
            }
        }

        return counts.Result(_engine.GetStatistics().EvictedMemoryCap - statsBefore.EvictedMemoryCap, Stopwatch.GetElapsedTime(started));
    }

    private void WriteHeader(TextWriter output, FeatureVectorPlan plan)
    {
        output.Write(FeatureCsv.Quote(_stream.EventTimeField));
        output.Write(',');
        output.Write(FeatureCsv.Quote(_stream.EntityKey));
        foreach (var name in plan.FeatureNames)
        {
            output.Write(',');
            output.Write(name);
        }

        output.Write('\n');
    }

    private static void WriteRow(TextWriter output, long time, string entity, float[] values)
    {
        output.Write(time.ToString(CultureInfo.InvariantCulture));
        output.Write(',');
        output.Write(FeatureCsv.Quote(entity));
        foreach (var value in values)
        {
            output.Write(',');
            output.Write(FeatureCsv.FormatFloat(value));
        }

        output.Write('\n');
    }

    private sealed record Query(int Index, string Entity, long Time, Dictionary<string, double> Numbers, Dictionary<string, string> Strings);

    private sealed class Counts
    {
        public long Rows;
        public long Accepted;
        public long Late;
        public long Rejected;
        public string? FirstRejection;
        public long Queries;
        public long QueriesFailed;
        public string? FirstQueryError;
        public long Incomplete;

        public void Ingest(IngestResult result)
        {
            switch (result.Outcome)
            {
                case IngestOutcome.Accepted:
                    Accepted++;
                    break;
                case IngestOutcome.DroppedLate:
                    Late++;
                    break;
                default:
                    Rejected++;
                    FirstRejection ??= $"events row {Rows}: {result.Message}";
                    break;
            }
        }

        public void Query(FeatureAssemblyResult result)
        {
            if (result.IsSuccess)
            {
                Queries++;
                Incomplete += result.HistoryIncomplete ? 1 : 0;
            }
            else
            {
                QueriesFailed++;
                FirstQueryError ??= result.Message;
            }
        }

        public BackfillResult Result(long evicted, TimeSpan duration) =>
            new(Rows, Accepted, Late, Rejected, FirstRejection, Queries, QueriesFailed, FirstQueryError, Incomplete, evicted, duration);
    }

    /// <summary>Reads rows by header name into the maps <see cref="FeatureEngine.Ingest"/> and <see cref="FeatureRequest"/> take.</summary>
    private sealed class RowReader
    {
        private readonly TextReader _reader;
        private readonly string _what;
        private readonly List<string> _fields = [];
        private readonly string[] _header;
        private readonly int _entityColumn;
        private readonly int _timeColumn;
        private readonly bool[] _isString;
        private readonly string _stream;

        public RowReader(TextReader reader, StreamDefinition stream, string what)
        {
            _reader = reader;
            _what = what;
            _stream = stream.Name;
            var header = reader.ReadLine() ?? throw new InvalidDataException($"{what} file is empty (expected a header row)");
            FeatureCsv.Split(header, _fields);
            _header = [.. _fields];
            _entityColumn = Find(stream.EntityKey, "entity_id");
            _timeColumn = Find(stream.EventTimeField, "as_of_unix_ms");
            if (_entityColumn < 0 || _timeColumn < 0)
            {
                throw new InvalidDataException($"{what} file header needs columns '{stream.EntityKey}' and '{stream.EventTimeField}': {header}");
            }

            _isString = new bool[_header.Length];
            for (var i = 0; i < _header.Length; i++)
            {
                _isString[i] = stream.FindField(_header[i]) is { Type: FieldType.String };
            }
        }

        public long Line { get; private set; } = 1;

        public string Entity { get; private set; } = "";

        public long? Time { get; private set; }

        public string TimeText { get; private set; } = "";

        public Dictionary<string, double> Numbers { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, string> Strings { get; } = new(StringComparer.Ordinal);

        public bool Next()
        {
            string? line;
            do
            {
                line = _reader.ReadLine();
                Line++;
                if (line is null)
                {
                    return false;
                }
            }
            while (line.Length == 0);

            FeatureCsv.Split(line, _fields);
            Numbers.Clear();
            Strings.Clear();
            Entity = _entityColumn < _fields.Count ? _fields[_entityColumn] : "";
            TimeText = _timeColumn < _fields.Count ? _fields[_timeColumn] : "";
            Time = long.TryParse(TimeText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var time) ? time : null;
            for (var i = 0; i < _fields.Count && i < _header.Length; i++)
            {
                var cell = _fields[i];
                if (i == _entityColumn || i == _timeColumn || cell.Length == 0)
                {
                    continue;
                }

                // double.Parse is correctly rounded: "55.96" gives the float64 nearest 55.96, which the engine turns into
                // exactly 5596 cents (and refuses any text with more decimals than the field declares).
                if (!_isString[i] && double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
                {
                    Numbers[_header[i]] = number;
                }
                else
                {
                    Strings[_header[i]] = cell;
                }
            }

            return true;
        }

        public IngestResult Ingest(FeatureEngine engine) => engine.Ingest(_stream, Entity, Time ?? 0, Numbers, Strings);

        private int Find(string name, string alternative)
        {
            var index = Array.IndexOf(_header, name);
            return index >= 0 || _what != "queries" ? index : Array.IndexOf(_header, alternative);
        }
    }
}

/// <summary>What a backfill did.</summary>
/// <param name="Rows">Event rows read.</param>
/// <param name="Accepted">Events applied.</param>
/// <param name="DroppedLate">Events dropped as too late.</param>
/// <param name="Rejected">Events rejected.</param>
/// <param name="FirstRejection">The first rejection, with its row, or null.</param>
/// <param name="Queries">Feature rows written.</param>
/// <param name="QueriesFailed">Queries that could not be answered (missing inputs or key).</param>
/// <param name="FirstQueryError">The first such failure, or null.</param>
/// <param name="HistoryIncomplete">Answers as of a time before the exactly retained history (0 for a sorted file).</param>
/// <param name="EvictedMemoryCap">Entities evicted by the engine's caps meanwhile (answers after one may be inexact).</param>
/// <param name="Duration">Time taken.</param>
public sealed record BackfillResult(
    long Rows,
    long Accepted,
    long DroppedLate,
    long Rejected,
    string? FirstRejection,
    long Queries,
    long QueriesFailed,
    string? FirstQueryError,
    long HistoryIncomplete,
    long EvictedMemoryCap,
    TimeSpan Duration);
