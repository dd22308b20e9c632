using Microsoft.Extensions.Logging;

namespace InferenceGateway.OnnxRuntime;

/// <summary>Source-generated log messages of the ONNX Runtime backend; EventIds and names are stable (tests and dashboards match on them).</summary>
internal static partial class OnnxRuntimeLog
{
    [LoggerMessage(EventId = 1, EventName = "CudaProviderUnavailable", Level = LogLevel.Warning,
        Message = "CUDA execution provider requested for model '{ModelPath}' (device {DeviceId}) but it could not be enabled; falling back to CPU. ONNX Runtime said: {OrtMessage}")]
    public static partial void CudaProviderUnavailable(ILogger logger, string modelPath, int deviceId, string ortMessage);

    [LoggerMessage(EventId = 2, EventName = "SessionCreated", Level = LogLevel.Information,
        Message = "Loaded model '{ModelPath}' on {ExecutionProvider} ({InputCount} inputs, {OutputCount} outputs, ONNX Runtime {Version}, {Flavor} build)")]
    public static partial void SessionCreated(ILogger logger, string modelPath, ExecutionProvider executionProvider, int inputCount, int outputCount, string version, string flavor);

    [LoggerMessage(EventId = 3, EventName = "LibraryPathVariableIgnored", Level = LogLevel.Warning,
        Message = "ORT_LIBRARY_PATH is set ('{Path}') but ignored: ONNX Runtime now comes from the build's NuGet package (build with -p:OrtFlavor=Gpu for CUDA)")]
    public static partial void LibraryPathVariableIgnored(ILogger logger, string path);
}
