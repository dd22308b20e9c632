namespace InferenceGateway.OnnxRuntime;

/// <summary>Tensor element types, with the numeric values of ONNX Runtime's <c>ONNXTensorElementDataType</c>.</summary>
/// <remarks>
/// Tensors over caller memory support <see cref="Float"/>, <see cref="Int64"/>, <see cref="Int32"/>,
/// <see cref="Double"/> and <see cref="Bool"/>; <see cref="String"/> tensors are built through ORT's allocator.
/// The other values are named so metadata of any model can be reported.
/// </remarks>
public enum TensorElementType
{
    /// <summary>Unknown, or not a tensor.</summary>
    Undefined = 0,
    /// <summary>32-bit IEEE float.</summary>
    Float = 1,
    /// <summary>Unsigned 8-bit integer.</summary>
    UInt8 = 2,
    /// <summary>Signed 8-bit integer.</summary>
    Int8 = 3,
    /// <summary>Unsigned 16-bit integer.</summary>
    UInt16 = 4,
    /// <summary>Signed 16-bit integer.</summary>
    Int16 = 5,
    /// <summary>Signed 32-bit integer.</summary>
    Int32 = 6,
    /// <summary>Signed 64-bit integer.</summary>
    Int64 = 7,
    /// <summary>UTF-8 string.</summary>
    String = 8,
    /// <summary>Boolean stored in one byte.</summary>
    Bool = 9,
    /// <summary>IEEE half precision float.</summary>
    Float16 = 10,
    /// <summary>64-bit IEEE float.</summary>
    Double = 11,
    /// <summary>Unsigned 32-bit integer.</summary>
    UInt32 = 12,
    /// <summary>Unsigned 64-bit integer.</summary>
    UInt64 = 13,
    /// <summary>Complex with float32 parts.</summary>
    Complex64 = 14,
    /// <summary>Complex with float64 parts.</summary>
    Complex128 = 15,
    /// <summary>Brain float 16.</summary>
    BFloat16 = 16,
    /// <summary>8-bit float E4M3FN.</summary>
    Float8E4M3FN = 17,
    /// <summary>8-bit float E4M3FNUZ.</summary>
    Float8E4M3FNUZ = 18,
    /// <summary>8-bit float E5M2.</summary>
    Float8E5M2 = 19,
    /// <summary>8-bit float E5M2FNUZ.</summary>
    Float8E5M2FNUZ = 20,
    /// <summary>Unsigned 4-bit integer (packed).</summary>
    UInt4 = 21,
    /// <summary>Signed 4-bit integer (packed).</summary>
    Int4 = 22,
}

/// <summary>Sizes and names of element types.</summary>
public static class TensorElementTypeExtensions
{
    /// <summary>Bytes per element for the types a tensor can be created over caller memory with; 0 otherwise.</summary>
    public static int GetElementSize(this TensorElementType type) => type switch
    {
        TensorElementType.Float => sizeof(float),
        TensorElementType.Int64 => sizeof(long),
        TensorElementType.Int32 => sizeof(int),
        TensorElementType.Double => sizeof(double),
        TensorElementType.Bool => sizeof(bool),
        _ => 0,
    };

    /// <summary>True for the types <see cref="OrtTensor"/> can wrap caller memory for.</summary>
    public static bool IsSupportedOverMemory(this TensorElementType type) => type.GetElementSize() != 0;

    /// <summary>ONNX spelling, e.g. <c>tensor(float)</c>, as ONNX Runtime's own messages use.</summary>
    public static string ToOnnxTypeName(this TensorElementType type) => type switch
    {
        TensorElementType.Float => "tensor(float)",
        TensorElementType.UInt8 => "tensor(uint8)",
        TensorElementType.Int8 => "tensor(int8)",
        TensorElementType.UInt16 => "tensor(uint16)",
        TensorElementType.Int16 => "tensor(int16)",
        TensorElementType.Int32 => "tensor(int32)",
        TensorElementType.Int64 => "tensor(int64)",
        TensorElementType.String => "tensor(string)",
        TensorElementType.Bool => "tensor(bool)",
        TensorElementType.Float16 => "tensor(float16)",
        TensorElementType.Double => "tensor(double)",
        TensorElementType.UInt32 => "tensor(uint32)",
        TensorElementType.UInt64 => "tensor(uint64)",
        TensorElementType.BFloat16 => "tensor(bfloat16)",
        _ => $"tensor({type})",
    };
}
