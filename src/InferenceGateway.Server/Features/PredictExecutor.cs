using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Grpc.Core;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Features;
using InferenceGateway.Core.Models;
using InferenceGateway.Core.PredictionLog;
using InferenceGateway.Core.Routing;
using InferenceGateway.Server.Experiments;
using InferenceGateway.Server.Services;
using ContractFeatureValue = InferenceGateway.Contracts.Gateway.FeatureValue;

namespace InferenceGateway.Server.Features;

/// <summary>
/// The domain Predict: resolves the model version, computes the features the version lists (streaming ones as of the
/// request's event time, request-time ones from the request) straight into its input row, runs the row through the
/// version's batcher and answers its scores.
/// </summary>
public sealed partial class PredictExecutor
{
    private readonly InferenceExecutor _versions;
    private readonly FeatureEngine _features;
    private readonly GatewayMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IPredictionRecorder _log;
    private readonly ConditionalWeakTable<ModelVersion, VersionPlan> _plans = new();
    private readonly ModelRepository _repository;
    private readonly ExperimentRouter _router;
    private readonly ShadowMirror _shadows;
    private readonly ScaleOut.RedisFeatureStore? _store;

    /// <summary>Creates the executor; with <paramref name="store"/> the streaming features come from the shared Redis store.</summary>
    public PredictExecutor(InferenceExecutor versions, FeatureEngine features, GatewayMetrics metrics, TimeProvider time, ILogger<PredictExecutor> logger,
        IPredictionRecorder log, ModelRepository repository, ExperimentRouter router, ShadowMirror shadows, ScaleOut.RedisFeatureStore? store = null)
    {
        _store = store;
        _log = log;
        _versions = versions;
        _features = features;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _repository = repository;
        _router = router;
        _shadows = shadows;
    }

