using System.Threading.Channels;
using Grpc.Core;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Core.Features;
using InferenceGateway.Server.Transport;
using ContractFeatureValue = InferenceGateway.Contracts.Gateway.FeatureValue;

namespace InferenceGateway.Server.Features;

/// <summary>
/// <c>gateway.v1.Gateway</c>, the domain API: Predict and PredictStream enrich a request with the features its model
/// version lists; IngestEvents feeds the streaming feature state; GetFeatures answers what a model would have seen.
/// </summary>
public sealed partial class GatewayService : Gateway.GatewayBase
{
    /// <summary>Predictions of one PredictStream computed ahead of the one being answered (answers stay in order).</summary>
    internal const int MaxStreamInFlight = 32;

    /// <summary>Kafka writes of one IngestEvents call awaiting acknowledgement before the next event is read.</summary>
    internal const int MaxKafkaInFlight = 4096;

    private readonly PredictExecutor _predict;
    private readonly FeatureEngine _features;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly PredictionLog.OutcomeAndEvaluationHandler _outcomes;

    private readonly ScaleOut.KafkaProducerHolder? _kafka;
    private readonly ScaleOut.RedisFeatureStore? _store;
    private readonly ScaleOut.KafkaSettings? _kafkaSettings;

    /// <summary>Creates the service; with <paramref name="kafka"/> and <paramref name="store"/> (scale-out) events go to Kafka and lookups to Redis.</summary>
    public GatewayService(PredictExecutor predict, FeatureEngine features, TimeProvider time, ILogger<GatewayService> logger, PredictionLog.OutcomeAndEvaluationHandler outcomes,
        ScaleOut.KafkaProducerHolder? kafka = null, ScaleOut.RedisFeatureStore? store = null, Hosting.GatewayOptions? options = null)
    {
        _kafkaSettings = options?.Kafka;
        _kafka = kafka;
        _store = store;
        _outcomes = outcomes;
        _predict = predict;
        _features = features;
        _time = time;
        _logger = logger;
    }

    /// <summary>Binds the generated methods through the gateway's binder.</summary>
    internal static void Bind(GatewayServiceBinder<GatewayService> binder, GatewayService service) => Gateway.BindService(binder, service);

    /// <inheritdoc />
    public override Task<PredictResponse> Predict(PredictRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return _predict.PredictAsync(request, context.Deadline, context.CancellationToken);
    }

