using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Npgsql;
using NpgsqlTypes;

namespace InferenceGateway.Core.PredictionLog;

/// <summary>
/// The sink for when one machine is not enough: PostgreSQL through Npgsql, each batch one binary COPY into
/// <c>predictions</c>, a table partitioned by day of event time (partitions are created as records need them, so
/// old days can be detached or dropped whole). Feature values and outputs are <c>real[]</c>, defaulted flags
/// <c>boolean[]</c>; feature names live once per version in <c>feature_sets</c>.
/// </summary>
public sealed class PostgresPredictionSink : IPredictionSink
{
    // Serializes schema changes (migrations, new partitions) between gateways sharing the database.
    private const long SchemaLockKey = 0x4947_504C_4F47; // "IGPLOG"

    private static readonly DateTime MaxTime = new(9999, 12, 31, 0, 0, 0, DateTimeKind.Utc);

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _description;
    private readonly FeatureSetCache _featureSets = new();
    private readonly List<(IReadOnlyList<string> Names, string Key, long Id)> _newFeatureSets = [];
    private readonly HashSet<long> _partitions = [];
    private readonly Dictionary<int, float[]> _floats = [];
    private readonly Dictionary<int, bool[]> _flags = [];
    private readonly Dictionary<int, float[]> _outputs = [];

    /// <summary>Creates the sink; nothing connects until <see cref="InitializeAsync"/>.</summary>
    public PostgresPredictionSink(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        _description = $"postgresql {builder.Host}:{builder.Port}/{builder.Database}";
        _dataSource = NpgsqlDataSource.Create(builder);
    }

    /// <inheritdoc />
    public string Description => _description;

