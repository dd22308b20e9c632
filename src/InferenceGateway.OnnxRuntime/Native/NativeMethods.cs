using System.Runtime.InteropServices;

namespace InferenceGateway.OnnxRuntime.Native;

/// <summary>
/// Private declarations of the ONNX Runtime C API: one thin static method per function we call, each an
/// unmanaged function pointer read from the <c>OrtApi</c> table at its <see cref="OrtApiSlot"/>.
/// </summary>
/// <remarks>
/// Opaque native objects travel as <see cref="nint"/>; ownership lives in the SafeHandles next door.
/// Every function returning <c>OrtStatus*</c> returns <see cref="nint"/>: zero means success, anything else must be
/// passed to <see cref="ThrowIfError(nint, string)"/> (which reads and releases it). On Linux ORTCHAR_T is char (UTF-8).
/// </remarks>
internal static unsafe class NativeMethods
{
    // The table lives in the loaded library's data segment for the life of the process.
    private static void** s_api;

    public static bool IsInitialized => s_api != null;

    public static void Initialize(void** api) => s_api = api;

    private static void* Fn(int slot) => s_api[slot];

    // ----- OrtStatus -----

    public static OrtErrorCode GetErrorCode(nint status) =>
        (OrtErrorCode)((delegate* unmanaged<nint, int>)Fn(OrtApiSlot.GetErrorCode))(status);

    public static string GetErrorMessage(nint status) =>
        Marshal.PtrToStringUTF8(((delegate* unmanaged<nint, nint>)Fn(OrtApiSlot.GetErrorMessage))(status)) ?? string.Empty;

    public static void ReleaseStatus(nint status) =>
        ((delegate* unmanaged<nint, void>)Fn(OrtApiSlot.ReleaseStatus))(status);

    public static nint CreateStatus(OrtErrorCode code, byte* message) =>
        ((delegate* unmanaged<int, byte*, nint>)Fn(OrtApiSlot.CreateStatus))((int)code, message);

    /// <summary>Turns a non-null status into an <see cref="OnnxRuntimeException"/>, releasing the status first.</summary>
    public static void ThrowIfError(nint status, string context)
    {
        if (status != 0)
        {
            throw ToException(status, context);
        }
    }

    /// <summary>Reads code and message from a status, releases it, and builds the exception to throw.</summary>
    public static OnnxRuntimeException ToException(nint status, string context)
    {
        OrtErrorCode code;
        string message;
        try
        {
            code = GetErrorCode(status);
            message = GetErrorMessage(status);
        }
        finally
        {
            ReleaseStatus(status);
        }

        return new OnnxRuntimeException(code, message, context);
    }

    // ----- OrtEnv -----

    public static nint CreateEnv(int logLevel, byte* logId, nint* env) =>
        ((delegate* unmanaged<int, byte*, nint*, nint>)Fn(OrtApiSlot.CreateEnv))(logLevel, logId, env);

    public static nint UpdateEnvWithCustomLogLevel(nint env, int logLevel) =>
        ((delegate* unmanaged<nint, int, nint>)Fn(OrtApiSlot.UpdateEnvWithCustomLogLevel))(env, logLevel);

    public static void ReleaseEnv(nint env) =>
        ((delegate* unmanaged<nint, void>)Fn(OrtApiSlot.ReleaseEnv))(env);

    public static nint GetAvailableProviders(byte*** providers, int* count) =>
        ((delegate* unmanaged<byte***, int*, nint>)Fn(OrtApiSlot.GetAvailableProviders))(providers, count);

    public static nint ReleaseAvailableProviders(byte** providers, int count) =>
        ((delegate* unmanaged<byte**, int, nint>)Fn(OrtApiSlot.ReleaseAvailableProviders))(providers, count);

    // ----- OrtSessionOptions -----

