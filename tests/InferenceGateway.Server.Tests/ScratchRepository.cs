using System.Text.Json.Nodes;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// A model repository in a temporary folder, filled with the tiny models of TestModels/ (generate_test_models.py) and
/// configs written here, so a test can change, corrupt and delete files under a live gateway without touching models/.
/// </summary>
public sealed class ScratchRepository : IDisposable
{
    public ScratchRepository()
    {
        Directory.CreateDirectory(Path);
    }

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ig-scratch-repo-" + Guid.NewGuid().ToString("N"));

    /// <summary>A file of TestModels/ next to the test binaries.</summary>
    public static string TestModel(string file) => System.IO.Path.Combine(AppContext.BaseDirectory, "TestModels", file);

    /// <summary>
    /// Writes <c>name/config.json</c>: one input and one output tensor, <c>[-1, width]</c> each, the same for every
    /// version folder (default_version), and optionally a <c>dynamic_batching</c> section (JSON object text).
    /// </summary>
    public void WriteConfig(string name, int maxBatchSize, (string Name, string Type, int Width) input, (string Name, string Type, int Width) output, string? dynamicBatching = null)
    {
        var config = new JsonObject
        {
            ["name"] = name,
            ["platform"] = "onnxruntime_onnx",
            ["max_batch_size"] = maxBatchSize,
            ["instance_count"] = 1,
            ["intra_op_threads"] = 1,
            ["versions"] = new JsonObject(),
            ["default_version"] = new JsonObject
            {
                ["inputs"] = new JsonArray(Tensor(input)),
                ["outputs"] = new JsonArray(Tensor(output)),
            },
        };
        if (dynamicBatching is not null)
        {
            config["dynamic_batching"] = JsonNode.Parse(dynamicBatching);
        }

        Directory.CreateDirectory(System.IO.Path.Combine(Path, name));
        ReplaceFile(System.IO.Path.Combine(Path, name, "config.json"), path => File.WriteAllText(path, config.ToJsonString()));

        static JsonObject Tensor((string Name, string Type, int Width) tensor) => new()
        {
            ["name"] = tensor.Name,
            ["data_type"] = tensor.Type,
            ["dims"] = new JsonArray(-1, tensor.Width),
        };
    }

    /// <summary>Edits <c>name/config.json</c> in place (through a rename, as deployment tools write files).</summary>
    public void EditConfig(string name, Action<JsonObject> edit)
    {
        var path = System.IO.Path.Combine(Path, name, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        ReplaceFile(path, temp => File.WriteAllText(temp, config.ToJsonString()));
    }

    /// <summary>Puts a copy of TestModels/<paramref name="testModel"/> at <c>name/version/model.onnx</c>, replacing any file there.</summary>
    public string PlaceModel(string name, string version, string testModel)
    {
        var directory = System.IO.Path.Combine(Path, name, version);
        Directory.CreateDirectory(directory);
        var path = System.IO.Path.Combine(directory, "model.onnx");
        ReplaceFile(path, temp => File.Copy(TestModel(testModel), temp));
        return path;
    }

    /// <summary>Replaces <c>name/version/model.onnx</c> with bytes that are not a model.</summary>
    public string CorruptModel(string name, string version)
    {
        var path = System.IO.Path.Combine(Path, name, version, "model.onnx");
        ReplaceFile(path, temp => File.WriteAllBytes(temp, [0x08, 0x01, 0x12, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4, 5]));
        return path;
    }

    /// <summary>Removes a version folder.</summary>
    public void DeleteVersion(string name, string version) => Directory.Delete(System.IO.Path.Combine(Path, name, version), recursive: true);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// Writes the new content beside the file and renames it over the file: the repository's poll never reads a file
    /// half written. The new file's write time is later than the old one's, which is what the poll compares.
    /// </summary>
    private static void ReplaceFile(string path, Action<string> write)
    {
        var temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        write(temp);
        var previous = File.Exists(path) ? File.GetLastWriteTimeUtc(path) : DateTime.MinValue;
        if (File.GetLastWriteTimeUtc(temp) <= previous)
        {
            // Two writes within the file system's timestamp granularity would look unchanged to the poll.
            File.SetLastWriteTimeUtc(temp, previous.AddMilliseconds(10));
        }

        File.Move(temp, path, overwrite: true);
    }
}
