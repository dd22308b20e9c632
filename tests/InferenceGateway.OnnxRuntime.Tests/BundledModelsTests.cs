using System.Text.Json;
using Microsoft.ML.OnnxRuntime;

namespace InferenceGateway.OnnxRuntime.Tests;

/// <summary>
/// Runs the repository's bundled models on their <c>test_data.json</c> (inputs and expected outputs computed
/// independently with numpy) and compares within 1e-4 absolute, through ONNX Runtime's own Run with named values.
/// A missing models folder or file fails: these models ship with the product, so their absence is a broken checkout,
/// not a reason to skip.
/// </summary>
public class BundledModelsTests
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("fraud", "1")]
    [InlineData("fraud", "2")]
    [InlineData("bench_mlp", "1")]
    public void Run_BundledModel_MatchesNumpyReference(string model, string version)
    {
        var folder = Path.Combine(TestModels.RepositoryRoot(), "models", model, version);
        var modelPath = Path.Combine(folder, "model.onnx");
        var dataPath = Path.Combine(folder, "test_data.json");
        Assert.True(File.Exists(modelPath), $"Bundled model missing: {modelPath} (run `make models`).");
        Assert.True(File.Exists(dataPath), $"Reference data missing: {dataPath}.");

        using var json = JsonDocument.Parse(File.ReadAllBytes(dataPath));
        using var session = OnnxSession.Create(modelPath, TestModels.Config);

        var inputSpecs = json.RootElement.GetProperty("inputs").EnumerateObject().ToArray();
        var outputSpecs = json.RootElement.GetProperty("outputs").EnumerateObject().ToArray();
        var inputs = new OrtValue[inputSpecs.Length];
        try
        {
            for (var i = 0; i < inputSpecs.Length; i++)
            {
                var (shape, data) = ReadTensor(inputSpecs[i].Value);
                inputs[i] = OrtValue.CreateTensorValueFromMemory(data, shape);
            }

            using var runOptions = new RunOptions();
            using var outputs = session.Session.Run(
                runOptions, inputSpecs.Select(p => p.Name).ToArray(), inputs, outputSpecs.Select(p => p.Name).ToArray());

            for (var o = 0; o < outputSpecs.Length; o++)
            {
                var (expectedShape, expected) = ReadTensor(outputSpecs[o].Value);
                var actual = outputs[o];
                Assert.Equal(expectedShape, actual.GetTensorTypeAndShape().Shape);
                var values = actual.GetTensorDataAsSpan<float>();
                Assert.Equal(expected.Length, values.Length);
                for (var k = 0; k < expected.Length; k++)
                {
                    var diff = Math.Abs(values[k] - (double)expected[k]);
                    Assert.True(diff <= Tolerance, $"{model}/{version} output '{outputSpecs[o].Name}'[{k}]: ORT {values[k]} vs numpy {expected[k]} (|diff| {diff:E2}).");
                }
            }
        }
        finally
        {
            foreach (var value in inputs)
            {
                value?.Dispose();
            }
        }
    }

    private static (long[] Shape, float[] Data) ReadTensor(JsonElement spec)
    {
        var shape = spec.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var data = spec.GetProperty("data").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        return (shape, data);
    }
}
