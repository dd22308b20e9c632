using InferenceGateway.Core.Routing;

namespace InferenceGateway.Core.Tests.Routing;

/// <summary>A catalog of models and versions for validation, as the repository would answer.</summary>
internal sealed class FakeCatalog : IModelCatalog
{
    private readonly Dictionary<(string, string), CatalogVersion> _versions = [];

    public FakeCatalog Local(string model, params string[] versions)
    {
        foreach (var v in versions)
        {
            _versions[(model, v)] = CatalogVersion.Local;
        }

        return this;
    }

    public FakeCatalog Remote(string model, params string[] versions)
    {
        foreach (var v in versions)
        {
            _versions[(model, v)] = CatalogVersion.Remote;
        }

        return this;
    }

    public bool HasModel(string model) => _versions.Keys.Any(k => k.Item1 == model);

    public CatalogVersion GetVersion(string model, string version) => _versions.GetValueOrDefault((model, version));
}

internal static class Experiments
{
    public static readonly FakeCatalog Catalog = new FakeCatalog().Local("fraud", "1", "2", "4").Remote("fraud", "3");

    public static Experiment Build(string salt, params (string Name, string Version, double Weight)[] arms) =>
        Build(new ExperimentDefinition
        {
            Arms = [.. arms.Select(a => new ArmDefinition { Name = a.Name, Version = a.Version, Weight = a.Weight })],
            Salt = salt,
        });

    public static Experiment Build(ExperimentDefinition definition)
    {
        var errors = new List<string>();
        var experiment = ExperimentValidator.Validate("fraud", definition, Catalog, TimeSpan.FromSeconds(1), errors);
        Assert.True(experiment is not null, string.Join("; ", errors));
        return experiment;
    }

    public static string Key(int i) => "card-" + i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture);
}
