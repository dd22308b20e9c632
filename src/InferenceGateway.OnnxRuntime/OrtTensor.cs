using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using InferenceGateway.OnnxRuntime.Native;

namespace InferenceGateway.OnnxRuntime;

/// <summary>
/// A tensor <c>OrtValue</c>: either over caller-owned memory (no copy: ONNX Runtime reads inputs from, and writes
/// pre-allocated outputs into, that memory), or owned by ONNX Runtime (outputs it allocated, string tensors).
/// </summary>
/// <remarks>
/// Dispose it when done: that releases the native value and then the pin on the managed memory, in that order.
/// A tensor may be read by several concurrent runs as an input; using one tensor as the output of two concurrent runs
/// is a data race the caller must avoid.
/// </remarks>
public sealed unsafe class OrtTensor : IDisposable
{
    private readonly OrtValueHandle _handle;
    private readonly long[] _shape;
    private readonly nint _data;

    private OrtTensor(OrtValueHandle handle, TensorElementType elementType, long[] shape, long elementCount, nint data, bool overCallerMemory)
    {
        _handle = handle;
        ElementType = elementType;
        _shape = shape;
        ElementCount = elementCount;
        _data = data;
        IsOverCallerMemory = overCallerMemory;
    }

    /// <summary>The element type.</summary>
    public TensorElementType ElementType { get; }

    /// <summary>The dimensions.</summary>
    public ReadOnlySpan<long> Shape => _shape;

    /// <summary>Product of the dimensions (1 for a scalar).</summary>
    public long ElementCount { get; }

    /// <summary>Bytes of element data (0 for string tensors, whose bytes live inside ORT).</summary>
    public long ByteLength => ElementCount * ElementType.GetElementSize();

    /// <summary>True when the data lives in caller memory rather than in an ORT allocation.</summary>
    public bool IsOverCallerMemory { get; }

    /// <summary>Address of the element data (null for string tensors).</summary>
    public nint DataPointer => _data;

    internal OrtValueHandle Handle => _handle;

    internal bool IsDisposed => _handle.IsClosed;

    /// <summary>
    /// Wraps caller memory the caller keeps pinned (or native) for the whole life of the tensor. No copy.
    /// </summary>
    /// <param name="data">Address of the first element.</param>
    /// <param name="byteLength">Bytes available at <paramref name="data"/>; at least what the shape needs (larger pooled buffers are fine).</param>
    /// <param name="elementType">Float, Int64, Int32, Double or Bool.</param>
    /// <param name="shape">Dimensions, all non-negative.</param>
    public static OrtTensor CreateOver(nint data, long byteLength, TensorElementType elementType, ReadOnlySpan<long> shape) =>
        CreateOverCore(data, byteLength, elementType, shape, pin: default);

    /// <summary>
    /// Wraps pinned memory and takes ownership of <paramref name="pinned"/>: it is released when the tensor is disposed.
    /// </summary>
    public static OrtTensor CreateOver(MemoryHandle pinned, long byteLength, TensorElementType elementType, ReadOnlySpan<long> shape)
    {
        try
        {
            return CreateOverCore((nint)pinned.Pointer, byteLength, elementType, shape, pinned);
        }
        catch
        {
            pinned.Dispose();
            throw;
        }
    }

    /// <summary>Pins <paramref name="memory"/> for the tensor's lifetime and wraps it (float32).</summary>
    public static OrtTensor CreateOver(Memory<float> memory, ReadOnlySpan<long> shape) => CreateOver<float>(memory, shape);

    /// <summary>Pins <paramref name="memory"/> for the tensor's lifetime and wraps it (int64).</summary>
    public static OrtTensor CreateOver(Memory<long> memory, ReadOnlySpan<long> shape) => CreateOver<long>(memory, shape);

    /// <summary>Pins <paramref name="memory"/> for the tensor's lifetime and wraps it (int32).</summary>
    public static OrtTensor CreateOver(Memory<int> memory, ReadOnlySpan<long> shape) => CreateOver<int>(memory, shape);

