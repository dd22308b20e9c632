using InferenceGateway.Core.PredictionLog;

namespace InferenceGateway.Server.PredictionLog;

/// <summary>The prediction log (section <c>Gateway:PredictionLog</c>); defaults are the documented defaults.</summary>
public sealed class PredictionLogSettings
{
    private const string Prefix = "Gateway:PredictionLog:";

    /// <summary>"Sqlite" (default: a file under the data directory), "PostgreSql", or "None" (no log).</summary>
    public string Sink { get; set; } = "Sqlite";

    /// <summary>The SQLite file; empty: <c>predictions.db</c> in the data directory.</summary>
    public string? SqlitePath { get; set; }

    /// <summary>Cap on the SQLite file's size in bytes (SQLite's max_page_count); 0: no cap. Beyond it writes fail as on a full disk.</summary>
    public long SqliteMaxBytes { get; set; }

    /// <summary>Npgsql connection string for the PostgreSql sink.</summary>
    public string? PostgreSqlConnectionString { get; set; }

    /// <summary>Records the buffer holds (rounded up to a power of two).</summary>
    public int Capacity { get; set; } = 262_144;

    /// <summary>"Drop" (default: drop and count) or "PushBack" (callers wait for room within their deadline).</summary>
    public string OverflowPolicy { get; set; } = "Drop";

    /// <summary>
    /// "Buffered" (default: a Predict answers once its record is buffered) or "Committed" (a Predict answers only once
    /// the sink committed its record; UNAVAILABLE / RESOURCE_EXHAUSTED when it cannot be).
    /// </summary>
    public string Acknowledge { get; set; } = "Buffered";

    /// <summary>Longest a record waits before it is written; what a crash can lose while the sink keeps up.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Most records per write.</summary>
    public int BatchSize { get; set; } = 4096;

    /// <summary>First retry delay after a failed write (doubles up to <see cref="RetryMaxDelay"/>).</summary>
    public TimeSpan RetryInitialDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest retry delay.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Most input or output values one record keeps (large ModelInfer calls).</summary>
    public int MaxValuesPerRecord { get; set; } = 4096;

    /// <summary>The core options these settings give, with the SQLite file under <paramref name="dataDirectory"/> by default.</summary>
    public PredictionLogOptions ToOptions(string dataDirectory) => new()
    {
        Sink = Enum.TryParse<PredictionSinkKind>(Sink, ignoreCase: true, out var sink) ? sink : PredictionSinkKind.None,
        SqlitePath = string.IsNullOrWhiteSpace(SqlitePath) ? Path.Combine(dataDirectory, "predictions.db") : SqlitePath,
        PostgreSqlConnectionString = PostgreSqlConnectionString,
        Capacity = Capacity,
        OverflowPolicy = Enum.TryParse<OverflowPolicy>(OverflowPolicy, ignoreCase: true, out var policy) ? policy : Core.PredictionLog.OverflowPolicy.Drop,
        Acknowledge = Enum.TryParse<AcknowledgeMode>(Acknowledge, ignoreCase: true, out var acknowledge) ? acknowledge : AcknowledgeMode.Buffered,
        FlushInterval = FlushInterval,
        BatchSize = BatchSize,
        RetryInitialDelay = RetryInitialDelay,
        RetryMaxDelay = RetryMaxDelay,
        MaxValuesPerRecord = MaxValuesPerRecord,
    };

    /// <summary>The sink these settings name (null for None).</summary>
    public static IPredictionSink? CreateSink(PredictionLogOptions options, long sqliteMaxBytes)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Sink switch
        {
            PredictionSinkKind.Sqlite => new SqlitePredictionSink(options.SqlitePath, sqliteMaxBytes),
            PredictionSinkKind.PostgreSql => new PostgresPredictionSink(options.PostgreSqlConnectionString!),
            _ => null,
        };
    }

    internal void Validate(List<string> errors, string dataDirectory)
    {
        if (!Enum.TryParse<PredictionSinkKind>(Sink, ignoreCase: true, out _) || int.TryParse(Sink, out _))
        {
            errors.Add($"{Prefix}Sink '{Sink}' must be Sqlite, PostgreSql or None");
            return;
        }

        if (!Enum.TryParse<OverflowPolicy>(OverflowPolicy, ignoreCase: true, out _) || int.TryParse(OverflowPolicy, out _))
        {
            errors.Add($"{Prefix}OverflowPolicy '{OverflowPolicy}' must be Drop or PushBack");
        }

        if (!Enum.TryParse<AcknowledgeMode>(Acknowledge, ignoreCase: true, out _) || int.TryParse(Acknowledge, out _))
        {
            errors.Add($"{Prefix}Acknowledge '{Acknowledge}' must be Buffered or Committed");
        }

        if (SqliteMaxBytes < 0)
        {
            errors.Add($"{Prefix}SqliteMaxBytes must not be negative");
        }

        var options = ToOptions(dataDirectory);
        if (options.Sink == PredictionSinkKind.PostgreSql && !string.IsNullOrWhiteSpace(PostgreSqlConnectionString))
        {
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(PostgreSqlConnectionString);
            }
            catch (ArgumentException ex)
            {
                errors.Add($"{Prefix}PostgreSqlConnectionString is not a valid connection string: {ex.Message}");
            }
        }

        errors.AddRange(options.Validate(Prefix));
    }
}
