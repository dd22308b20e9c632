namespace InferenceGateway.Core.PredictionLog;

/// <summary>Which sink stores the prediction log.</summary>
public enum PredictionSinkKind
{
    /// <summary>No prediction log: nothing is recorded, ReportOutcomes and Evaluate answer FAILED_PRECONDITION.</summary>
    None,

    /// <summary>A SQLite file (WAL) under the data directory: the embedded default.</summary>
    Sqlite,

    /// <summary>PostgreSQL through Npgsql: binary COPY into a table partitioned by event time.</summary>
    PostgreSql,
}

/// <summary>What a full buffer does to a new record.</summary>
public enum OverflowPolicy
{
    /// <summary>The record is dropped and counted; the caller's answer is not delayed. The default.</summary>
    Drop,

    /// <summary>The caller waits for room (within its deadline) before it answers; nothing answered goes unrecorded.</summary>
    PushBack,
}

/// <summary>When a Predict answers relative to the storing of its record (like PostgreSQL's synchronous_commit, Kafka's acks).</summary>
public enum AcknowledgeMode
{
    /// <summary>
    /// The answer goes out once the record is in the buffer; the writer stores it within about a flush interval. A crash
    /// of the process loses what the buffer held. The default.
    /// </summary>
    Buffered,

    /// <summary>
    /// A Predict answers only once the sink committed its record (group commit: the writer flushes at once when a
    /// caller waits, and one commit acknowledges every record it held). An answered Predict's record survives a crash
    /// of the process; a record that cannot be stored fails the call (UNAVAILABLE / RESOURCE_EXHAUSTED) instead.
    /// </summary>
    Committed,
}

/// <summary>The prediction log's settings; defaults here are the documented defaults.</summary>
public sealed class PredictionLogOptions
{
    /// <summary>The sink; <see cref="PredictionSinkKind.Sqlite"/> by default.</summary>
    public PredictionSinkKind Sink { get; set; } = PredictionSinkKind.Sqlite;

    /// <summary>The SQLite file (the host puts it under its data directory).</summary>
    public string SqlitePath { get; set; } = Path.Combine("data", "predictions.db");

    /// <summary>Npgsql connection string, for <see cref="PredictionSinkKind.PostgreSql"/>.</summary>
    public string? PostgreSqlConnectionString { get; set; }

    /// <summary>Records the buffer holds (rounded up to a power of two): what a slow or down sink can fall behind by.</summary>
    public int Capacity { get; set; } = 262_144;

    /// <summary>What a full buffer does to a new record.</summary>
    public OverflowPolicy OverflowPolicy { get; set; } = OverflowPolicy.Drop;

    /// <summary>When a Predict answers: once its record is buffered (the default) or once the sink committed it.</summary>
    public AcknowledgeMode Acknowledge { get; set; } = AcknowledgeMode.Buffered;

    /// <summary>
    /// Longest a record waits in the buffer before the writer hands it to the sink (sooner when a batch fills): while
    /// the sink keeps up, a crash of the process loses at most the records of this interval (and of a write under way).
    /// Short by default also for latency: the writer's CPU comes in small slices (a 1 s interval made one ~40 ms burst
    /// a second at 4.6k records/s on 2 cores, which showed in Predict's p99).
    /// </summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Most records per sink write (one transaction).</summary>
    public int BatchSize { get; set; } = 4096;

    /// <summary>First wait after a failed write; doubles per failure (with jitter) up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryInitialDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest wait between retries of a failing sink.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Most input or output values one record keeps (a ModelInfer call of many rows); beyond it the inputs are not
    /// recorded (the record says so) and the outputs are cut to this many.
    /// </summary>
    public int MaxValuesPerRecord { get; set; } = 4096;

    /// <summary>Every problem with these settings (empty when valid), named by their keys under <paramref name="prefix"/>.</summary>
    public List<string> Validate(string prefix = "")
    {
        var errors = new List<string>();
        if (Sink == PredictionSinkKind.PostgreSql && string.IsNullOrWhiteSpace(PostgreSqlConnectionString))
        {
            errors.Add($"{prefix}PostgreSqlConnectionString is required when {prefix}Sink is PostgreSql");
        }

        if (Sink == PredictionSinkKind.Sqlite && string.IsNullOrWhiteSpace(SqlitePath))
        {
            errors.Add($"{prefix}SqlitePath must not be empty");
        }

        if (Capacity is < 16 or > (1 << 26))
        {
            errors.Add($"{prefix}Capacity {Capacity} must be between 16 and 67108864 records");
        }

        if (BatchSize < 1 || BatchSize > Capacity)
        {
            errors.Add($"{prefix}BatchSize {BatchSize} must be between 1 and Capacity ({Capacity})");
        }

        if (FlushInterval <= TimeSpan.Zero || FlushInterval > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{prefix}FlushInterval {FlushInterval} must be above 0 and at most 00:10:00");
        }

        if (RetryInitialDelay <= TimeSpan.Zero || RetryMaxDelay < RetryInitialDelay)
        {
            errors.Add($"{prefix}RetryInitialDelay must be above 0 and at most RetryMaxDelay");
        }

        if (!Enum.IsDefined(Acknowledge))
        {
            errors.Add($"{prefix}Acknowledge {Acknowledge} must be Buffered or Committed");
        }

        if (MaxValuesPerRecord < 1)
        {
            errors.Add($"{prefix}MaxValuesPerRecord must be at least 1");
        }

        return errors;
    }
}
