namespace InferenceGateway.OnnxRuntime;

/// <summary>
/// An error reported by ONNX Runtime (its <c>OrtStatus</c> code and message), or a precondition this binding
/// checks before calling it, together with our context (which model, which input).
/// </summary>
public sealed class OnnxRuntimeException : Exception
{
    /// <summary>Creates an exception from ONNX Runtime's code and message plus our context.</summary>
    public OnnxRuntimeException(OrtErrorCode errorCode, string nativeMessage, string context)
        : base(Format(errorCode, nativeMessage, context))
    {
        ErrorCode = errorCode;
        NativeMessage = nativeMessage;
        Context = context;
    }

    /// <summary>Creates an exception without an ORT error code (reported as <see cref="OrtErrorCode.Fail"/>).</summary>
    public OnnxRuntimeException()
        : this(OrtErrorCode.Fail, string.Empty, string.Empty)
    {
    }

    /// <summary>Creates an exception with a message only (reported as <see cref="OrtErrorCode.Fail"/>).</summary>
    public OnnxRuntimeException(string message)
        : this(OrtErrorCode.Fail, message, string.Empty)
    {
    }

    /// <summary>Creates an exception with a message and inner exception (reported as <see cref="OrtErrorCode.Fail"/>).</summary>
    public OnnxRuntimeException(string message, Exception innerException)
        : base(message, innerException)
    {
        ErrorCode = OrtErrorCode.Fail;
        NativeMessage = message;
        Context = string.Empty;
    }

    /// <summary>ONNX Runtime's error code (<c>OrtErrorCode</c>).</summary>
    public OrtErrorCode ErrorCode { get; }

    /// <summary>The message exactly as ONNX Runtime (or our pre-validation) produced it.</summary>
    public string NativeMessage { get; }

    /// <summary>What we were doing, e.g. "Loading model '/models/fraud/1/model.onnx'".</summary>
    public string Context { get; }

    private static string Format(OrtErrorCode code, string nativeMessage, string context) =>
        context.Length == 0
            ? $"[{code}] {nativeMessage}"
            : $"{context}: [{code}] {nativeMessage}";
}

/// <summary>ONNX Runtime's <c>OrtErrorCode</c> values.</summary>
public enum OrtErrorCode
{
    /// <summary>ORT_OK.</summary>
    Ok = 0,
    /// <summary>ORT_FAIL.</summary>
    Fail = 1,
    /// <summary>ORT_INVALID_ARGUMENT.</summary>
    InvalidArgument = 2,
    /// <summary>ORT_NO_SUCHFILE.</summary>
    NoSuchFile = 3,
    /// <summary>ORT_NO_MODEL.</summary>
    NoModel = 4,
    /// <summary>ORT_ENGINE_ERROR.</summary>
    EngineError = 5,
    /// <summary>ORT_RUNTIME_EXCEPTION.</summary>
    RuntimeException = 6,
    /// <summary>ORT_INVALID_PROTOBUF.</summary>
    InvalidProtobuf = 7,
    /// <summary>ORT_MODEL_LOADED.</summary>
    ModelLoaded = 8,
    /// <summary>ORT_NOT_IMPLEMENTED.</summary>
    NotImplemented = 9,
    /// <summary>ORT_INVALID_GRAPH.</summary>
    InvalidGraph = 10,
    /// <summary>ORT_EP_FAIL.</summary>
    EpFail = 11,
}
