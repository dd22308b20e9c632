using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Models;

namespace InferenceGateway.Core.Tests.Models;

/// <summary>
/// The batching policy in a model's config.json (<c>dynamic_batching.policy</c>, <c>adaptive_wait_microseconds</c>) and
/// in <c>Gateway:Models:&lt;name&gt;</c> overrides: read, validated with the key's name, and mapped onto the batcher.
/// </summary>
public sealed class BatchingConfigTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ig-batching-config-" + Guid.NewGuid().ToString("N"));

    public BatchingConfigTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string dynamicBatching)
    {
        var path = Path.Combine(_dir, "config.json");
        var section = dynamicBatching.Length == 0 ? "" : $"\"dynamic_batching\": {{ {dynamicBatching} }},";
        File.WriteAllText(path, $$"""
            {
              "name": "m",
              "max_batch_size": 8,
              {{section}}
              "versions": { "1": {
                "inputs": [{ "name": "x", "data_type": "FP32", "dims": [-1, 2] }],
                "outputs": [{ "name": "y", "data_type": "FP32", "dims": [-1, 2] }] } }
            }
            """);
        return path;
    }

    [Theory]
    [InlineData("adaptive", BatchingPolicy.Adaptive)]
    [InlineData("fixed_delay", BatchingPolicy.FixedDelay)]
    public void Load_PolicyAndWaits_MappedOntoTheBatcher(string policy, BatchingPolicy expected)
    {
        var config = ModelConfig.Load(Write($"\"policy\": \"{policy}\", \"max_queue_delay_microseconds\": 700, \"adaptive_wait_microseconds\": 50"));

        var options = ModelRepository.ToBatchingOptions(config);

        Assert.Equal(expected, options.Policy);
        Assert.Equal(TimeSpan.FromMicroseconds(700), options.MaxQueueDelay);
        Assert.Equal(TimeSpan.FromMicroseconds(50), options.AdaptiveWait);
    }

    [Theory]
    [InlineData("\"max_queue_delay_microseconds\": 700")]
    [InlineData("")] // No dynamic_batching section at all.
    public void Load_NoPolicy_AdaptiveWithoutAWait(string dynamicBatching)
    {
        var options = ModelRepository.ToBatchingOptions(ModelConfig.Load(Write(dynamicBatching)));

        Assert.Equal(BatchingPolicy.Adaptive, options.Policy);
        Assert.Equal(TimeSpan.Zero, options.AdaptiveWait);
    }

    [Fact]
    public void Load_BundledModels_AdaptiveWithoutAWait()
    {
        // Issue 20: with the bundled configuration a lone request never waits for company.
        var models = RepoModels();
        var configs = Directory.GetFiles(models, "config.json", SearchOption.AllDirectories);
        Assert.NotEmpty(configs);
        foreach (var path in configs)
        {
            var options = ModelRepository.ToBatchingOptions(ModelConfig.Load(path));
            Assert.True(options.Policy == BatchingPolicy.Adaptive, path);
            Assert.True(options.AdaptiveWait == TimeSpan.Zero, path);
        }
    }

    [Fact]
    public void Load_BadPolicyAndWait_ErrorsNameTheKeys()
    {
        var path = Write("\"policy\": \"sometimes\", \"adaptive_wait_microseconds\": -1");

        var ex = Assert.Throws<ModelConfigException>(() => ModelConfig.Load(path));

        Assert.Contains("dynamic_batching.policy 'sometimes' must be 'adaptive' or 'fixed_delay'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("dynamic_batching.adaptive_wait_microseconds must be between 0 and 10000000, was -1", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, null, BatchingPolicy.Adaptive, 50)] // Neither override: the file's values.
    [InlineData("fixed_delay", null, BatchingPolicy.FixedDelay, 50)]
    [InlineData("FixedDelay", 0L, BatchingPolicy.FixedDelay, 0)]
    [InlineData(null, 200L, BatchingPolicy.Adaptive, 200)]
    public void ApplyOverrides_PolicyAndAdaptiveWait_WinOverConfigJson(string? policy, long? wait, BatchingPolicy expectedPolicy, long expectedWait)
    {
        var config = ModelConfig.Load(Write("\"policy\": \"adaptive\", \"adaptive_wait_microseconds\": 50"));

        var options = ModelRepository.ToBatchingOptions(
            ModelRepository.ApplyOverrides(config, new ModelOverrides { BatchingPolicy = policy, AdaptiveWaitMicroseconds = wait }));

        Assert.Equal(expectedPolicy, options.Policy);
        Assert.Equal(TimeSpan.FromMicroseconds(expectedWait), options.AdaptiveWait);
    }

    [Fact]
    public void ApplyOverrides_ModelWithoutDynamicBatchingSection_StillNeverWaits()
    {
        // The section made to hold the overrides once took the class defaults: a 1 ms delay and a 4096 queue.
        var config = ModelConfig.Load(Write(""));

        var options = ModelRepository.ToBatchingOptions(
            ModelRepository.ApplyOverrides(config, new ModelOverrides { InstanceCount = 2, BatchingPolicy = "fixed_delay" }));

        Assert.Equal(BatchingPolicy.FixedDelay, options.Policy);
        Assert.Equal(TimeSpan.Zero, options.MaxQueueDelay);
        Assert.Equal(1024, options.MaxQueueSize);
        Assert.Equal(2, options.InstanceCount);
    }

    [Fact]
    public void Validate_BadOverrides_ListsEachWithItsKey()
    {
        var options = new ModelRepositoryOptions();
        options.Models["fraud"] = new ModelOverrides { BatchingPolicy = "fast", AdaptiveWaitMicroseconds = -5 };

        var errors = options.Validate();

        Assert.Contains("Gateway:Models:fraud:BatchingPolicy 'fast' must be 'adaptive' or 'fixed_delay'", errors);
        Assert.Contains("Gateway:Models:fraud:AdaptiveWaitMicroseconds must be between 0 and 10000000", errors);
    }

    [Theory]
    [InlineData("\"max_queue_delay_microseconds\": 700", null, 100_000)] // a section without the key: the default
    [InlineData("", null, 100_000)] // no dynamic_batching section at all: the same default
    [InlineData("\"max_queue_time_microseconds\": 5000", null, 5000)]
    [InlineData("\"max_queue_time_microseconds\": 0", null, 0)] // off
    [InlineData("\"max_queue_time_microseconds\": 5000", 250L, 250)] // Gateway:Models:<name>:MaxQueueTimeMicroseconds wins
    [InlineData("", 0L, 0)]
    public void Load_MaxQueueTime_DefaultFileThenOverride(string dynamicBatching, long? overridden, long expectedMicroseconds)
    {
        var config = ModelRepository.ApplyOverrides(
            ModelConfig.Load(Write(dynamicBatching)), overridden is null ? null : new ModelOverrides { MaxQueueTimeMicroseconds = overridden });

        var options = ModelRepository.ToBatchingOptions(config);

        Assert.Equal(TimeSpan.FromMicroseconds(expectedMicroseconds), options.MaxQueueTime);
    }

    [Fact]
    public void Load_MaxQueueTimeOutOfRange_ErrorsNameTheKeys()
    {
        var ex = Assert.Throws<ModelConfigException>(() => ModelConfig.Load(Write("\"max_queue_time_microseconds\": -1")));
        Assert.Contains("dynamic_batching.max_queue_time_microseconds must be between 0 and 60000000, was -1", ex.Message, StringComparison.Ordinal);

        var options = new ModelRepositoryOptions();
        options.Models["fraud"] = new ModelOverrides { MaxQueueTimeMicroseconds = 60_000_001 };
        Assert.Contains("Gateway:Models:fraud:MaxQueueTimeMicroseconds must be between 0 and 60000000", options.Validate());
    }

    private static string RepoModels()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "models");
            if (File.Exists(Path.Combine(candidate, "fraud", "config.json")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("models/ not found above " + AppContext.BaseDirectory);
    }
}