    public static nint CreateSessionOptions(nint* options) =>
        ((delegate* unmanaged<nint*, nint>)Fn(OrtApiSlot.CreateSessionOptions))(options);

    public static void ReleaseSessionOptions(nint options) =>
        ((delegate* unmanaged<nint, void>)Fn(OrtApiSlot.ReleaseSessionOptions))(options);

    public static nint SetSessionLogSeverityLevel(nint options, int level) =>
        ((delegate* unmanaged<nint, int, nint>)Fn(OrtApiSlot.SetSessionLogSeverityLevel))(options, level);

    public static nint SetSessionGraphOptimizationLevel(nint options, int level) =>
        ((delegate* unmanaged<nint, int, nint>)Fn(OrtApiSlot.SetSessionGraphOptimizationLevel))(options, level);

    public static nint SetIntraOpNumThreads(nint options, int threads) =>
        ((delegate* unmanaged<nint, int, nint>)Fn(OrtApiSlot.SetIntraOpNumThreads))(options, threads);

    public static nint SetInterOpNumThreads(nint options, int threads) =>
        ((delegate* unmanaged<nint, int, nint>)Fn(OrtApiSlot.SetInterOpNumThreads))(options, threads);

    public static nint AddSessionConfigEntry(nint options, byte* key, byte* value) =>
        ((delegate* unmanaged<nint, byte*, byte*, nint>)Fn(OrtApiSlot.AddSessionConfigEntry))(options, key, value);

    // ----- CUDA provider options (V2) -----

    public static nint CreateCudaProviderOptions(nint* options) =>
        ((delegate* unmanaged<nint*, nint>)Fn(OrtApiSlot.CreateCudaProviderOptions))(options);

    public static nint UpdateCudaProviderOptions(nint options, byte** keys, byte** values, nuint count) =>
        ((delegate* unmanaged<nint, byte**, byte**, nuint, nint>)Fn(OrtApiSlot.UpdateCudaProviderOptions))(options, keys, values, count);

    public static nint SessionOptionsAppendExecutionProviderCudaV2(nint sessionOptions, nint cudaOptions) =>
        ((delegate* unmanaged<nint, nint, nint>)Fn(OrtApiSlot.SessionOptionsAppendExecutionProviderCudaV2))(sessionOptions, cudaOptions);

    public static void ReleaseCudaProviderOptions(nint options) =>
        ((delegate* unmanaged<nint, void>)Fn(OrtApiSlot.ReleaseCudaProviderOptions))(options);

    // ----- OrtSession -----

    public static nint CreateSession(nint env, byte* modelPath, nint options, nint* session) =>
        ((delegate* unmanaged<nint, byte*, nint, nint*, nint>)Fn(OrtApiSlot.CreateSession))(env, modelPath, options, session);

    public static nint CreateSessionFromArray(nint env, void* data, nuint length, nint options, nint* session) =>
        ((delegate* unmanaged<nint, void*, nuint, nint, nint*, nint>)Fn(OrtApiSlot.CreateSessionFromArray))(env, data, length, options, session);

    public static void ReleaseSession(nint session) =>
        ((delegate* unmanaged<nint, void>)Fn(OrtApiSlot.ReleaseSession))(session);

    public static nint Run(
        nint session, nint runOptions, byte** inputNames, nint* inputs, nuint inputCount,
        byte** outputNames, nuint outputCount, nint* outputs) =>
        ((delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint>)Fn(OrtApiSlot.Run))(
            session, runOptions, inputNames, inputs, inputCount, outputNames, outputCount, outputs);

    public static nint SessionGetInputCount(nint session, nuint* count) =>
        ((delegate* unmanaged<nint, nuint*, nint>)Fn(OrtApiSlot.SessionGetInputCount))(session, count);

    public static nint SessionGetOutputCount(nint session, nuint* count) =>
        ((delegate* unmanaged<nint, nuint*, nint>)Fn(OrtApiSlot.SessionGetOutputCount))(session, count);

