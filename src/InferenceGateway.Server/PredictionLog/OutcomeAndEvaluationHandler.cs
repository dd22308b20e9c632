using Grpc.Core;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Core.Evaluation;
using InferenceGateway.Core.PredictionLog;

namespace InferenceGateway.Server.PredictionLog;

/// <summary>
/// gateway.v1's ReportOutcomes and Evaluate over the prediction log. Outcomes are stored synchronously in batches as
/// the stream arrives, so the summary's <c>accepted</c> count is what is committed; evaluation reads the sink.
/// </summary>
public sealed partial class OutcomeAndEvaluationHandler
{
    /// <summary>Outcomes stored per transaction while a stream is read.</summary>
    internal const int OutcomeBatchSize = 2000;

    private readonly Core.PredictionLog.PredictionLog _log;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Creates the handler.</summary>
    public OutcomeAndEvaluationHandler(Core.PredictionLog.PredictionLog log, TimeProvider time, ILogger<OutcomeAndEvaluationHandler> logger)
    {
        _log = log;
        _time = time;
        _logger = logger;
    }

    /// <summary>
    /// Reads outcomes until the client ends its stream and stores them; a bad outcome is counted as rejected and never
    /// ends the stream. A sink failure ends the call with UNAVAILABLE saying how many were stored before it (resending
    /// is safe: an outcome replaces an earlier one for the same request id).
    /// </summary>
    public async Task<OutcomeSummary> ReportOutcomesAsync(IAsyncStreamReader<Outcome> requestStream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ThrowIfOff();
        var summary = new OutcomeSummary();
        var batch = new List<OutcomeRecord>(OutcomeBatchSize);
        string? firstRejection = null;
        while (await requestStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var outcome = requestStream.Current;
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var problem = outcome.RequestId.Length == 0 ? "request_id is empty"
                : !(outcome.Label is >= 0 and <= 1) ? $"label {outcome.Label} is not within [0, 1]"
                : outcome.EventTimeUnixMs < 0 ? $"event_time_unix_ms is negative ({outcome.EventTimeUnixMs})"
                : null;
            if (problem is not null)
            {
                summary.Rejected++;
                firstRejection ??= problem;
                continue;
            }

            batch.Add(new OutcomeRecord(outcome.RequestId, outcome.Label, outcome.EventTimeUnixMs == 0 ? now : outcome.EventTimeUnixMs, now));
            if (batch.Count == OutcomeBatchSize)
            {
                await StoreAsync(batch, summary, cancellationToken).ConfigureAwait(false);
            }
        }

        await StoreAsync(batch, summary, cancellationToken).ConfigureAwait(false);
        if (summary.Rejected > 0)
        {
            Log.OutcomesRejected(_logger, summary.Accepted, summary.Rejected, firstRejection!);
        }

        return summary;
    }

    private async Task StoreAsync(List<OutcomeRecord> batch, OutcomeSummary summary, CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return;
        }

        try
        {
            await _log.WriteOutcomesAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch (PredictionSinkUnavailableException ex)
        {
            Log.OutcomesFailed(_logger, summary.Accepted, ex.Message);
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"the prediction log's sink failed after {summary.Accepted} outcomes of this stream were stored; resend the others (a resent outcome replaces the stored one): {ex.Message}"));
        }

        summary.Accepted += batch.Count;
        batch.Clear();
    }

    /// <summary>Evaluates a model's recorded predictions (see <see cref="ModelEvaluator"/>).</summary>
    public async Task<EvaluateResponse> EvaluateAsync(EvaluateRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfOff();
        var problem = request.Model.Length == 0 ? "EvaluateRequest.model is empty"
            : request.FromUnixMs < 0 ? $"EvaluateRequest.from_unix_ms is negative ({request.FromUnixMs})"
            : request.ToUnixMs < 0 ? $"EvaluateRequest.to_unix_ms is negative ({request.ToUnixMs})"
            : request.ToUnixMs != 0 && request.ToUnixMs <= request.FromUnixMs ? $"EvaluateRequest.to_unix_ms ({request.ToUnixMs}) is not after from_unix_ms ({request.FromUnixMs})"
            : !(request.Threshold is >= 0 and < 1) ? $"EvaluateRequest.threshold {request.Threshold} is not within [0, 1)"
            : null;
        if (problem is not null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, problem));
        }

        EvaluationReport report;
        try
        {
            report = await ModelEvaluator.EvaluateAsync(_log.Sink!, request.Model, request.FromUnixMs, request.ToUnixMs, request.Threshold, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not RpcException)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"the prediction log's sink ({_log.Sink!.Description}) failed: {ex.Message}"));
        }

        return ToResponse(report);
    }

    /// <summary>The contract's view of a report (comparisons are in the <c>evaluate</c> command and the HTML report).</summary>
    public static EvaluateResponse ToResponse(EvaluationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var response = new EvaluateResponse();
        foreach (var g in report.Groups)
        {
            response.Results.Add(new ArmEvaluation
            {
                Version = g.Version,
                Arm = g.Arm,
                Shadow = g.Shadow,
                Predictions = g.Predictions,
                Labelled = g.Labelled,
                Auc = g.Auc,
                AucLow = g.AucLow,
                AucHigh = g.AucHigh,
                LogLoss = g.LogLoss,
                Precision = g.Precision,
                Recall = g.Recall,
                LatencyP50Ms = g.LatencyP50Ms,
                LatencyP99Ms = g.LatencyP99Ms,
            });
        }

        return response;
    }

    private void ThrowIfOff()
    {
        if (_log.Sink is null)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "the prediction log is off (Gateway:PredictionLog:Sink is None)"));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "ReportOutcomes stored {Accepted}, rejected {Rejected} (first: {FirstRejection})", EventName = "OutcomesRejected")]
        public static partial void OutcomesRejected(ILogger logger, long accepted, long rejected, string firstRejection);

        [LoggerMessage(2, LogLevel.Warning, "ReportOutcomes failed after {Accepted} outcomes were stored: {Error}", EventName = "OutcomesFailed")]
        public static partial void OutcomesFailed(ILogger logger, long accepted, string error);
    }
}
