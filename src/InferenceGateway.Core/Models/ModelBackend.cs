using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Models;

/// <summary>Loads model files into executable instances (ONNX Runtime in production, fakes in tests).</summary>
public interface IModelBackend
{
    /// <summary>Loads <paramref name="modelPath"/>; throws with a message naming the file when it cannot.</summary>
    ILoadedModel Load(string modelName, string version, string modelPath, ModelConfig config);
}

/// <summary>A loaded model file: its tensor metadata and a factory for execution instances.</summary>
public interface ILoadedModel : IDisposable
{
    /// <summary>Inputs as the model file declares them.</summary>
    IReadOnlyList<TensorMetadata> Inputs { get; }

    /// <summary>Outputs as the model file declares them.</summary>
    IReadOnlyList<TensorMetadata> Outputs { get; }

    /// <summary>Execution provider actually in use (e.g. "CPU", "CUDA").</summary>
    string ExecutionProvider { get; }

    /// <summary>Creates the runner for one execution instance; called once per instance.</summary>
    IBatchRunner CreateRunner(int instance, IReadOnlyList<BatchTensorSpec> inputs, IReadOnlyList<BatchTensorSpec> outputs);
}

/// <summary>Checks a version's config against what the model file declares.</summary>
public static class ModelConfigValidator
{
    /// <summary>Every mismatch between <paramref name="config"/> and the model's metadata (empty when they agree).</summary>
    public static List<string> Compare(VersionConfig config, ILoadedModel model)
    {
        var errors = new List<string>();
        CompareTensors("input", config.Inputs, model.Inputs, errors);
        CompareTensors("output", config.Outputs, model.Outputs, errors);
        return errors;
    }

    private static void CompareTensors(string kind, List<TensorConfig> configured, IReadOnlyList<TensorMetadata> actual, List<string> errors)
    {
        foreach (var tensor in configured)
        {
            TensorMetadata? match = null;
            foreach (var candidate in actual)
            {
                if (candidate.Name == tensor.Name)
                {
                    match = candidate;
                    break;
                }
            }

            if (match is null)
            {
                errors.Add($"{kind} '{tensor.Name}' is configured but the model has no such {kind} (model {kind}s: {string.Join(", ", Names(actual))})");
                continue;
            }

            if (match.DataType != tensor.Type)
            {
                errors.Add($"{kind} '{tensor.Name}': config says {tensor.DataType}, model says {match.DataType.ToProtocolName()}");
            }

            if (match.Shape.Length != tensor.Dims.Length)
            {
                errors.Add($"{kind} '{tensor.Name}': config dims [{string.Join(',', tensor.Dims)}] have rank {tensor.Dims.Length}, model shape {match.ShapeText} has rank {match.Shape.Length}");
                continue;
            }

            for (var i = 0; i < tensor.Dims.Length; i++)
            {
                // A fixed model dimension must be configured as that size; a dynamic one may be fixed by config.
                if (match.Shape[i] != -1 && tensor.Dims[i] != match.Shape[i])
                {
                    errors.Add($"{kind} '{tensor.Name}': dimension {i} is {tensor.Dims[i]} in config but {match.Shape[i]} in the model");
                }
            }
        }

        foreach (var tensor in actual)
        {
            if (kind == "input" && !configured.Exists(t => t.Name == tensor.Name))
            {
                errors.Add($"model input '{tensor.Name}' {tensor.ShapeText} is not in the config");
            }
        }
    }

    private static IEnumerable<string> Names(IReadOnlyList<TensorMetadata> tensors)
    {
        foreach (var tensor in tensors)
        {
            yield return tensor.Name;
        }
    }
}