    public static nint SessionGetInputName(nint session, nuint index, nint allocator, byte** name) =>
        ((delegate* unmanaged<nint, nuint, nint, byte**, nint>)Fn(OrtApiSlot.SessionGetInputName))(session, index, allocator, name);

    public static nint SessionGetOutputName(nint session, nuint index, nint allocator, byte** name) =>
        ((delegate* unmanaged<nint, nuint, nint, byte**, nint>)Fn(OrtApiSlot.SessionGetOutputName))(session, index, allocator, name);

    public static nint SessionGetInputTypeInfo(nint session, nuint index, nint* typeInfo) =>
        ((delegate* unmanaged<nint, nuint, nint*, nint>)Fn(OrtApiSlot.SessionGetInputTypeInfo))(session, index, typeInfo);

    public static nint SessionGetOutputTypeInfo(nint session, nuint index, nint* typeInfo) =>
        ((delegate* unmanaged<nint, nuint, nint*, nint>)Fn(OrtApiSlot.SessionGetOutputTypeInfo))(session, index, typeInfo);

    // ----- Type information -----

    public static nint GetOnnxTypeFromTypeInfo(nint typeInfo, int* onnxType) =>
        ((delegate* unmanaged<nint, int*, nint>)Fn(OrtApiSlot.GetOnnxTypeFromTypeInfo))(typeInfo, onnxType);

    /// <summary>The returned tensor info is owned by <paramref name="typeInfo"/>: never release it.</summary>
    public static nint CastTypeInfoToTensorInfo(nint typeInfo, nint* tensorInfo) =>
        ((delegate* unmanaged<nint, nint*, nint>)Fn(OrtApiSlot.CastTypeInfoToTensorInfo))(typeInfo, tensorInfo);

    public static void ReleaseTypeInfo(nint typeInfo) =>
        ((delegate* unmanaged<nint, void>)Fn(OrtApiSlot.ReleaseTypeInfo))(typeInfo);

    public static nint GetTensorElementType(nint tensorInfo, int* elementType) =>
        ((delegate* unmanaged<nint, int*, nint>)Fn(OrtApiSlot.GetTensorElementType))(tensorInfo, elementType);

    public static nint GetDimensionsCount(nint tensorInfo, nuint* count) =>
        ((delegate* unmanaged<nint, nuint*, nint>)Fn(OrtApiSlot.GetDimensionsCount))(tensorInfo, count);

    public static nint GetDimensions(nint tensorInfo, long* dims, nuint count) =>
        ((delegate* unmanaged<nint, long*, nuint, nint>)Fn(OrtApiSlot.GetDimensions))(tensorInfo, dims, count);

    /// <summary>Fills <paramref name="names"/> with pointers owned by the tensor info (empty string when a dim has no name).</summary>
    public static nint GetSymbolicDimensions(nint tensorInfo, byte** names, nuint count) =>
        ((delegate* unmanaged<nint, byte**, nuint, nint>)Fn(OrtApiSlot.GetSymbolicDimensions))(tensorInfo, names, count);

    public static nint GetTensorShapeElementCount(nint tensorInfo, nuint* count) =>
        ((delegate* unmanaged<nint, nuint*, nint>)Fn(OrtApiSlot.GetTensorShapeElementCount))(tensorInfo, count);

    public static void ReleaseTensorTypeAndShapeInfo(nint tensorInfo) =>
        ((delegate* unmanaged<nint, void>)Fn(OrtApiSlot.ReleaseTensorTypeAndShapeInfo))(tensorInfo);

    // ----- OrtValue -----

    public static nint CreateTensorAsOrtValue(nint allocator, long* shape, nuint rank, int elementType, nint* value) =>
        ((delegate* unmanaged<nint, long*, nuint, int, nint*, nint>)Fn(OrtApiSlot.CreateTensorAsOrtValue))(allocator, shape, rank, elementType, value);

