namespace InferenceGateway.Core.Routing;

/// <summary>How a version of a model is served, as far as routing is concerned.</summary>
public enum CatalogVersion
{
    /// <summary>Not served (unknown, not loaded, or not ready).</summary>
    Missing,

    /// <summary>Served in process.</summary>
    Local,

    /// <summary>Declared remote: forwarded to an Open Inference Protocol endpoint.</summary>
    Remote,
}

/// <summary>The served models and versions that experiments may name; the model repository in the gateway.</summary>
public interface IModelCatalog
{
    /// <summary>True when the model is served (has a configuration in the repository).</summary>
    bool HasModel(string model);

    /// <summary>How <paramref name="version"/> of <paramref name="model"/> is served.</summary>
    CatalogVersion GetVersion(string model, string version);
}