    /// <summary>
    /// Predicts a stream of requests, up to <see cref="MaxStreamInFlight"/> at once, and answers in request order. A
    /// request that fails ends the stream with its status once the answers before it have been written.
    /// </summary>
    public override async Task PredictStream(IAsyncStreamReader<PredictRequest> requestStream, IServerStreamWriter<PredictResponse> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        var token = context.CancellationToken;
        var deadline = context.Deadline;
        var pending = Channel.CreateBounded<Task<PredictResponse>>(new BoundedChannelOptions(MaxStreamInFlight) { SingleReader = true, SingleWriter = true });

        // A failed prediction stops the reading of requests too: the call ends with its status at once, even while the
        // client still has its request stream open.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(token);
        var writer = WriteInOrderAsync(pending.Reader, responseStream, stop, token);
        try
        {
            while (await requestStream.MoveNext(stop.Token).ConfigureAwait(false))
            {
                var prediction = _predict.PredictAsync(requestStream.Current, deadline, token);
                await pending.Writer.WriteAsync(prediction, stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested && !token.IsCancellationRequested)
        {
            // The writer's failure is the call's outcome (below).
        }
        finally
        {
            pending.Writer.TryComplete();
        }

        await writer.ConfigureAwait(false);
    }

    private static async Task WriteInOrderAsync(ChannelReader<Task<PredictResponse>> pending, IServerStreamWriter<PredictResponse> responses, CancellationTokenSource stop, CancellationToken token)
    {
        try
        {
            while (await pending.WaitToReadAsync(token).ConfigureAwait(false))
            {
                while (pending.TryRead(out var prediction))
                {
                    await responses.WriteAsync(await prediction.ConfigureAwait(false), token).ConfigureAwait(false);
                }
            }
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Applies each event to the feature state as it arrives and answers, when the client ends its stream, how many were
    /// applied, dropped as too late, or rejected (with the first rejection's reason). A bad event never ends the stream.
    /// </summary>
    public override async Task<IngestSummary> IngestEvents(IAsyncStreamReader<Event> requestStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(context);
        var token = context.CancellationToken;
        if (_kafka is not null)
        {
            return await IngestToKafkaAsync(requestStream, _kafka, _store!, token).ConfigureAwait(false);
        }

        var summary = new IngestSummary();
        while (await requestStream.MoveNext(token).ConfigureAwait(false))
        {
            var e = requestStream.Current;
            var result = _features.Ingest(e.Stream, e.EntityId, e.EventTimeUnixMs, e.Numbers, e.Strings);
            switch (result.Outcome)
            {
                case IngestOutcome.Accepted:
                    summary.Accepted++;
                    break;
                case IngestOutcome.DroppedLate:
                    summary.DroppedLate++;
                    break;
                default:
                    if (summary.Rejected++ == 0)
                    {
                        summary.FirstRejection = result.Message;
                    }

                    break;
            }
        }

        if (summary.Rejected > 0 || summary.DroppedLate > 0)
        {
            Log.IngestNotAllApplied(_logger, summary.Accepted, summary.DroppedLate, summary.Rejected, summary.FirstRejection);
        }

        return summary;
    }

    /// <summary>
    /// Scale-out IngestEvents: each well-formed event is written to its stream's Kafka topic, and counted accepted once
    /// the log acknowledged it (the consuming replica applies it within milliseconds; lateness is judged there). Malformed
    /// ones are rejected here as in-process. Up to <see cref="MaxKafkaInFlight"/> writes are in flight per call; if Kafka
    /// fails to acknowledge any, the call fails with UNAVAILABLE (the events before it may be in the log: a client that
    /// retries the whole stream may write some twice, as with any at-least-once producer).
    /// </summary>
    private async Task<IngestSummary> IngestToKafkaAsync(IAsyncStreamReader<Event> requestStream, ScaleOut.KafkaProducerHolder kafka, ScaleOut.RedisFeatureStore store, CancellationToken token)
    {
        var summary = new IngestSummary();
        var pending = new Queue<Task<Confluent.Kafka.DeliveryResult<byte[]?, byte[]>>>();
        var written = new Dictionary<(string Topic, int Partition), long>();
        void Delivered(Confluent.Kafka.DeliveryResult<byte[]?, byte[]> delivery)
        {
            var key = (delivery.Topic, delivery.Partition.Value);
            written[key] = Math.Max(written.GetValueOrDefault(key, -1), delivery.Offset.Value);
            summary.Accepted++;
        }

        try
        {
            while (await requestStream.MoveNext(token).ConfigureAwait(false))
            {
                var e = requestStream.Current;
                var result = _features.Validate(e.Stream, e.EntityId, e.EventTimeUnixMs, e.Numbers, e.Strings);
                if (!result.IsAccepted)
                {
                    if (summary.Rejected++ == 0)
                    {
                        summary.FirstRejection = result.Message;
                    }

                    continue;
                }

                pending.Enqueue(kafka.ProduceAsync(e, token));
                if (pending.Count >= MaxKafkaInFlight)
                {
                    Delivered(await pending.Dequeue().ConfigureAwait(false));
                }
            }

            while (pending.TryDequeue(out var delivery))
            {
                Delivered(await delivery.ConfigureAwait(false));
            }
        }
        catch (Confluent.Kafka.KafkaException ex)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"Kafka did not acknowledge an event ({ex.Error.Reason}); {summary.Accepted} before it were acknowledged"));
        }

        if (_kafkaSettings is { AcknowledgeWhenApplied: true } settings && written.Count > 0
            && !await store.WaitAppliedAsync(written, settings.ApplyWaitTimeout, token).ConfigureAwait(false))
        {
            Log.IngestNotYetApplied(_logger, summary.Accepted, settings.ApplyWaitTimeout.TotalSeconds);
        }

        return summary;
    }

    /// <summary>The named features of one entity as of a time (0 = now), in the order asked.</summary>
    public override async Task<GetFeaturesResponse> GetFeatures(GetFeaturesRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Names.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "GetFeaturesRequest.names is empty"));
        }

        if (request.AsOfUnixMs < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"GetFeaturesRequest.as_of_unix_ms is negative ({request.AsOfUnixMs})"));
        }

        var asOf = request.AsOfUnixMs == 0 ? _time.GetUtcNow().ToUnixTimeMilliseconds() : request.AsOfUnixMs;
        Core.Features.FeatureValue[] values;
        FeatureAssemblyResult result;
        try
        {
            var featureRequest = new FeatureRequest(request.EntityId, asOf);
            var shared = _store is null ? null : await _store.FetchAsync(featureRequest, context.CancellationToken).ConfigureAwait(false);
            values = _features.GetFeatures(request.Names, featureRequest, shared, out result);
        }
        catch (UnknownFeatureException ex)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"unknown feature(s): {string.Join(", ", ex.Names)}"));
        }

        if (!result.IsSuccess)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, result.Message));
        }

        var response = new GetFeaturesResponse();
        foreach (var value in values)
        {
            response.Features.Add(new ContractFeatureValue { Name = value.Name, Value = value.Value, Defaulted = value.Defaulted });
        }

        return response;
    }

    /// <summary>Stores outcomes (labels) by request id, in any order; answers with counts when the client ends its stream.</summary>
    public override Task<OutcomeSummary> ReportOutcomes(IAsyncStreamReader<Outcome> requestStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return _outcomes.ReportOutcomesAsync(requestStream, context.CancellationToken);
    }

    /// <summary>Evaluates a model's recorded predictions per version, arm and shadow over a range of event times.</summary>
    public override Task<EvaluateResponse> Evaluate(EvaluateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return _outcomes.EvaluateAsync(request, context.CancellationToken);
    }

    private static partial class Log
    {
        [LoggerMessage(2, LogLevel.Warning, "IngestEvents: {Accepted} events are in Kafka but not all applied after {Seconds} s (a replica's partitions moving?); acknowledged anyway", EventName = "IngestNotYetApplied")]
        public static partial void IngestNotYetApplied(ILogger logger, long accepted, double seconds);

        [LoggerMessage(1, LogLevel.Debug, "IngestEvents applied {Accepted}, dropped {DroppedLate} as late, rejected {Rejected} (first: {FirstRejection})", EventName = "IngestNotAllApplied")]
        public static partial void IngestNotAllApplied(ILogger logger, long accepted, long droppedLate, long rejected, string firstRejection);
    }
}
