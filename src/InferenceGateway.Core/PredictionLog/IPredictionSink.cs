namespace InferenceGateway.Core.PredictionLog;

/// <summary>
/// Where the prediction log is stored. One interface for every engine (SQLite, PostgreSQL); the writer calls
/// <see cref="WriteAsync"/> from one task at a time, outcomes and reads may come concurrently from calls.
/// </summary>
public interface IPredictionSink : IAsyncDisposable
{
    /// <summary>What the sink is, for logs and /readyz (never a password).</summary>
    string Description { get; }

    /// <summary>Connects, creates the schema or migrates it to the current version. Idempotent; retried while it fails.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Stores a batch in one transaction: all or nothing. <paramref name="batchId"/> is unique per batch and the same
    /// on every retry of it; a batch whose id is already stored (its commit succeeded but the answer was lost) is
    /// skipped, so a retry never stores a record twice.
    /// </summary>
    Task WriteAsync(string batchId, ReadOnlyMemory<PredictionRecord> records, CancellationToken cancellationToken);

    /// <summary>Stores outcomes in one transaction; a later outcome for the same request id replaces the earlier one.</summary>
    Task WriteOutcomesAsync(IReadOnlyList<OutcomeRecord> outcomes, CancellationToken cancellationToken);

    /// <summary>
    /// The single-row predictions of <paramref name="model"/> whose event time is in [<paramref name="fromUnixMs"/>,
    /// <paramref name="toUnixMs"/>) (0 = unbounded) and whose status is OK, each with its label joined by request id.
    /// </summary>
    IAsyncEnumerable<EvaluationRow> ReadEvaluationRowsAsync(string model, long fromUnixMs, long toUnixMs, CancellationToken cancellationToken);

    /// <summary>Predictions stored (all models), for operations and tests.</summary>
    Task<long> CountPredictionsAsync(CancellationToken cancellationToken);
}
