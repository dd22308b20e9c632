using InferenceGateway.Core.Models;

namespace InferenceGateway.Core.Routing;

/// <summary>The model repository as experiments see it: ready local versions and declared remote ones.</summary>
public sealed class ModelRepositoryCatalog(ModelRepository repository) : IModelCatalog
{
    /// <inheritdoc />
    public bool HasModel(string model) => repository.Models.ContainsKey(model);

    /// <inheritdoc />
    public CatalogVersion GetVersion(string model, string version) =>
        repository.TryGetVersion(model, version, out var local) && local is not null ? CatalogVersion.Local
        : repository.TryGetRemoteVersion(model, version, out _) ? CatalogVersion.Remote
        : CatalogVersion.Missing;
}
