using Microsoft.Extensions.Logging;

namespace InferenceGateway.OnnxRuntime;

public sealed partial class InferenceSession
{
    /// <summary>Source-generated log messages; EventIds and names are stable (tests and dashboards match on them).</summary>
    internal static partial class Log
    {
        [LoggerMessage(EventId = 1, EventName = "CudaProviderUnavailable", Level = LogLevel.Warning,
            Message = "CUDA execution provider requested for model '{ModelPath}' (device {DeviceId}) but it could not be enabled; falling back to CPU. ONNX Runtime said: {OrtMessage}")]
        public static partial void CudaProviderUnavailable(ILogger logger, string modelPath, int deviceId, string ortMessage);

        [LoggerMessage(EventId = 2, EventName = "SessionCreated", Level = LogLevel.Information,
            Message = "Loaded model '{ModelPath}' on {ExecutionProvider} ({InputCount} inputs, {OutputCount} outputs, ONNX Runtime {Version})")]
        public static partial void SessionCreated(ILogger logger, string modelPath, ExecutionProvider executionProvider, int inputCount, int outputCount, string version);
    }
}
