using System.Text.Json;
using InferenceGateway.Core.Routing;

namespace InferenceGateway.Core.Tests.Routing;

public sealed class ExperimentValidatorTests
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromMilliseconds(750);

    [Fact]
    public void Validate_ContractExample_NormalizedWithDefaults()
    {
        var definition = Parse("""
            {"arms": [{"name": "control", "version": "1", "weight": 90}, {"name": "treatment", "version": "2", "weight": 10}],
             "sticky_key": "entity_id", "salt": "fraud-2026-12",
             "shadows": [{"version": "2", "sample_rate": 1.0}, {"endpoint": "http://127.0.0.1:50061", "model": "fraud", "version": "3", "sample_rate": 0.1, "timeout_ms": 500}]}
            """);
        var errors = new List<string>();
        var experiment = ExperimentValidator.Validate("fraud", definition, Experiments.Catalog, DefaultTimeout, errors);

        Assert.Empty(errors);
        Assert.NotNull(experiment);
        Assert.Equal(StickyKeyKind.EntityId, experiment.KeyKind);
        Assert.Equal(["control", "treatment"], experiment.Arms.Select(a => a.Name));
        var local = experiment.Shadows[0];
        Assert.False(local.IsRemote);
        Assert.Equal("fraud:2", local.Label);
        Assert.Equal(TimeSpan.FromMilliseconds(750), local.Timeout);
        var remote = experiment.Shadows[1];
        Assert.True(remote.IsRemote);
        Assert.Equal("http://127.0.0.1:50061/fraud:3", remote.Label);
        Assert.Equal(0.1, remote.SampleRate);
        Assert.Equal(TimeSpan.FromMilliseconds(500), remote.Timeout);
        Assert.Equal(750, experiment.Definition.Shadows[0].TimeoutMs);
        Assert.Equal("entity_id", experiment.Definition.StickyKey);
    }

    [Fact]
    public void Validate_EveryKindOfMistake_AllReasonsListedAndNothingBuilt()
    {
        var definition = new ExperimentDefinition
        {
            Arms =
            [
                new ArmDefinition { Name = "control", Version = "7", Weight = 90 },
                new ArmDefinition { Name = "control", Version = "2", Weight = 0 },
                new ArmDefinition { Name = "pinned", Version = "2", Weight = -1 },
                new ArmDefinition { Name = "bad name!", Version = "", Weight = double.NaN },
            ],
            StickyKey = "cookie",
            Salt = "",
            Shadows =
            [
                new ShadowDefinition { Version = "3" },
                new ShadowDefinition { Endpoint = "ftp://example/x" },
                new ShadowDefinition { Version = "2", SampleRate = 1.5, TimeoutMs = 0 },
                new ShadowDefinition(),
            ],
        };
        var errors = new List<string>();

        Assert.Null(ExperimentValidator.Validate("fraud", definition, Experiments.Catalog, DefaultTimeout, errors));

        string[] expected =
        [
            "arms[0].version '7' is not a served version",
            "arms[1].name 'control' is repeated",
            "arms[1].weight 0 must be positive",
            "arms[2].name 'pinned' is reserved",
            "arms[2].weight -1 must be positive",
            "arms[3].name 'bad name!'",
            "arms[3].version is required",
            "arms[3].weight NaN must be positive",
            "sticky_key 'cookie'",
            "salt is required",
            "shadows[0].version '3' of model 'fraud' is remote",
            "shadows[1].endpoint 'ftp://example/x'",
            "shadows[2].sample_rate 1.5",
            "shadows[2].timeout_ms 0",
            "shadows[3]: a shadow names a local 'version' or a remote 'endpoint'",
        ];
        foreach (var reason in expected)
        {
            Assert.Contains(errors, e => e.Contains(reason, StringComparison.Ordinal));
        }

        Assert.Equal(expected.Length, errors.Count);
    }

    [Fact]
    public void Validate_UnknownModel_Rejected()
    {
        var errors = new List<string>();
        Assert.Null(ExperimentValidator.Validate("nope", new ExperimentDefinition(), Experiments.Catalog, DefaultTimeout, errors));
        Assert.Equal(["model 'nope' is not served"], errors);
    }

    [Fact]
    public void Validate_RemoteArmAndAttributeKey_Accepted()
    {
        var errors = new List<string>();
        var experiment = ExperimentValidator.Validate("fraud", new ExperimentDefinition
        {
            Arms = [new ArmDefinition { Name = "gpu", Version = "3", Weight = 1 }],
            StickyKey = "attribute:merchant_id",
            Salt = "x",
        }, Experiments.Catalog, DefaultTimeout, errors);
        Assert.Empty(errors);
        Assert.Equal(StickyKeyKind.Attribute, experiment!.KeyKind);
        Assert.Equal("merchant_id", experiment.KeyAttribute);
    }

    [Fact]
    public void Deserialize_UnknownMember_IsAnError()
    {
        Assert.Throws<JsonException>(() => Parse("""{"arms": [], "salt": "s", "stiky_key": "entity_id"}"""));
    }

    [Fact]
    public void Decide_PinnedAndRoutedAndNoExperiment_ReportTheirArm()
    {
        var experiment = Experiments.Build("s", ("control", "1", 1), ("treatment", "2", 1));
        Assert.Equal(new RouteDecision("2", "pinned", experiment), ExperimentRouter.Decide(experiment, "2", null));
        Assert.Equal(new RouteDecision("1", "control", experiment), ExperimentRouter.Decide(experiment, "", experiment.Arms[0]));
        Assert.Equal(new RouteDecision("", "", null), ExperimentRouter.Decide(null, "", null));
    }

    [Fact]
    public void Router_SetAndRemove_SnapshotsSwapWhole()
    {
        var router = new ExperimentRouter();
        var changes = 0;
        router.Changed += () => changes++;
        var experiment = Experiments.Build("s", ("control", "1", 1));
        Assert.False(router.TryGet("fraud", out _));
        router.Set(experiment);
        Assert.True(router.TryGet("fraud", out var found));
        Assert.Same(experiment, found);
        Assert.True(router.Remove("fraud"));
        Assert.False(router.Remove("fraud"));
        Assert.False(router.TryGet("fraud", out _));
        Assert.Equal(2, changes);
    }

    private static ExperimentDefinition Parse(string json) => JsonSerializer.Deserialize<ExperimentDefinition>(json, ExperimentDefinition.JsonOptions)!;
}
