namespace InferenceGateway.OnnxRuntime;

/// <summary>Process-wide ONNX Runtime settings: which library to load and how much ORT logs.</summary>
public sealed record OrtOptions
{
    /// <summary>Explicit path of the ONNX Runtime library (e.g. the CUDA build on a GPU host); null to resolve it
    /// from <c>ORT_LIBRARY_PATH</c>, then next to the application, then default probing.</summary>
    public string? LibraryPath { get; init; }

    /// <summary>Minimum severity ORT itself logs (to stderr). Warning by default.</summary>
    public OrtLogLevel LogLevel { get; init; } = OrtLogLevel.Warning;

    /// <summary>The log identifier ORT prefixes its messages with.</summary>
    public string LogId { get; init; } = "InferenceGateway";
}

/// <summary>ONNX Runtime's <c>OrtLoggingLevel</c> values.</summary>
public enum OrtLogLevel
{
    /// <summary>Everything.</summary>
    Verbose = 0,
    /// <summary>Informational and above.</summary>
    Info = 1,
    /// <summary>Warnings and above.</summary>
    Warning = 2,
    /// <summary>Errors and above.</summary>
    Error = 3,
    /// <summary>Fatal errors only.</summary>
    Fatal = 4,
}