    /// <summary>Scores one request; failures are <see cref="RpcException"/>s with the status and a message naming the field.</summary>
    public async Task<PredictResponse> PredictAsync(PredictRequest request, DateTime deadline, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var start = Stopwatch.GetTimestamp();
        var requestId = request.RequestId.Length > 0 ? request.RequestId : Guid.CreateVersion7().ToString();
        if (request.Model.Length == 0)
        {
            _metrics.Record("_unknown", "", "", StatusCode.InvalidArgument, start);
            throw Invalid("PredictRequest.model is empty");
        }

        ModelVersion version;
        RouteDecision route;
        try
        {
            route = Route(request, requestId);
            version = _versions.Acquire(request.Model, route.Version);
        }
        catch (RpcException ex)
        {
            _metrics.Record("_unknown", "", "", ex.StatusCode, start);
            Log.PredictFailed(_logger, requestId, request.Model, request.Version, ex.StatusCode, ex.Status.Detail);
            throw;
        }

        var status = StatusCode.Unknown;
        BatchRequest? batchRequest = null;
        byte[]? input = null;
        byte[]? output = null;
        VersionPlan? plan = null;
        SharedLookup? shared = null;
        var recorded = false; // the log already had this call's record (Acknowledge=Committed): no failure record
        var eventTime = request.EventTimeUnixMs;
        try
        {
            plan = PlanFor(version);
            if (eventTime < 0)
            {
                throw Invalid($"PredictRequest.event_time_unix_ms is negative ({eventTime})");
            }

            if (eventTime == 0)
            {
                eventTime = _time.GetUtcNow().ToUnixTimeMilliseconds();
            }

            var width = plan.Plan.Count;
            var featureRequest = new FeatureRequest(request.EntityId, eventTime, request.Features, request.Attributes);
            if (_store is not null && plan.Plan.Streams.Count > 0)
            {
                // One round trip for every stream's entity; shadows of this call read the same fetched state.
                shared = await _store.FetchAsync(featureRequest, cancellationToken).ConfigureAwait(false);
            }

            // The row, then one defaulted flag per feature: the flags outlive the batch's await for the prediction log.
            input = ArrayPool<byte>.Shared.Rent(width * (sizeof(float) + sizeof(bool)));
            output = ArrayPool<byte>.Shared.Rent(plan.OutputBytes);
            var values = MemoryMarshal.Cast<byte, float>(input.AsSpan(0, width * sizeof(float)));
            var defaulted = MemoryMarshal.Cast<byte, bool>(input.AsSpan(width * sizeof(float), width));
            defaulted.Clear();
            var assembled = plan.Plan.Assemble(featureRequest, values, defaulted, shared);
            if (!assembled.IsSuccess)
            {
                throw Invalid(assembled.Message);
            }

            var response = new PredictResponse { RequestId = requestId, Model = version.Name, Version = version.Version, Arm = route.Arm };
            if (request.ReturnFeatures)
            {
                for (var i = 0; i < width; i++)
                {
                    response.Features.Add(new ContractFeatureValue { Name = plan.Plan.FeatureNames[i], Value = values[i], Defaulted = defaulted[i] });
                }
            }

            batchRequest = version.Batcher.RentRequest();
            batchRequest.Rows = 1;
            batchRequest.SetInput(0, input.AsMemory(0, width * sizeof(float)));
            batchRequest.SetOutput(0, output.AsMemory(0, plan.OutputBytes));
            if (deadline != DateTime.MaxValue)
            {
                var remaining = deadline - DateTime.UtcNow;
                if (remaining <= TimeSpan.Zero)
                {
                    throw new RpcException(new Status(StatusCode.DeadlineExceeded, "deadline exceeded before the request was queued"));
                }

                batchRequest.Deadline = version.Batcher.GetDeadline(remaining);
            }

            batchRequest.CancellationToken = cancellationToken;
            var result = await version.Batcher.EnqueueAsync(batchRequest).ConfigureAwait(false);
            if (!result.IsSuccess)
            {
                throw new RpcException(new Status(InferenceExecutor.ToStatusCode(result.Reason), $"{version}: {result.Message}"));
            }

            foreach (var score in MemoryMarshal.Cast<byte, float>(output.AsSpan(0, plan.OutputBytes)))
            {
                response.Scores.Add(score);
            }

            if (_log.IsEnabled)
            {
                var logged = Record(request, requestId, eventTime, version, route.Arm, plan, input, output, batchRequest, start, StatusCode.OK, out var sequence);
                if (logged == RecordResult.Full)
                {
                    // Overflow policy PushBack: the answer waits for room in the log, so no answered prediction goes unrecorded.
                    (logged, sequence) = await RecordWhenRoomAsync(request, requestId, eventTime, version, route.Arm, plan, input, output, batchRequest, start, cancellationToken).ConfigureAwait(false);
                }

                if (_log.Acknowledge == AcknowledgeMode.Committed)
                {
                    recorded = true;
                    await WaitCommittedAsync(logged, sequence, deadline, cancellationToken).ConfigureAwait(false);
                }
            }

            status = StatusCode.OK;
            return response;
        }
        catch (RpcException ex)
        {
            status = ex.StatusCode;
            if (_log.IsEnabled && plan is { Error: null } && status != StatusCode.ResourceExhausted && !recorded)
            {
                // Failed predictions are recorded with their status (never waited for: a full log drops them, counted).
                Record(request, requestId, eventTime, version, route.Arm, plan, input, null, null, start, status, out _);
            }

            if (status == StatusCode.Internal)
            {
                Log.PredictFailedInternal(_logger, requestId, version.Name, version.Version, ex.Status.Detail);
            }
            else
            {
                Log.PredictFailed(_logger, requestId, version.Name, version.Version, status, ex.Status.Detail);
            }

            throw;
        }
        finally
        {
            if (status == StatusCode.OK && route.Experiment is { HasShadows: true } experiment)
            {
                // After the answer is computed, never awaited: each sampled shadow gets a copy on its own lane.
                _shadows.MirrorPredict(request, requestId, eventTime, experiment, route.Arm, this, shared);
            }

            if (batchRequest is not null)
            {
                version.Batcher.ReturnRequest(batchRequest);
            }

            if (input is not null)
            {
                ArrayPool<byte>.Shared.Return(input);
            }

            if (output is not null)
            {
                ArrayPool<byte>.Shared.Return(output);
            }

            version.Release();
            _metrics.Record(version.Name, version.Version, route.Arm, status, start);
        }
    }

    /// <summary>
    /// Records a primary prediction (its experiment arm, <c>pinned</c> for a named version under an experiment, empty
    /// without one; not a shadow): the features as assembled (copied from the pooled input
    /// row, with their defaulted flags), the scores, and the batcher's queue and run times.
    /// </summary>
    private RecordResult Record(PredictRequest request, string requestId, long eventTime, ModelVersion version, string arm, VersionPlan plan, byte[]? input, byte[]? output, BatchRequest? batchRequest, long start, StatusCode status, out long sequence)
    {
        var width = plan.Plan.Count;
        var entry = new PredictionEntry
        {
            RequestId = requestId,
            EventTimeUnixMs = eventTime,
            Model = version.Name,
            Version = version.Version,
            Arm = arm,
            EntityId = request.EntityId,
            FeatureNames = input is null ? null : plan.Plan.FeatureNames,
            Features = input is null ? default : MemoryMarshal.Cast<byte, float>(input.AsSpan(0, width * sizeof(float))),
            Defaulted = input is null ? default : MemoryMarshal.Cast<byte, bool>(input.AsSpan(width * sizeof(float), width)),
            Outputs = output is null ? default : MemoryMarshal.Cast<byte, float>(output.AsSpan(0, plan.OutputBytes)),
            Rows = 1,
            QueueMicroseconds = batchRequest is null ? 0 : (long)batchRequest.QueueTime.TotalMicroseconds,
            ComputeMicroseconds = batchRequest is null ? 0 : (long)batchRequest.ComputeTime.TotalMicroseconds,
            TotalMicroseconds = (long)Stopwatch.GetElapsedTime(start).TotalMicroseconds,
            Status = (int)status,
            CannotWait = status != StatusCode.OK,
        };
        return _log.TryRecord(entry, out sequence);
    }

