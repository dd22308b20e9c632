using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace InferenceGateway.Core.PredictionLog;

/// <summary>
/// The embedded sink: one SQLite file in WAL mode (readers such as <c>evaluate</c> never block the writer), one
/// transaction per batch through a prepared statement. Feature values and outputs are little-endian float32 blobs,
/// defaulted flags one byte per feature; feature names live once per version in <c>feature_sets</c>.
/// </summary>
public sealed class SqlitePredictionSink : IPredictionSink
{
    private readonly string _path;
    private readonly long _maxBytes;
    private readonly string _connectionString;
    private readonly FeatureSetCache _featureSets = new();
    private readonly List<(IReadOnlyList<string> Names, string Key, long Id)> _newFeatureSets = [];
    private readonly Dictionary<int, byte[]> _blobs = [];
    private SqliteConnection? _writer;
    private SqliteCommand? _insert;

    /// <summary>Creates the sink over <paramref name="path"/>; <paramref name="maxBytes"/> caps the file (0: no cap).</summary>
    public SqlitePredictionSink(string path, long maxBytes = 0)
    {
        _path = Path.GetFullPath(path);
        _maxBytes = maxBytes;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = _path, Pooling = true, DefaultTimeout = 30 }.ToString();
    }

    /// <inheritdoc />
    public string Description => $"sqlite {_path}";

    /// <summary>The database file.</summary>
    public string FilePath => _path;

    /// <summary>The schema version this code writes.</summary>
    public static int SchemaVersion => Migrations.Length;

    // Each step takes the schema from version i to i + 1; applied in order, in one transaction each.
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE feature_sets (
          id INTEGER PRIMARY KEY,
          model TEXT NOT NULL,
          version TEXT NOT NULL,
          names TEXT NOT NULL,            -- JSON array, the order of the values in predictions.features
          UNIQUE (model, version, names));
        CREATE TABLE predictions (
          id INTEGER PRIMARY KEY,
          request_id TEXT NOT NULL,
          event_time_ms INTEGER NOT NULL, -- the request's event time: what evaluation ranges select
          served_at_ms INTEGER NOT NULL,
          model TEXT NOT NULL,
          version TEXT NOT NULL,
          arm TEXT NOT NULL,
          shadow INTEGER NOT NULL,
          entity_id TEXT NOT NULL,
          feature_set_id INTEGER REFERENCES feature_sets (id),
          features BLOB,                  -- float32 little-endian, rows x features
          defaulted BLOB,                 -- one byte (0/1) per feature
          outputs BLOB,                   -- float32 little-endian
          rows INTEGER NOT NULL,
          inputs_omitted INTEGER NOT NULL,
          queue_us INTEGER NOT NULL,
          compute_us INTEGER NOT NULL,
          total_us INTEGER NOT NULL,
          status INTEGER NOT NULL);
        CREATE INDEX predictions_model_time ON predictions (model, event_time_ms);
        CREATE TABLE outcomes (
          request_id TEXT PRIMARY KEY,
          label REAL NOT NULL,
          event_time_ms INTEGER NOT NULL,
          received_at_ms INTEGER NOT NULL);
        CREATE TABLE ingest_batches (
          batch_id TEXT PRIMARY KEY,
          records INTEGER NOT NULL,
          written_at_ms INTEGER NOT NULL);
        """,
    ];

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        await DisposeWriterAsync().ConfigureAwait(false);
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(connection, "PRAGMA journal_mode=WAL;", cancellationToken).ConfigureAwait(false);
            await MigrateAsync(connection, cancellationToken).ConfigureAwait(false);
            _insert = connection.CreateCommand();
            _insert.CommandText = """
                INSERT INTO predictions (request_id, event_time_ms, served_at_ms, model, version, arm, shadow, entity_id, feature_set_id,
                  features, defaulted, outputs, rows, inputs_omitted, queue_us, compute_us, total_us, status)
                VALUES ($request_id, $event_time_ms, $served_at_ms, $model, $version, $arm, $shadow, $entity_id, $feature_set_id,
                  $features, $defaulted, $outputs, $rows, $inputs_omitted, $queue_us, $compute_us, $total_us, $status)
                """;
            foreach (var name in (string[])["request_id", "event_time_ms", "served_at_ms", "model", "version", "arm", "shadow", "entity_id", "feature_set_id",
                "features", "defaulted", "outputs", "rows", "inputs_omitted", "queue_us", "compute_us", "total_us", "status"])
            {
                _insert.Parameters.Add(new SqliteParameter("$" + name, null));
            }

            _writer = connection;
            _featureSets.Clear();
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task MigrateAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);", cancellationToken).ConfigureAwait(false);
        while (true)
        {
            using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            using var read = connection.CreateCommand();
            read.Transaction = transaction;
            read.CommandText = "SELECT max(version) FROM schema_version";
            var current = await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long v ? (int)v : 0;
            if (current > Migrations.Length)
            {
                throw new InvalidOperationException($"{_path} has prediction log schema version {current}, newer than this gateway's {Migrations.Length}");
            }

            if (current == Migrations.Length)
            {
                return;
            }

            using var step = connection.CreateCommand();
            step.Transaction = transaction;
            step.CommandText = Migrations[current] + $"\nINSERT INTO schema_version (version) VALUES ({current + 1});";
            await step.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task WriteAsync(string batchId, ReadOnlyMemory<PredictionRecord> records, CancellationToken cancellationToken)
    {
        if (_writer is null || _insert is null)
        {
            await InitializeAsync(cancellationToken).ConfigureAwait(false);
        }

        var connection = _writer!;
        try
        {
            WriteBatch(connection, batchId, records.Span);
        }
        catch (SqliteException)
        {
            _newFeatureSets.Clear();
            // A failed connection (file gone, disk full) is reopened on the next try.
            await DisposeWriterAsync().ConfigureAwait(false);
            throw;
        }
    }

    private void WriteBatch(SqliteConnection connection, string batchId, ReadOnlySpan<PredictionRecord> records)
    {
        using var transaction = connection.BeginTransaction();
        using (var mark = connection.CreateCommand())
        {
            mark.Transaction = transaction;
            mark.CommandText = "INSERT OR IGNORE INTO ingest_batches (batch_id, records, written_at_ms) VALUES ($id, $n, $at)";
            mark.Parameters.AddWithValue("$id", batchId);
            mark.Parameters.AddWithValue("$n", records.Length);
            mark.Parameters.AddWithValue("$at", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            if (mark.ExecuteNonQuery() == 0)
            {
                return; // stored by an earlier try whose answer was lost
            }
        }

        var insert = _insert!;
        insert.Transaction = transaction;
        var p = insert.Parameters;
        foreach (var record in records)
        {
            p[0].Value = record.RequestId;
            p[1].Value = record.EventTimeUnixMs;
            p[2].Value = record.ServedAtUnixMs;
            p[3].Value = record.Model;
            p[4].Value = record.Version;
            p[5].Value = record.Arm;
            p[6].Value = record.Shadow ? 1L : 0L;
            p[7].Value = record.EntityId;
            p[8].Value = record.FeatureNames is { } names ? FeatureSetId(connection, transaction, record.Model, record.Version, names) : DBNull.Value;
            p[9].Value = record.FeatureCount == 0 ? DBNull.Value : Blob(0, MemoryMarshal.AsBytes(record.Features));
            p[10].Value = record.DefaultedCount == 0 ? DBNull.Value : Blob(1, MemoryMarshal.AsBytes(record.Defaulted));
            p[11].Value = record.OutputCount == 0 ? DBNull.Value : Blob(2, MemoryMarshal.AsBytes(record.Outputs));
            p[12].Value = (long)record.Rows;
            p[13].Value = record.InputsOmitted ? 1L : 0L;
            p[14].Value = record.QueueMicroseconds;
            p[15].Value = record.ComputeMicroseconds;
            p[16].Value = record.TotalMicroseconds;
            p[17].Value = (long)record.Status;
            insert.ExecuteNonQuery();
        }

        transaction.Commit();
        foreach (var (names, key, id) in _newFeatureSets)
        {
            _featureSets.Add(names, key, id);
        }

        _newFeatureSets.Clear();
    }

    /// <summary>
    /// A reused array of exactly the span's length (SQLite copies a bound blob when the statement runs): no garbage
    /// per record for the usual few lengths. <paramref name="slot"/> keeps the three blob parameters' arrays apart.
    /// </summary>
    private byte[] Blob(int slot, ReadOnlySpan<byte> bytes)
    {
        var key = (bytes.Length << 2) | slot;
        ref var array = ref CollectionsMarshal.GetValueRefOrAddDefault(_blobs, key, out _);
        array ??= new byte[bytes.Length];
        bytes.CopyTo(array);
        return array;
    }

    private long FeatureSetId(SqliteConnection connection, SqliteTransaction transaction, string model, string version, IReadOnlyList<string> names)
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

        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO feature_sets (model, version, names) VALUES ($model, $version, $names)
              ON CONFLICT (model, version, names) DO UPDATE SET names = excluded.names
            RETURNING id
            """;
        command.Parameters.AddWithValue("$model", model);
        command.Parameters.AddWithValue("$version", version);
        command.Parameters.AddWithValue("$names", FeatureSetCache.NamesJson(names));
        var id = (long)command.ExecuteScalar()!;
        _newFeatureSets.Add((names, key, id));
        return id;
    }

    /// <inheritdoc />
    public async Task WriteOutcomesAsync(IReadOnlyList<OutcomeRecord> outcomes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO outcomes (request_id, label, event_time_ms, received_at_ms) VALUES ($id, $label, $time, $received)
              ON CONFLICT (request_id) DO UPDATE SET label = excluded.label, event_time_ms = excluded.event_time_ms, received_at_ms = excluded.received_at_ms
            """;
        var id = command.Parameters.Add("$id", SqliteType.Text);
        var label = command.Parameters.Add("$label", SqliteType.Real);
        var time = command.Parameters.Add("$time", SqliteType.Integer);
        var received = command.Parameters.Add("$received", SqliteType.Integer);
        foreach (var outcome in outcomes)
        {
            id.Value = outcome.RequestId;
            label.Value = outcome.Label;
            time.Value = outcome.EventTimeUnixMs;
            received.Value = outcome.ReceivedAtUnixMs;
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<EvaluationRow> ReadEvaluationRowsAsync(string model, long fromUnixMs, long toUnixMs, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT p.version, p.arm, p.shadow, p.request_id, p.outputs, p.total_us, o.label
            FROM predictions p LEFT JOIN outcomes o ON o.request_id = p.request_id
            WHERE p.model = $model AND p.event_time_ms >= $from AND p.event_time_ms < $to AND p.status = 0 AND p.rows = 1
            """;
        command.Parameters.AddWithValue("$model", model);
        command.Parameters.AddWithValue("$from", fromUnixMs);
        command.Parameters.AddWithValue("$to", toUnixMs <= 0 ? long.MaxValue : toUnixMs);
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var score = new byte[4];
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var value = float.NaN;
            if (!reader.IsDBNull(4) && reader.GetBytes(4, 0, score, 0, 4) == 4)
            {
                value = BitConverter.ToSingle(score);
            }

            yield return new EvaluationRow(
                reader.GetString(0), reader.GetString(1), reader.GetInt64(2) != 0, reader.GetString(3), value, reader.GetInt64(5),
                reader.IsDBNull(6) ? double.NaN : reader.GetDouble(6));
        }
    }

    /// <inheritdoc />
    public async Task<long> CountPredictionsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM predictions";
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await DisposeWriterAsync().ConfigureAwait(false);
    }

    private async Task DisposeWriterAsync()
    {
        if (_insert is not null)
        {
            await _insert.DisposeAsync().ConfigureAwait(false);
            _insert = null;
        }

        if (_writer is not null)
        {
            await _writer.DisposeAsync().ConfigureAwait(false);
            _writer = null;
        }
    }

    /// <summary>
    /// A connection with the log's pragmas: WAL with synchronous NORMAL (a committed batch survives a crash of the
    /// process; a power cut may undo the last ones), a busy timeout for the writer and outcome calls sharing the file,
    /// and the size cap when one is set.
    /// </summary>
    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            var pragmas = "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=OFF;";
            if (_maxBytes > 0)
            {
                pragmas += $" PRAGMA max_page_count={Math.Max(1, _maxBytes / 4096)};";
            }

            await ExecuteAsync(connection, pragmas, cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
