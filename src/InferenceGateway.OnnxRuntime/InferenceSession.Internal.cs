using System.Runtime.InteropServices;
using System.Text;
using InferenceGateway.OnnxRuntime.Native;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.OnnxRuntime;

// Session construction, metadata and the cold paths of Run.
public sealed unsafe partial class InferenceSession
{
    private static OrtSessionOptionsHandle CreateSessionOptions(OrtSessionConfig config, string context)
    {
        var options = new OrtSessionOptionsHandle();
        nint p;
        NativeMethods.ThrowIfError(NativeMethods.CreateSessionOptions(&p), context);
        options.Attach(p);
        try
        {
            NativeMethods.ThrowIfError(NativeMethods.SetSessionGraphOptimizationLevel(p, (int)config.GraphOptimizationLevel), context);
            if (config.IntraOpThreads > 0)
            {
                NativeMethods.ThrowIfError(NativeMethods.SetIntraOpNumThreads(p, config.IntraOpThreads), context);
            }

            if (config.InterOpThreads > 0)
            {
                NativeMethods.ThrowIfError(NativeMethods.SetInterOpNumThreads(p, config.InterOpThreads), context);
            }

            if (config.AllowSpinning is { } spin)
            {
                AddConfigEntry(p, "session.intra_op.allow_spinning", spin ? "1" : "0", context);
                AddConfigEntry(p, "session.inter_op.allow_spinning", spin ? "1" : "0", context);
            }

            if (config.ConfigEntries is { } entries)
            {
                foreach (var (key, value) in entries)
                {
                    AddConfigEntry(p, key, value, context);
                }
            }

            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    private static void AddConfigEntry(nint options, string key, string value, string context)
    {
        var keyBytes = Encoding.UTF8.GetBytes(key + "\0");
        var valueBytes = Encoding.UTF8.GetBytes(value + "\0");
        fixed (byte* k = keyBytes)
        fixed (byte* v = valueBytes)
        {
            NativeMethods.ThrowIfError(NativeMethods.AddSessionConfigEntry(options, k, v), $"{context} (session config '{key}')");
        }
    }

    /// <summary>
    /// Appends the requested provider to <paramref name="options"/> and returns the provider that will run the model.
    /// CUDA goes through the V2 options (device id as a string key); any failure logs a warning and leaves the options
    /// on ORT's default CPU provider.
    /// </summary>
    internal static ExecutionProvider ConfigureExecutionProvider(
        OrtSessionOptionsHandle options, OrtSessionConfig config, string modelPath, ILogger logger)
    {
        if (config.ExecutionProvider != ExecutionProvider.Cuda)
        {
            return ExecutionProvider.Cpu;
        }

        var error = TryAppendCuda(options, config.CudaDeviceId);
        if (error is null)
        {
            return ExecutionProvider.Cuda;
        }

        Log.CudaProviderUnavailable(logger, modelPath, config.CudaDeviceId, error);
        return ExecutionProvider.Cpu;
    }

    /// <summary>Returns null on success, else ORT's message.</summary>
    private static string? TryAppendCuda(OrtSessionOptionsHandle options, int deviceId)
    {
        using var cuda = new OrtCudaProviderOptionsHandle();
        nint p;
        var status = NativeMethods.CreateCudaProviderOptions(&p);
        if (status != 0)
        {
            return NativeMethods.ToException(status, string.Empty).NativeMessage;
        }

        cuda.Attach(p);
        var key = Marshal.StringToCoTaskMemUTF8("device_id");
        var value = Marshal.StringToCoTaskMemUTF8(deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            var keys = (byte*)key;
            var values = (byte*)value;
            status = NativeMethods.UpdateCudaProviderOptions(p, &keys, &values, 1);
            if (status == 0)
            {
                status = NativeMethods.SessionOptionsAppendExecutionProviderCudaV2(options.DangerousGetHandle(), p);
            }

            return status == 0 ? null : NativeMethods.ToException(status, string.Empty).NativeMessage;
        }
        finally
        {
            Marshal.FreeCoTaskMem(key);
            Marshal.FreeCoTaskMem(value);
        }
    }

    private static OrtSessionHandle CreateSessionHandle(OnnxRuntimeEnvironment env, string modelPath, OrtSessionOptionsHandle options, string context)
    {
        var session = new OrtSessionHandle();
        nint p;
        nint status;
        if (OperatingSystem.IsWindows())
        {
            // ORTCHAR_T is wchar_t on Windows.
            fixed (char* path = modelPath)
            {
                status = NativeMethods.CreateSession(env.Handle.DangerousGetHandle(), (byte*)path, options.DangerousGetHandle(), &p);
            }
        }
        else
        {
            var path = Marshal.StringToCoTaskMemUTF8(modelPath);
            try
            {
                status = NativeMethods.CreateSession(env.Handle.DangerousGetHandle(), (byte*)path, options.DangerousGetHandle(), &p);
            }
            finally
            {
                Marshal.FreeCoTaskMem(path);
            }
        }

        NativeMethods.ThrowIfError(status, context);
        session.Attach(p);
        return session;
    }

    private static bool IsModelProblem(OrtErrorCode code) =>
        code is OrtErrorCode.NoSuchFile or OrtErrorCode.NoModel or OrtErrorCode.InvalidProtobuf or OrtErrorCode.InvalidGraph;

    private static TensorInfo[] ReadMetadata(OrtSessionHandle session, bool isInput, string context)
    {
        var s = session.DangerousGetHandle();
        nuint count;
        NativeMethods.ThrowIfError(isInput ? NativeMethods.SessionGetInputCount(s, &count) : NativeMethods.SessionGetOutputCount(s, &count), context);
        var result = new TensorInfo[(int)count];
        var allocator = OrtLibrary.DefaultAllocator;
        for (nuint i = 0; i < count; i++)
        {
            byte* namePtr;
            NativeMethods.ThrowIfError(
                isInput ? NativeMethods.SessionGetInputName(s, i, allocator, &namePtr) : NativeMethods.SessionGetOutputName(s, i, allocator, &namePtr),
                context);
            string name;
            try
            {
                name = Marshal.PtrToStringUTF8((nint)namePtr) ?? string.Empty;
            }
            finally
            {
                // The name was allocated with the allocator we passed: free it with the same one.
                NativeMethods.ThrowIfError(NativeMethods.AllocatorFree(allocator, namePtr), context);
            }

            using var typeInfo = new OrtTypeInfoHandle();
            nint ti;
            NativeMethods.ThrowIfError(
                isInput ? NativeMethods.SessionGetInputTypeInfo(s, i, &ti) : NativeMethods.SessionGetOutputTypeInfo(s, i, &ti), context);
            typeInfo.Attach(ti);
            result[(int)i] = ReadTensorInfo(name, ti, context);
        }

        return result;
    }

    private static TensorInfo ReadTensorInfo(string name, nint typeInfo, string context)
    {
        int onnxType;
        NativeMethods.ThrowIfError(NativeMethods.GetOnnxTypeFromTypeInfo(typeInfo, &onnxType), context);
        if (onnxType != OrtConstants.OnnxTypeTensor)
        {
            return new TensorInfo(name, TensorElementType.Undefined, [], []);
        }

        nint info; // owned by typeInfo
        NativeMethods.ThrowIfError(NativeMethods.CastTypeInfoToTensorInfo(typeInfo, &info), context);
        int elementType;
        nuint rank;
        NativeMethods.ThrowIfError(NativeMethods.GetTensorElementType(info, &elementType), context);
        NativeMethods.ThrowIfError(NativeMethods.GetDimensionsCount(info, &rank), context);
        var shape = new long[(int)rank];
        var symbolic = new string[(int)rank];
        if (rank > 0)
        {
            var names = new nint[(int)rank];
            fixed (long* dims = shape)
            fixed (nint* n = names)
            {
                NativeMethods.ThrowIfError(NativeMethods.GetDimensions(info, dims, rank), context);
                NativeMethods.ThrowIfError(NativeMethods.GetSymbolicDimensions(info, (byte**)n, rank), context);
            }

            for (var d = 0; d < shape.Length; d++)
            {
                // ORT reports symbolic and unknown dims as -1; normalise anything negative to -1.
                if (shape[d] < 0)
                {
                    shape[d] = -1;
                }

                symbolic[d] = names[d] == 0 ? string.Empty : Marshal.PtrToStringUTF8(names[d]) ?? string.Empty;
            }
        }

        return new TensorInfo(name, (TensorElementType)elementType, shape, symbolic);
    }

    /// <summary>One native block: [input name pointers][output name pointers][NUL-terminated UTF-8 names].</summary>
    private static (NativeBufferHandle Block, nint InputNames, nint OutputNames) BuildNameTables(TensorInfo[] inputs, TensorInfo[] outputs)
    {
        var pointerBytes = (nuint)(inputs.Length + outputs.Length) * (nuint)sizeof(byte*);
        nuint textBytes = 0;
        foreach (var t in inputs)
        {
            textBytes += (nuint)Encoding.UTF8.GetByteCount(t.Name) + 1;
        }

        foreach (var t in outputs)
        {
            textBytes += (nuint)Encoding.UTF8.GetByteCount(t.Name) + 1;
        }

        var block = new NativeBufferHandle(pointerBytes + textBytes);
        var table = (byte**)block.Pointer;
        var cursor = block.Pointer + pointerBytes;
        var index = 0;
        foreach (var t in inputs)
        {
            table[index++] = cursor;
            cursor = WriteUtf8(t.Name, cursor);
        }

        foreach (var t in outputs)
        {
            table[index++] = cursor;
            cursor = WriteUtf8(t.Name, cursor);
        }

        return (block, (nint)table, (nint)(table + inputs.Length));
    }

    private static byte* WriteUtf8(string value, byte* destination)
    {
        var count = Encoding.UTF8.GetByteCount(value);
        Encoding.UTF8.GetBytes(value, new Span<byte>(destination, count));
        destination[count] = 0;
        return destination + count + 1;
    }

    private static int IndexOf(TensorInfo[] infos, string name)
    {
        for (var i = 0; i < infos.Length; i++)
        {
            if (string.Equals(infos[i].Name, name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    private void ResolveNames(TensorInfo[] infos, ReadOnlySpan<string> names, Span<int> indices, string kind)
    {
        for (var i = 0; i < names.Length; i++)
        {
            var index = IndexOf(infos, names[i]);
            if (index < 0)
            {
                throw new OnnxRuntimeException(
                    OrtErrorCode.InvalidArgument,
                    $"Model has no {kind} named '{names[i]}'; {kind}s are: {string.Join(", ", infos.Select(t => t.Name))}.",
                    _runContext);
            }

            indices[i] = index;
        }
    }

    private void RunByNameSlow(ReadOnlySpan<string> inputNames, ReadOnlySpan<OrtTensor> inputs, ReadOnlySpan<string> outputNames, Span<OrtTensor?> outputs)
    {
        var inputIndices = new int[inputNames.Length];
        var outputIndices = new int[outputNames.Length];
        ResolveNames(_inputs, inputNames, inputIndices, "input");
        ResolveNames(_outputs, outputNames, outputIndices, "output");
        Run(inputIndices, inputs, outputIndices, outputs);
    }

    /// <summary>
    /// Checks element type, rank and every fixed dimension, so the error names the input with expected and actual
    /// values. ORT validates again; this only front-runs its message with ours. Allocation-free unless it throws.
    /// </summary>
    private void ValidateInput(TensorInfo expected, OrtTensor actual)
    {
        ObjectDisposedException.ThrowIf(actual.IsDisposed, actual);
        if (expected.ElementType != TensorElementType.Undefined && actual.ElementType != expected.ElementType)
        {
            throw new OnnxRuntimeException(
                OrtErrorCode.InvalidArgument,
                $"Input '{expected.Name}' expects {expected.ElementType.ToOnnxTypeName()} but got {actual.ElementType.ToOnnxTypeName()}.",
                _runContext);
        }

        if (!ShapeMatches(expected.Shape, actual.Shape))
        {
            throw new OnnxRuntimeException(
                OrtErrorCode.InvalidArgument,
                $"Input '{expected.Name}' expects shape [{FormatExpected(expected)}] but got [{OrtTensor.FormatShape(actual.Shape)}].",
                _runContext);
        }
    }

    private void ValidateOutput(TensorInfo expected, OrtTensor actual)
    {
        ObjectDisposedException.ThrowIf(actual.IsDisposed, actual);
        if (expected.ElementType != TensorElementType.Undefined && actual.ElementType != expected.ElementType)
        {
            throw new OnnxRuntimeException(
                OrtErrorCode.InvalidArgument,
                $"Output '{expected.Name}' is {expected.ElementType.ToOnnxTypeName()} but the pre-allocated tensor is {actual.ElementType.ToOnnxTypeName()}.",
                _runContext);
        }

        if (!ShapeMatches(expected.Shape, actual.Shape))
        {
            throw new OnnxRuntimeException(
                OrtErrorCode.InvalidArgument,
                $"Output '{expected.Name}' has shape [{FormatExpected(expected)}] but the pre-allocated tensor is [{OrtTensor.FormatShape(actual.Shape)}].",
                _runContext);
        }
    }

    private static bool ShapeMatches(long[] expected, ReadOnlySpan<long> actual)
    {
        if (expected.Length != actual.Length)
        {
            return false;
        }

        for (var d = 0; d < expected.Length; d++)
        {
            if (expected[d] >= 0 && expected[d] != actual[d])
            {
                return false;
            }
        }

        return true;
    }

    private static string FormatExpected(TensorInfo info)
    {
        var parts = new string[info.Shape.Length];
        for (var d = 0; d < parts.Length; d++)
        {
            parts[d] = info.Shape[d] >= 0
                ? info.Shape[d].ToString(System.Globalization.CultureInfo.InvariantCulture)
                : info.SymbolicDims[d].Length > 0 ? info.SymbolicDims[d] : "?";
        }

        return string.Join(',', parts);
    }

    private static void ReleaseOutputReferences(Span<OrtTensor?> outputs, ref int held)
    {
        for (var i = 0; i < outputs.Length && held > 0; i++)
        {
            if (outputs[i] is { } tensor)
            {
                tensor.Handle.DangerousRelease();
                held--;
            }
        }
    }

    /// <summary>After a failed run, frees anything ORT may have allocated into slots we left empty.</summary>
    private static void ReleaseOrtAllocatedOutputs(Span<OrtTensor?> outputs, nint* values)
    {
        for (var i = 0; i < outputs.Length; i++)
        {
            if (outputs[i] is null && values[i] != 0)
            {
                NativeMethods.ReleaseValue(values[i]);
            }
        }
    }

    private void CollectOutputs(Span<OrtTensor?> outputs, nint* values)
    {
        var i = 0;
        try
        {
            for (; i < outputs.Length; i++)
            {
                if (outputs[i] is { } preallocated)
                {
                    EnsureWrittenInPlace(preallocated);
                }
                else
                {
                    outputs[i] = OrtTensor.FromOwnedValue(values[i]);
                }
            }
        }
        catch
        {
            // Slot i released its own value (FromOwnedValue disposes on failure); free the ones not yet wrapped.
            for (var j = i + 1; j < outputs.Length; j++)
            {
                if (outputs[j] is null && values[j] != 0)
                {
                    NativeMethods.ReleaseValue(values[j]);
                }
            }

            throw;
        }
    }

    /// <summary>
    /// ORT normally writes a pre-allocated output straight into its memory. Should it instead have pointed the value
    /// at its own buffer (it may, e.g. for an output that is a graph input or initializer), copy into the caller's
    /// memory so the zero-copy contract "your array holds the result" still holds.
    /// </summary>
    private void EnsureWrittenInPlace(OrtTensor tensor)
    {
        if (tensor.ElementType == TensorElementType.String)
        {
            return;
        }

        void* data;
        NativeMethods.ThrowIfError(NativeMethods.GetTensorMutableData(tensor.Handle.DangerousGetHandle(), &data), _runContext);
        if ((nint)data == tensor.DataPointer || tensor.ByteLength == 0)
        {
            return;
        }

        Buffer.MemoryCopy(data, (void*)tensor.DataPointer, tensor.ByteLength, tensor.ByteLength);
    }
}
