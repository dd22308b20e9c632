using System.Text.Json;
using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Models;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Features;
using InferenceGateway.Server.Features;
using InferenceGateway.Observability;
using InferenceGateway.Observability.Otlp;
using InferenceGateway.OnnxRuntime;
using InferenceGateway.Server.Services;
using InferenceGateway.Server.Transport;

namespace InferenceGateway.Server.Hosting;

/// <summary>Registers the gateway's components and maps its endpoints.</summary>
internal static partial class GatewayServices
{
    public static void Add(IServiceCollection services, GatewayOptions options, IConfiguration configuration)
    {
        services.AddPrometheusMetrics(metrics =>
        {
            metrics.MaxSeriesPerMetric = options.Metrics.MaxSeriesPerMetric;
            metrics.IncludeProcessMetrics = options.Metrics.IncludeProcessMetrics;
        });
        services.AddOtlpMetricsExport(configuration.GetSection(GatewayOptions.SectionName));
        services.AddGatewayGrpc(options.Grpc, options.RateLimit);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IModelBackend>(provider => new OnnxModelBackend(
            ToSessionConfig(options.OnnxRuntime),
            options.Models,
            provider.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton(provider => new BatcherMetrics(provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton(provider => new ModelRepository(
            options.ModelRepository,
            provider.GetRequiredService<IModelBackend>(),
            provider.GetRequiredService<ILoggerFactory>(),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<BatcherMetrics>(),
            WarmUp.RunAsync));
        services.AddSingleton<GatewayMetrics>();
        Experiments.ExperimentServices.Add(services, options);
        RemoteVersions.RemoteVersionServices.Add(services);
        services.AddSingleton<InferenceExecutor>();
        services.AddSingleton<IReadinessCheck, ModelRepositoryReadinessCheck>();
        services.AddSingleton<GatewayReadiness>();
        services.AddSingleton<IGrpcAdmissionState>(provider => provider.GetRequiredService<GatewayReadiness>());
        services.AddSingleton<KServeInferenceService>();
        AddPredictionLog(services, options);
        AddFeatures(services, options);
        services.AddGatewayGrpcService<KServeInferenceService>(GRPCInferenceService.Descriptor, KServeInferenceService.Bind);
        services.AddHostedService<GatewayLifecycle>();
        Experiments.ExperimentServices.AddHosting(services); // after the lifecycle: stops first, while versions still serve
    }

    public static void Map(WebApplication app, GatewayOptions options)
    {
        RemoteVersions.RemoteVersionServices.Map(app); // first: its forwarder must run before the endpoints
        app.MapGatewayGrpcStandardServices();
        app.MapGatewayGrpcService<KServeInferenceService>();
        app.MapGatewayGrpcService<GatewayService>();

        app.MapPrometheusMetrics("/metrics");
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", (GatewayReadiness readiness) =>
        {
            var reasons = readiness.NotReadyReasons();
            var details = readiness.Details();
            var tail = details.Count == 0 ? "" : string.Join("\n", details) + "\n";
            return reasons.Count == 0
                ? Results.Text("ready\n" + tail)
                : Results.Text("not ready: " + string.Join("; ", reasons) + "\n" + tail, statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.MapPost("/admin/models/reload", async (HttpContext context, ModelRepository repository, GatewayReadiness readiness) =>
        {
            if (!AdminAuthorization.IsAuthorized(context, options.Admin))
            {
                return AdminAuthorization.Deny(context, options.Admin);
            }

            // What this scan did, not a constant: a poll may have picked up a change first, and then this one did nothing.
            var report = await repository.ScanAsync(context.RequestAborted).ConfigureAwait(false);
            readiness.Refresh();
            return Results.Json(
                new
                {
                    loaded = report.Loaded,
                    reloaded = report.Reloaded,
                    unloaded = report.Unloaded,
                    failed = report.Failed,
                    serving = report.Serving,
                    errors = report.Errors,
                },
                JsonOptions);
        });
        Experiments.ExperimentServices.Map(app, options.Admin);
        app.MapGet("/v1/models", (ModelRepository repository) =>
        {
            var models = new List<object>();
            foreach (var model in repository.Models.Values)
            {
                var versions = new List<object>();
                foreach (var version in model.Versions)
                {
                    versions.Add(new { version = version.Version, state = version.State.ToString(), provider = version.Model.ExecutionProvider, path = version.ModelPath, max_batch_size = version.Batcher.Options.MaxBatchSize, queue_depth = version.Batcher.QueueDepth });
                }

                models.Add(new { name = model.Name, versions });
            }

            return Results.Json(new { models, errors = repository.Errors }, JsonOptions);
        });
    }

    /// <summary>
    /// The feature engine over the repository the host loaded (state restored from and saved to the data directory),
    /// the domain Predict and the <c>gateway.v1.Gateway</c> service.
    /// </summary>
    private static void AddFeatures(IServiceCollection services, GatewayOptions options)
    {
        services.AddSingleton(provider => new FeatureMetrics(provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton(provider => new FeatureEngine(
            provider.GetRequiredService<FeatureRepository>(),
            options.Features.ToEngineOptions(options.DataDirectory),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<FeatureMetrics>(),
            provider.GetRequiredService<ILoggerFactory>().CreateLogger<FeatureEngine>()));
        if (options.Features.UsesRedis)
        {
            // Scale-out: state in Redis, events through Kafka (validated together: one needs the other).
            services.AddSingleton(provider => new ScaleOut.RedisFeatureStore(
                provider.GetRequiredService<FeatureEngine>(),
                options.Redis,
                provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
                provider.GetRequiredService<ILogger<ScaleOut.RedisFeatureStore>>()));
            services.AddSingleton<IReadinessCheck>(provider => provider.GetRequiredService<ScaleOut.RedisFeatureStore>());
            services.AddSingleton<ScaleOut.KafkaProducerHolder>();
            services.AddSingleton<ScaleOut.KafkaFeatureIngestor>();
            services.AddHostedService(provider => provider.GetRequiredService<ScaleOut.KafkaFeatureIngestor>());
            services.AddSingleton<IReadinessCheck>(provider => provider.GetRequiredService<ScaleOut.KafkaFeatureIngestor>());
        }

        services.AddSingleton<FeatureHosting>();
        services.AddHostedService(provider => provider.GetRequiredService<FeatureHosting>());
        services.AddSingleton<IReadinessCheck>(provider => provider.GetRequiredService<FeatureHosting>());
        services.AddSingleton<PredictExecutor>();
        services.AddSingleton<GatewayService>();
        services.AddGatewayGrpcService<GatewayService>(Gateway.Descriptor, GatewayService.Bind);
    }

    /// <summary>
    /// The prediction log over the configured sink (SQLite under the data directory by default), its writer started and
    /// flushed with the host, its state in /readyz, and the recorder the request paths (and shadows) call.
    /// </summary>
    private static void AddPredictionLog(IServiceCollection services, GatewayOptions options)
    {
        services.AddSingleton(provider =>
        {
            var logOptions = options.PredictionLog.ToOptions(options.DataDirectory);
            return new Core.PredictionLog.PredictionLog(
                logOptions,
                Server.PredictionLog.PredictionLogSettings.CreateSink(logOptions, options.PredictionLog.SqliteMaxBytes),
                provider.GetRequiredService<TimeProvider>(),
                provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
                provider.GetRequiredService<ILoggerFactory>().CreateLogger<Core.PredictionLog.PredictionLog>());
        });
        services.AddSingleton<Core.PredictionLog.IPredictionRecorder>(provider => provider.GetRequiredService<Core.PredictionLog.PredictionLog>());
        services.AddSingleton<Server.PredictionLog.PredictionLogHosting>();
        services.AddHostedService(provider => provider.GetRequiredService<Server.PredictionLog.PredictionLogHosting>());
        services.AddSingleton<IReadinessCheck>(provider => provider.GetRequiredService<Server.PredictionLog.PredictionLogHosting>());
        services.AddSingleton<Server.PredictionLog.OutcomeAndEvaluationHandler>();
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    internal static OrtSessionConfig ToSessionConfig(OnnxRuntimeSettings settings) => new()
    {
        IntraOpThreads = settings.IntraOpThreads,
        InterOpThreads = settings.InterOpThreads,
        GraphOptimizationLevel = Enum.Parse<GraphOptimizationLevel>(settings.GraphOptimizationLevel),
        ExecutionProvider = Enum.Parse<ExecutionProvider>(settings.ExecutionProvider),
        CudaDeviceId = settings.CudaDeviceId,
        AllowSpinning = settings.AllowSpinning,
    };
}