    public static nint CreateTensorWithDataAsOrtValue(
        nint memoryInfo, void* data, nuint byteLength, long* shape, nuint rank, int elementType, nint* value) =>
        ((delegate* unmanaged<nint, void*, nuint, long*, nuint, int, nint*, nint>)Fn(OrtApiSlot.CreateTensorWithDataAsOrtValue))(
            memoryInfo, data, byteLength, shape, rank, elementType, value);

    public static nint IsTensor(nint value, int* isTensor) =>
        ((delegate* unmanaged<nint, int*, nint>)Fn(OrtApiSlot.IsTensor))(value, isTensor);

    public static nint GetValueType(nint value, int* onnxType) =>
        ((delegate* unmanaged<nint, int*, nint>)Fn(OrtApiSlot.GetValueType))(value, onnxType);

    public static nint GetTensorMutableData(nint value, void** data) =>
        ((delegate* unmanaged<nint, void**, nint>)Fn(OrtApiSlot.GetTensorMutableData))(value, data);

    /// <summary>The returned info is a new object: release it with <see cref="ReleaseTensorTypeAndShapeInfo"/>.</summary>
    public static nint GetTensorTypeAndShape(nint value, nint* tensorInfo) =>
        ((delegate* unmanaged<nint, nint*, nint>)Fn(OrtApiSlot.GetTensorTypeAndShape))(value, tensorInfo);

    public static nint FillStringTensor(nint value, byte** strings, nuint count) =>
        ((delegate* unmanaged<nint, byte**, nuint, nint>)Fn(OrtApiSlot.FillStringTensor))(value, strings, count);

    public static nint GetStringTensorDataLength(nint value, nuint* length) =>
        ((delegate* unmanaged<nint, nuint*, nint>)Fn(OrtApiSlot.GetStringTensorDataLength))(value, length);

    public static nint GetStringTensorContent(nint value, void* buffer, nuint bufferLength, nuint* offsets, nuint offsetCount) =>
        ((delegate* unmanaged<nint, void*, nuint, nuint*, nuint, nint>)Fn(OrtApiSlot.GetStringTensorContent))(
            value, buffer, bufferLength, offsets, offsetCount);

    public static void ReleaseValue(nint value) =>
        ((delegate* unmanaged<nint, void>)Fn(OrtApiSlot.ReleaseValue))(value);

    // ----- Memory info and allocator -----

    public static nint CreateCpuMemoryInfo(int allocatorType, int memType, nint* memoryInfo) =>
        ((delegate* unmanaged<int, int, nint*, nint>)Fn(OrtApiSlot.CreateCpuMemoryInfo))(allocatorType, memType, memoryInfo);

    public static void ReleaseMemoryInfo(nint memoryInfo) =>
        ((delegate* unmanaged<nint, void>)Fn(OrtApiSlot.ReleaseMemoryInfo))(memoryInfo);

    /// <summary>The default allocator is a process-wide singleton owned by ONNX Runtime: never release it.</summary>
    public static nint GetAllocatorWithDefaultOptions(nint* allocator) =>
        ((delegate* unmanaged<nint*, nint>)Fn(OrtApiSlot.GetAllocatorWithDefaultOptions))(allocator);

    public static nint AllocatorFree(nint allocator, void* block) =>
        ((delegate* unmanaged<nint, void*, nint>)Fn(OrtApiSlot.AllocatorFree))(allocator, block);
}

/// <summary>Native enum values we pass across the boundary (from <c>onnxruntime_c_api.h</c>).</summary>
internal static class OrtConstants
{
    public const int OnnxTypeTensor = 1;        // ONNXType.ONNX_TYPE_TENSOR
    public const int OrtArenaAllocator = 1;     // OrtAllocatorType.OrtArenaAllocator
    public const int OrtMemTypeDefault = 0;     // OrtMemType.OrtMemTypeDefault
}
