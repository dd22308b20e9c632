using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Models;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.OnnxRuntime;

/// <summary>
/// One model file. The first session is created at load (it supplies the metadata the config is validated
/// against); each further execution instance gets its own session so instances never contend inside ORT.
/// </summary>
internal sealed class OnnxLoadedModel : ILoadedModel
{
    private readonly string _modelPath;
    private readonly OrtSessionConfig _config;
    private readonly bool _hasBatchDimension;
    private readonly ILogger _logger;
    private readonly List<OnnxSession> _sessions = [];
    private readonly OnnxSession _first;
    private bool _firstTaken;

    public OnnxLoadedModel(string modelPath, OrtSessionConfig config, bool hasBatchDimension, ILogger logger)
    {
        _modelPath = modelPath;
        _config = config;
        _hasBatchDimension = hasBatchDimension;
        _logger = logger;
        _first = OnnxSession.Create(modelPath, config, logger);
        _sessions.Add(_first);
    }

    public IReadOnlyList<TensorMetadata> Inputs => _first.Inputs;

    public IReadOnlyList<TensorMetadata> Outputs => _first.Outputs;

    /// <summary>The session options every instance of this model is created with.</summary>
    internal OrtSessionConfig SessionConfig => _config;

    public string ExecutionProvider => _first.ExecutionProvider.ToString().ToUpperInvariant();

    public IBatchRunner CreateRunner(int instance, IReadOnlyList<BatchTensorSpec> inputs, IReadOnlyList<BatchTensorSpec> outputs)
    {
        OnnxSession session;
        lock (_sessions)
        {
            if (!_firstTaken)
            {
                _firstTaken = true;
                session = _first;
            }
            else
            {
                session = OnnxSession.Create(_modelPath, _config, _logger);
                _sessions.Add(session);
            }
        }

        return new OnnxBatchRunner(session, inputs, outputs, _hasBatchDimension);
    }

    public void Dispose()
    {
        lock (_sessions)
        {
            foreach (var session in _sessions)
            {
                session.Dispose();
            }

            _sessions.Clear();
        }
    }
}