    private async Task<(RecordResult Result, long Sequence)> RecordWhenRoomAsync(PredictRequest request, string requestId, long eventTime, ModelVersion version, string arm, VersionPlan plan, byte[] input, byte[] output, BatchRequest batchRequest, long start, CancellationToken cancellationToken)
    {
        try
        {
            RecordResult result;
            long sequence;
            do
            {
                await _log.WaitForSpaceAsync(cancellationToken).ConfigureAwait(false);
            }
            while ((result = Record(request, requestId, eventTime, version, arm, plan, input, output, batchRequest, start, StatusCode.OK, out sequence)) == RecordResult.Full);
            return (result, sequence);
        }
        catch (OperationCanceledException)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, "the prediction log is full (overflow policy PushBack) and the call ended before it had room"));
        }
    }

    /// <summary>The version's compiled feature plan, or the reason Predict cannot serve it (FAILED_PRECONDITION / NOT_FOUND).</summary>
    private VersionPlan PlanFor(ModelVersion version)
    {
        // TryGetValue first: the factory captures this executor, a delegate allocated per call otherwise.
        if (!_plans.TryGetValue(version, out var plan))
        {
            plan = _plans.GetValue(version, v => VersionPlan.Create(v, _features));
        }

        return plan.Error is { } error ? throw error : plan;
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    /// <summary>A version's plan (compiled once per loaded version), or why it has none.</summary>
    private sealed class VersionPlan
    {
        private VersionPlan(FeatureVectorPlan plan, int outputBytes)
        {
            Plan = plan;
            OutputBytes = outputBytes;
        }

        private VersionPlan(RpcException error)
        {
            Plan = null!;
            Error = error;
        }

        public FeatureVectorPlan Plan { get; }

        /// <summary>Bytes of the first output for one row (the scores).</summary>
        public int OutputBytes { get; }

        public RpcException? Error { get; }

        public static VersionPlan Create(ModelVersion version, FeatureEngine features)
        {
            var names = version.Config.Features;
            if (names.Count == 0)
            {
                return Fail(StatusCode.FailedPrecondition, $"{version} lists no features in its config.json, so Predict cannot build its input; call ModelInfer with the tensor instead");
            }

            var inputs = version.Config.Inputs;
            if (inputs.Count != 1 || inputs[0].Type != TensorDataType.Fp32 || version.InputSpecs[0].FixedRowBytes != names.Count * sizeof(float))
            {
                return Fail(StatusCode.FailedPrecondition, $"{version} does not take one FP32 row of its {names.Count} features, which is what Predict builds; call ModelInfer instead");
            }

            var outputs = version.Config.Outputs;
            if (outputs.Count == 0 || outputs[0].Type != TensorDataType.Fp32 || version.OutputSpecs[0].FixedRowBytes <= 0)
            {
                return Fail(StatusCode.FailedPrecondition, $"{version}'s first output is not a fixed-size FP32 row, which Predict answers as scores; call ModelInfer instead");
            }

            if (!features.TryCreatePlan(names, out var plan, out var unknown))
            {
                return Fail(StatusCode.NotFound, $"{version} lists features the feature repository does not define: {string.Join(", ", unknown)}");
            }

            return new VersionPlan(plan, version.OutputSpecs[0].FixedRowBytes);
        }

        private static VersionPlan Fail(StatusCode code, string message) => new(new RpcException(new Status(code, message)));
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Predict {RequestId} for {Model}:{Version} failed with {StatusCode}: {Detail}", EventName = "PredictFailed")]
        public static partial void PredictFailed(ILogger logger, string requestId, string model, string version, StatusCode statusCode, string detail);

        [LoggerMessage(2, LogLevel.Warning, "Predict {RequestId} for {Model}:{Version} failed inside the model: {Detail}", EventName = "PredictFailedInternal")]
        public static partial void PredictFailedInternal(ILogger logger, string requestId, string model, string version, string detail);
    }
}