    /// <summary>Pins <paramref name="memory"/> for the tensor's lifetime and wraps it (float64).</summary>
    public static OrtTensor CreateOver(Memory<double> memory, ReadOnlySpan<long> shape) => CreateOver<double>(memory, shape);

    /// <summary>Pins <paramref name="memory"/> for the tensor's lifetime and wraps it (bool, one byte each).</summary>
    public static OrtTensor CreateOver(Memory<bool> memory, ReadOnlySpan<long> shape) => CreateOver<bool>(memory, shape);

    /// <summary>
    /// Pins <paramref name="memory"/> for the tensor's lifetime and wraps it. <typeparamref name="T"/> must be
    /// float, long, int, double or bool; anything else throws <see cref="NotSupportedException"/> naming the type.
    /// </summary>
    public static OrtTensor CreateOver<T>(Memory<T> memory, ReadOnlySpan<long> shape)
        where T : unmanaged
    {
        var elementType = ElementTypeOf<T>();
        if (elementType == TensorElementType.Undefined)
        {
            throw new NotSupportedException(
                $"Element type {typeof(T).FullName} is not supported for ONNX Runtime tensors; use float, long, int, double or bool.");
        }

        return CreateOver(memory.Pin(), (long)memory.Length * sizeof(T), elementType, shape);
    }

    /// <summary>Creates a tensor whose memory ONNX Runtime allocates (zero-initialisation is not guaranteed).</summary>
    public static OrtTensor Allocate(TensorElementType elementType, ReadOnlySpan<long> shape)
    {
        if (!elementType.IsSupportedOverMemory())
        {
            throw UnsupportedType(elementType);
        }

        var count = CheckedElementCount(shape);
        var handle = CreateAllocated(elementType, shape);
        void* data;
        NativeMethods.ThrowIfError(NativeMethods.GetTensorMutableData(handle.DangerousGetHandle(), &data), "Reading tensor data pointer");
        return new OrtTensor(handle, elementType, shape.ToArray(), count, (nint)data, overCallerMemory: false);
    }

    /// <summary>Creates a string tensor: ORT's allocator owns a copy of the UTF-8 bytes.</summary>
    public static OrtTensor CreateStrings(ReadOnlySpan<string> values, ReadOnlySpan<long> shape)
    {
        var count = CheckedElementCount(shape);
        if (count != values.Length)
        {
            throw new ArgumentException(
                $"Shape [{FormatShape(shape)}] holds {count} strings but {values.Length} were given.", nameof(values));
        }

        var handle = CreateAllocated(TensorElementType.String, shape);
        try
        {
            FillStrings(handle, values);
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        return new OrtTensor(handle, TensorElementType.String, shape.ToArray(), count, 0, overCallerMemory: false);
    }

    /// <summary>Elements as a read-only span; <typeparamref name="T"/> must match <see cref="ElementType"/>.</summary>
    public ReadOnlySpan<T> GetTensorData<T>()
        where T : unmanaged => GetTensorMutableData<T>();

    /// <summary>Elements as a writable span (e.g. to fill an ORT-allocated tensor); <typeparamref name="T"/> must match.</summary>
    public Span<T> GetTensorMutableData<T>()
        where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        var requested = ElementTypeOf<T>();
        if (requested != ElementType || ElementType == TensorElementType.String)
        {
            throw new InvalidOperationException(
                $"Tensor holds {ElementType.ToOnnxTypeName()} elements; they cannot be read as {typeof(T).Name}.");
        }

        return new Span<T>((void*)_data, checked((int)ElementCount));
    }

    /// <summary>Copies the strings out of a string tensor.</summary>
    public string[] GetStrings()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (ElementType != TensorElementType.String)
        {
            throw new InvalidOperationException($"Tensor holds {ElementType.ToOnnxTypeName()} elements, not strings.");
        }

        var count = checked((int)ElementCount);
        var result = new string[count];
        if (count == 0)
        {
            return result;
        }

