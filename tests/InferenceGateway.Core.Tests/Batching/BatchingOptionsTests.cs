using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Tests.Batching;

public sealed class BatchingOptionsTests
{
    [Fact]
    public void Validate_Defaults_NoErrors()
    {
        Assert.Empty(new BatchingOptions().Validate());
    }

    [Fact]
    public void Validate_EverythingWrong_ReturnsAllErrorsAtOnce()
    {
        var options = new BatchingOptions
        {
            MaxBatchSize = -1,
            Policy = (BatchingPolicy)7,
            MaxQueueDelay = TimeSpan.FromTicks(-1),
            AdaptiveWait = TimeSpan.FromTicks(-1),
            PreferredBatchSizes = [0],
            MaxQueueSize = 0,
            PriorityLevels = 2,
            DefaultPriority = 3,
            DefaultTimeout = TimeSpan.FromTicks(-1),
            InstanceCount = 0,
        };

        var errors = options.Validate();
        Assert.Equal(9, errors.Count);
        foreach (var name in new[] { "MaxBatchSize", "Policy", "MaxQueueDelay", "AdaptiveWait", "PreferredBatchSizes", "MaxQueueSize", "DefaultPriority", "DefaultTimeout", "InstanceCount" })
        {
            Assert.Contains(errors, e => e.StartsWith(name, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Defaults_PolicyIsAdaptiveWithoutAWait()
    {
        var options = new BatchingOptions();
        Assert.Equal(BatchingPolicy.Adaptive, options.Policy);
        Assert.Equal(TimeSpan.Zero, options.AdaptiveWait);
    }

    [Theory]
    [InlineData("adaptive", BatchingPolicy.Adaptive)]
    [InlineData("Adaptive", BatchingPolicy.Adaptive)]
    [InlineData("fixed_delay", BatchingPolicy.FixedDelay)]
    [InlineData("FixedDelay", BatchingPolicy.FixedDelay)]
    [InlineData("fixed-delay", BatchingPolicy.FixedDelay)]
    public void BatchingPolicies_TryParse_ConfigAndEnumNames(string value, BatchingPolicy expected)
    {
        Assert.True(BatchingPolicies.TryParse(value, out var policy));
        Assert.Equal(expected, policy);
        Assert.True(BatchingPolicies.TryParse(policy.ToConfigName(), out var roundTrip));
        Assert.Equal(expected, roundTrip);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("fixed")]
    [InlineData("dynamic")]
    public void BatchingPolicies_TryParse_AnythingElse_False(string? value)
    {
        Assert.False(BatchingPolicies.TryParse(value, out _));
    }

    [Fact]
    public void Validate_PreferredAboveMax_Rejected()
    {
        var errors = new BatchingOptions { MaxBatchSize = 8, PreferredBatchSizes = [4, 16] }.Validate();
        Assert.Contains("16", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void BatchTensorSpec_RowBytesAndAccepts_FollowRowShape()
    {
        var spec = new BatchTensorSpec("x", 4, [-1, 3]);
        Assert.True(spec.IsVariable);
        Assert.Equal(-1, spec.FixedRowBytes);
        Assert.Equal(4 * 5 * 3, spec.RowBytes([5, 3]));
        Assert.True(spec.Accepts([5, 3]));
        Assert.False(spec.Accepts([5, 4]));
        Assert.False(spec.Accepts([5]));
        Assert.Equal(12, new BatchTensorSpec("y", 4, [3]).FixedRowBytes);
    }
}
