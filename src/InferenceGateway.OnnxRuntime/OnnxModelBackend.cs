using InferenceGateway.Core.Models;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.OnnxRuntime;

/// <summary>Loads model versions as ONNX Runtime sessions (one session per execution instance).</summary>
public sealed class OnnxModelBackend : IModelBackend
{
    private readonly OrtSessionConfig _sessionConfig;
    private readonly IReadOnlyDictionary<string, ModelOverrides> _overrides;
    private readonly ILoggerFactory _loggerFactory;

    /// <summary>Creates the backend; <paramref name="sessionConfig"/> is the gateway-wide default for every model.</summary>
    public OnnxModelBackend(OrtSessionConfig sessionConfig, IReadOnlyDictionary<string, ModelOverrides> overrides, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(sessionConfig);
        ArgumentNullException.ThrowIfNull(overrides);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _sessionConfig = sessionConfig;
        _overrides = overrides;
        _loggerFactory = loggerFactory;

        // The old C-API binding loaded the library this variable named; a host that still sets it (say, to a GPU build)
        // must hear that it no longer decides anything.
        if (Environment.GetEnvironmentVariable("ORT_LIBRARY_PATH") is { Length: > 0 } path)
        {
            OnnxRuntimeLog.LibraryPathVariableIgnored(loggerFactory.CreateLogger<OnnxModelBackend>(), path);
        }
    }

    /// <inheritdoc />
    public ILoadedModel Load(string modelName, string version, string modelPath, ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new OnnxLoadedModel(modelPath, ResolveConfig(modelName, config), config.MaxBatchSize > 0, _loggerFactory.CreateLogger<OnnxSession>());
    }

    /// <summary>Gateway config override first, then the model's config.json, then the gateway-wide default.</summary>
    internal OrtSessionConfig ResolveConfig(string modelName, ModelConfig config)
    {
        var sessionConfig = _sessionConfig;
        _overrides.TryGetValue(modelName, out var overrides);
        if ((overrides?.IntraOpThreads ?? config.IntraOpThreads) is { } intraOp)
        {
            sessionConfig = sessionConfig with { IntraOpThreads = intraOp };
        }

        if ((overrides?.AllowSpinning ?? config.AllowSpinning) is { } spin)
        {
            sessionConfig = sessionConfig with { AllowSpinning = spin };
        }

        // 0 means one thread per core, set explicitly: ORT's own default counts physical cores as its cpuinfo sees
        // them, which on some VMs is 1 of 2 (bench_mlp then ran single-threaded while documented as 1 x 2).
        if (sessionConfig.IntraOpThreads == 0)
        {
            sessionConfig = sessionConfig with { IntraOpThreads = Environment.ProcessorCount };
        }

        return sessionConfig;
    }
}