        var added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            var value = _handle.DangerousGetHandle();
            nuint total;
            NativeMethods.ThrowIfError(NativeMethods.GetStringTensorDataLength(value, &total), "Reading string tensor length");
            var bytes = ArrayPool<byte>.Shared.Rent(checked((int)total) + 1);
            var offsets = ArrayPool<nuint>.Shared.Rent(count);
            try
            {
                fixed (byte* b = bytes)
                fixed (nuint* o = offsets)
                {
                    NativeMethods.ThrowIfError(
                        NativeMethods.GetStringTensorContent(value, b, total, o, (nuint)count), "Reading string tensor content");
                }

                for (var i = 0; i < count; i++)
                {
                    var start = (int)offsets[i];
                    var end = i + 1 < count ? (int)offsets[i + 1] : (int)total;
                    result[i] = Encoding.UTF8.GetString(bytes, start, end - start);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(bytes);
                ArrayPool<nuint>.Shared.Return(offsets);
            }
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }

        return result;
    }

    /// <summary>Releases the native value, then the pin on caller memory (if any).</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>E.g. <c>tensor(float)[2,3]</c>.</summary>
    public override string ToString() => $"{ElementType.ToOnnxTypeName()}[{FormatShape(_shape)}]";

    /// <summary>Wraps an <c>OrtValue</c> that ONNX Runtime allocated (a Run output); takes ownership.</summary>
    internal static OrtTensor FromOwnedValue(nint value)
    {
        var handle = new OrtValueHandle();
        handle.Attach(value);
        try
        {
            int onnxType;
            NativeMethods.ThrowIfError(NativeMethods.GetValueType(value, &onnxType), "Reading output value type");
            if (onnxType != OrtConstants.OnnxTypeTensor)
            {
                throw new NotSupportedException($"Model output is ONNX type {onnxType}, not a tensor; only tensor outputs are supported.");
            }

            var (elementType, shape) = ReadTypeAndShape(value);
            var count = CheckedElementCount(shape);
            nint data = 0;
            if (elementType != TensorElementType.String)
            {
                void* p;
                NativeMethods.ThrowIfError(NativeMethods.GetTensorMutableData(value, &p), "Reading output data pointer");
                data = (nint)p;
            }

            return new OrtTensor(handle, elementType, shape, count, data, overCallerMemory: false);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Element type and dimensions of a tensor value.</summary>
    internal static (TensorElementType ElementType, long[] Shape) ReadTypeAndShape(nint value)
    {
        var info = new OrtTensorTypeAndShapeInfoHandle();
        nint infoPtr;
        NativeMethods.ThrowIfError(NativeMethods.GetTensorTypeAndShape(value, &infoPtr), "Reading tensor type and shape");
        info.Attach(infoPtr);
        using (info)
        {
            int elementType;
            nuint rank;
            NativeMethods.ThrowIfError(NativeMethods.GetTensorElementType(infoPtr, &elementType), "Reading tensor element type");
            NativeMethods.ThrowIfError(NativeMethods.GetDimensionsCount(infoPtr, &rank), "Reading tensor rank");
            var shape = new long[(int)rank];
            fixed (long* dims = shape)
            {
                NativeMethods.ThrowIfError(NativeMethods.GetDimensions(infoPtr, dims, rank), "Reading tensor dimensions");
            }

            return ((TensorElementType)elementType, shape);
        }
    }

    internal static TensorElementType ElementTypeOf<T>()
    {
        // typeof(T) comparisons fold to constants per instantiation.
        if (typeof(T) == typeof(float))
        {
            return TensorElementType.Float;
        }

        if (typeof(T) == typeof(long))
        {
            return TensorElementType.Int64;
        }

        if (typeof(T) == typeof(int))
        {
            return TensorElementType.Int32;
        }

        if (typeof(T) == typeof(double))
        {
            return TensorElementType.Double;
        }

        if (typeof(T) == typeof(bool))
        {
            return TensorElementType.Bool;
        }

        return TensorElementType.Undefined;
    }

    internal static string FormatShape(ReadOnlySpan<long> shape)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < shape.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }

            sb.Append(shape[i].ToString(CultureInfo.InvariantCulture));
        }

        return sb.ToString();
    }

    private static OrtTensor CreateOverCore(nint data, long byteLength, TensorElementType elementType, ReadOnlySpan<long> shape, MemoryHandle pin)
    {
        if (!elementType.IsSupportedOverMemory())
        {
            throw UnsupportedType(elementType);
        }

        var count = CheckedElementCount(shape);
        var required = checked(count * elementType.GetElementSize());
        if (byteLength < required)
        {
            throw new ArgumentException(
                $"Shape [{FormatShape(shape)}] of {elementType.ToOnnxTypeName()} needs {required} bytes but only {byteLength} were given.",
                nameof(byteLength));
        }

        if (data == 0 && required > 0)
        {
            throw new ArgumentNullException(nameof(data), "Tensor data pointer is null.");
        }

        var handle = new OrtValueHandle();
        nint value;
        fixed (long* dims = shape)
        {
            NativeMethods.ThrowIfError(
                NativeMethods.CreateTensorWithDataAsOrtValue(
                    OrtLibrary.CpuMemoryInfo.DangerousGetHandle(), (void*)data, (nuint)required, dims, (nuint)shape.Length, (int)elementType, &value),
                $"Creating a {elementType.ToOnnxTypeName()}[{FormatShape(shape)}] tensor over caller memory");
        }

        handle.Attach(value);
        handle.AttachPin(pin);
        return new OrtTensor(handle, elementType, shape.ToArray(), count, data, overCallerMemory: true);
    }

    private static OrtValueHandle CreateAllocated(TensorElementType elementType, ReadOnlySpan<long> shape)
    {
        var handle = new OrtValueHandle();
        nint value;
        fixed (long* dims = shape)
        {
            NativeMethods.ThrowIfError(
                NativeMethods.CreateTensorAsOrtValue(OrtLibrary.DefaultAllocator, dims, (nuint)shape.Length, (int)elementType, &value),
                $"Allocating a {elementType.ToOnnxTypeName()}[{FormatShape(shape)}] tensor");
        }

        handle.Attach(value);
        return handle;
    }

    private static void FillStrings(OrtValueHandle handle, ReadOnlySpan<string> values)
    {
        if (values.Length == 0)
        {
            return;
        }

        // One native block: the pointer table, then every string's UTF-8 bytes with a terminating zero.
        long bytes = 0;
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i] is null)
            {
                throw new ArgumentException($"String element {i} is null.", nameof(values));
            }

            bytes += Encoding.UTF8.GetByteCount(values[i]) + 1;
        }

        var tableBytes = (nuint)values.Length * (nuint)sizeof(byte*);
        using var block = new NativeBufferHandle(checked(tableBytes + (nuint)bytes));
        var table = (byte**)block.Pointer;
        var cursor = block.Pointer + tableBytes;
        var end = block.Pointer + tableBytes + bytes;
        for (var i = 0; i < values.Length; i++)
        {
            table[i] = cursor;
            var written = Encoding.UTF8.GetBytes(values[i], new Span<byte>(cursor, (int)(end - cursor)));
            cursor[written] = 0;
            cursor += written + 1;
        }

        NativeMethods.ThrowIfError(
            NativeMethods.FillStringTensor(handle.DangerousGetHandle(), table, (nuint)values.Length), "Filling a string tensor");
    }

    private static long CheckedElementCount(ReadOnlySpan<long> shape)
    {
        long count = 1;
        for (var i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0)
            {
                throw new ArgumentException($"Dimension {i} of shape [{FormatShape(shape)}] is negative.", nameof(shape));
            }

            count = checked(count * shape[i]);
        }

        return count;
    }

    private static NotSupportedException UnsupportedType(TensorElementType elementType) =>
        new($"Element type {elementType} ({elementType.ToOnnxTypeName()}) is not supported for tensors over memory; "
            + "supported: Float, Int64, Int32, Double, Bool (use OrtTensor.CreateStrings for String).");
}