    /// <summary>The schema version this code writes.</summary>
    public static int SchemaVersion => Migrations.Length;

    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE feature_sets (
          id bigserial PRIMARY KEY,
          model text NOT NULL,
          version text NOT NULL,
          names text[] NOT NULL,
          UNIQUE (model, version, names));
        CREATE TABLE predictions (
          request_id text NOT NULL,
          event_time timestamptz NOT NULL,
          served_at timestamptz NOT NULL,
          model text NOT NULL,
          version text NOT NULL,
          arm text NOT NULL,
          shadow boolean NOT NULL,
          entity_id text NOT NULL,
          feature_set_id bigint,
          features real[],
          defaulted boolean[],
          outputs real[],
          rows integer NOT NULL,
          inputs_omitted boolean NOT NULL,
          queue_us bigint NOT NULL,
          compute_us bigint NOT NULL,
          total_us bigint NOT NULL,
          status smallint NOT NULL
        ) PARTITION BY RANGE (event_time);
        CREATE INDEX predictions_model_time ON predictions (model, event_time);
        CREATE TABLE outcomes (
          request_id text PRIMARY KEY,
          label double precision NOT NULL,
          event_time timestamptz NOT NULL,
          received_at timestamptz NOT NULL);
        CREATE TABLE ingest_batches (
          batch_id text PRIMARY KEY,
          records integer NOT NULL,
          written_at timestamptz NOT NULL DEFAULT now());
        """,
    ];

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({SchemaLockKey}); CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL);", cancellationToken).ConfigureAwait(false);
        await using (var read = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM schema_version", connection, transaction))
        {
            var current = Convert.ToInt32(await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
            if (current > Migrations.Length)
            {
                throw new InvalidOperationException($"{_description} has prediction log schema version {current}, newer than this gateway's {Migrations.Length}");
            }

            for (var step = current; step < Migrations.Length; step++)
            {
                await ExecuteAsync(connection, transaction, Migrations[step] + $"\nINSERT INTO schema_version (version) VALUES ({step + 1});", cancellationToken).ConfigureAwait(false);
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        _featureSets.Clear();
        _partitions.Clear();
    }

    /// <inheritdoc />
    public async Task WriteAsync(string batchId, ReadOnlyMemory<PredictionRecord> records, CancellationToken cancellationToken)
    {
        try
        {
            await WriteBatchAsync(batchId, records, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _newFeatureSets.Clear();
            _partitions.Clear(); // a rolled-back transaction took its new partitions with it
            throw;
        }
    }

    private async Task WriteBatchAsync(string batchId, ReadOnlyMemory<PredictionRecord> records, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var mark = new NpgsqlCommand("INSERT INTO ingest_batches (batch_id, records) VALUES ($1, $2) ON CONFLICT DO NOTHING", connection, transaction))
        {
            mark.Parameters.Add(new NpgsqlParameter<string> { TypedValue = batchId });
            mark.Parameters.Add(new NpgsqlParameter<int> { TypedValue = records.Length });
            if (await mark.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
            {
                return; // the commit of an earlier try succeeded but its answer was lost
            }
        }

        await EnsurePartitionsAsync(connection, transaction, records, cancellationToken).ConfigureAwait(false);
        var featureSetIds = new long?[records.Length];
        for (var i = 0; i < records.Length; i++)
        {
            var record = records.Span[i];
            if (record.FeatureNames is { } names)
            {
                featureSetIds[i] = await FeatureSetIdAsync(connection, transaction, record.Model, record.Version, names, cancellationToken).ConfigureAwait(false);
            }
        }

        // The rows are written with the synchronous importer calls: they fill Npgsql's buffer and only flush (block on
        // the socket) when it is full, on the writer's own task; the asynchronous calls cost a state machine per value.
        using (var copy = connection.BeginBinaryImport(
            "COPY predictions (request_id, event_time, served_at, model, version, arm, shadow, entity_id, feature_set_id, features, defaulted, outputs, rows, inputs_omitted, queue_us, compute_us, total_us, status) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < records.Length; i++)
            {
                var record = records.Span[i];
                copy.StartRow();
                copy.Write(Text(record.RequestId), NpgsqlDbType.Text);
                copy.Write(Time(record.EventTimeUnixMs), NpgsqlDbType.TimestampTz);
                copy.Write(Time(record.ServedAtUnixMs), NpgsqlDbType.TimestampTz);
                copy.Write(Text(record.Model), NpgsqlDbType.Text);
                copy.Write(Text(record.Version), NpgsqlDbType.Text);
                copy.Write(Text(record.Arm), NpgsqlDbType.Text);
                copy.Write(record.Shadow, NpgsqlDbType.Boolean);
                copy.Write(Text(record.EntityId), NpgsqlDbType.Text);
                if (featureSetIds[i] is { } id)
                {
                    copy.Write(id, NpgsqlDbType.Bigint);
                }
                else
                {
                    copy.WriteNull();
                }

                WriteArray(copy, Exact(record.Features, _floats), NpgsqlDbType.Real);
                WriteArray(copy, Exact(record.Defaulted, _flags), NpgsqlDbType.Boolean);
                WriteArray(copy, Exact(record.Outputs, _outputs), NpgsqlDbType.Real);
                copy.Write(record.Rows, NpgsqlDbType.Integer);
                copy.Write(record.InputsOmitted, NpgsqlDbType.Boolean);
                copy.Write(record.QueueMicroseconds, NpgsqlDbType.Bigint);
                copy.Write(record.ComputeMicroseconds, NpgsqlDbType.Bigint);
                copy.Write(record.TotalMicroseconds, NpgsqlDbType.Bigint);
                copy.Write((short)record.Status, NpgsqlDbType.Smallint);
            }

            copy.Complete();
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (names, key, id) in _newFeatureSets)
        {
            _featureSets.Add(names, key, id);
        }

        _newFeatureSets.Clear();
    }

    /// <summary>
    /// A reused array of the span's exact length holding its values (Npgsql serializes the value before its write
    /// returns), so a record's arrays cost no garbage for the usual few lengths; null for an empty span.
    /// </summary>
    private static T[]? Exact<T>(ReadOnlySpan<T> values, Dictionary<int, T[]> cache)
    {
        if (values.IsEmpty)
        {
            return null;
        }

        ref var array = ref CollectionsMarshal.GetValueRefOrAddDefault(cache, values.Length, out _);
        array ??= new T[values.Length];
        values.CopyTo(array);
        return array;
    }

    private static void WriteArray<T>(NpgsqlBinaryImporter copy, T[]? array, NpgsqlDbType elementType)
    {
        if (array is null)
        {
            copy.WriteNull();
        }
        else
        {
            copy.Write(array, NpgsqlDbType.Array | elementType);
        }
    }

    /// <summary>Creates the day partitions this batch needs that this process has not seen yet.</summary>
    private async Task EnsurePartitionsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ReadOnlyMemory<PredictionRecord> records, CancellationToken cancellationToken)
    {
        List<long>? missing = null;
        foreach (var record in records.Span)
        {
            var day = Time(record.EventTimeUnixMs).Date.Ticks;
            if (!_partitions.Contains(day) && (missing is null || !missing.Contains(day)))
            {
                (missing ??= []).Add(day);
            }
        }

        if (missing is null)
        {
            return;
        }

        var sql = new System.Text.StringBuilder($"SELECT pg_advisory_xact_lock({SchemaLockKey});");
        foreach (var ticks in missing)
        {
            var day = new DateTime(ticks, DateTimeKind.Utc);
            var next = day < MaxTime.Date ? day.AddDays(1) : day.AddDays(1).AddTicks(-1);
            sql.Append(CultureInfo.InvariantCulture, $"CREATE TABLE IF NOT EXISTS predictions_{day:yyyyMMdd} PARTITION OF predictions FOR VALUES FROM ('{day:yyyy-MM-dd}') TO ('{next:yyyy-MM-dd HH:mm:ss.fffffff}+00');");
        }

        await ExecuteAsync(connection, transaction, sql.ToString(), cancellationToken).ConfigureAwait(false);
        foreach (var day in missing)
        {
            _partitions.Add(day);
        }
    }

    private async Task<long> FeatureSetIdAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string model, string version, IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        if (_featureSets.Find(model, version, names, out var key) is { } known)
        {
            return known;
        }

        foreach (var pending in _newFeatureSets)
        {
            if (pending.Key == key)
            {
                return pending.Id;
            }
        }

        await using var command = new NpgsqlCommand(
            """
            INSERT INTO feature_sets (model, version, names) VALUES ($1, $2, $3)
              ON CONFLICT (model, version, names) DO UPDATE SET names = excluded.names
            RETURNING id
            """, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Text(model) });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Text(version) });
        var array = new string[names.Count];
        for (var i = 0; i < array.Length; i++)
        {
            array[i] = Text(names[i]);
        }

        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = array });
        var id = (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        _newFeatureSets.Add((names, key, id));
        return id;
    }

    /// <inheritdoc />
    public async Task WriteOutcomesAsync(IReadOnlyList<OutcomeRecord> outcomes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        // One statement for the batch: unnest the columns, the latest report per request id wins.
        await using var command = new NpgsqlCommand(
            """
            INSERT INTO outcomes (request_id, label, event_time, received_at)
            SELECT DISTINCT ON (id) id, label, time, received FROM unnest($1::text[], $2::float8[], $3::timestamptz[], $4::timestamptz[])
              WITH ORDINALITY AS t (id, label, time, received, n)
            ORDER BY id, n DESC
            ON CONFLICT (request_id) DO UPDATE SET label = excluded.label, event_time = excluded.event_time, received_at = excluded.received_at
            """, connection, transaction);
        var ids = new string[outcomes.Count];
        var labels = new double[outcomes.Count];
        var times = new DateTime[outcomes.Count];
        var received = new DateTime[outcomes.Count];
        for (var i = 0; i < outcomes.Count; i++)
        {
            ids[i] = Text(outcomes[i].RequestId);
            labels[i] = outcomes[i].Label;
            times[i] = Time(outcomes[i].EventTimeUnixMs);
            received[i] = Time(outcomes[i].ReceivedAtUnixMs);
        }

        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = ids });
        command.Parameters.Add(new NpgsqlParameter<double[]> { TypedValue = labels });
        command.Parameters.Add(new NpgsqlParameter<DateTime[]> { TypedValue = times });
        command.Parameters.Add(new NpgsqlParameter<DateTime[]> { TypedValue = received });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<EvaluationRow> ReadEvaluationRowsAsync(string model, long fromUnixMs, long toUnixMs, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // Bounds only when given, so the planner prunes partitions on the range itself.
        var sql = """
            SELECT p.version, p.arm, p.shadow, p.request_id, p.outputs[1], p.total_us, o.label
            FROM predictions p LEFT JOIN outcomes o ON o.request_id = p.request_id
            WHERE p.model = $1 AND p.status = 0 AND p.rows = 1
            """ + (fromUnixMs > 0 ? " AND p.event_time >= $2" : "") + (toUnixMs > 0 ? " AND p.event_time < $3" : "");
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Text(model) });
        command.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = Time(fromUnixMs) });
        command.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = Time(toUnixMs) });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return new EvaluationRow(
                reader.GetString(0), reader.GetString(1), reader.GetBoolean(2), reader.GetString(3),
                reader.IsDBNull(4) ? float.NaN : reader.GetFloat(4), reader.GetInt64(5),
                reader.IsDBNull(6) ? double.NaN : reader.GetDouble(6));
        }
    }

    /// <inheritdoc />
    public async Task<long> CountPredictionsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM predictions", connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    /// <summary>PostgreSQL text cannot hold NUL; a client's string with one would fail its batch on every retry.</summary>
    private static string Text(string value) => value.Contains('\0', StringComparison.Ordinal) ? value.Replace('\0', '\uFFFD') : value;

    /// <summary>Unix ms as a UTC time, clamped to what timestamptz and DateTime both hold.</summary>
    private static DateTime Time(long unixMs) =>
        unixMs <= 0 ? DateTime.UnixEpoch
        : unixMs >= (MaxTime - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerMillisecond ? MaxTime
        : DateTime.UnixEpoch.AddMilliseconds(unixMs);

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
