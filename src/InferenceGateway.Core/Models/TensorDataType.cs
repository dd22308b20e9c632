namespace InferenceGateway.Core.Models;

/// <summary>Element type of a model tensor, named as the Open Inference Protocol names them.</summary>
public enum TensorDataType
{
    /// <summary>Unknown or unsupported type.</summary>
    Unknown = 0,
    /// <summary>Boolean, one byte per element.</summary>
    Bool,
    /// <summary>Signed 32-bit integer.</summary>
    Int32,
    /// <summary>Signed 64-bit integer.</summary>
    Int64,
    /// <summary>IEEE 754 single precision.</summary>
    Fp32,
    /// <summary>IEEE 754 double precision.</summary>
    Fp64,
    /// <summary>Variable-length byte strings.</summary>
    Bytes,
}

/// <summary>Conversions between <see cref="TensorDataType"/> and its protocol names and sizes.</summary>
public static class TensorDataTypes
{
    /// <summary>Parses a KServe v2 datatype name ("FP32", "INT64", "BYTES", ...).</summary>
    public static TensorDataType Parse(string? name) => name switch
    {
        "BOOL" => TensorDataType.Bool,
        "INT32" => TensorDataType.Int32,
        "INT64" => TensorDataType.Int64,
        "FP32" => TensorDataType.Fp32,
        "FP64" => TensorDataType.Fp64,
        "BYTES" => TensorDataType.Bytes,
        _ => TensorDataType.Unknown,
    };

    /// <summary>The KServe v2 datatype name.</summary>
    public static string ToProtocolName(this TensorDataType type) => type switch
    {
        TensorDataType.Bool => "BOOL",
        TensorDataType.Int32 => "INT32",
        TensorDataType.Int64 => "INT64",
        TensorDataType.Fp32 => "FP32",
        TensorDataType.Fp64 => "FP64",
        TensorDataType.Bytes => "BYTES",
        _ => "UNKNOWN",
    };

    /// <summary>Size of one element in bytes; 0 for variable-length types.</summary>
    public static int ElementSize(this TensorDataType type) => type switch
    {
        TensorDataType.Bool => 1,
        TensorDataType.Int32 => 4,
        TensorDataType.Int64 => 8,
        TensorDataType.Fp32 => 4,
        TensorDataType.Fp64 => 8,
        _ => 0,
    };
}

/// <summary>Name, element type and shape of one tensor; -1 marks a dynamic dimension.</summary>
/// <param name="Name">Tensor name as the model declares it.</param>
/// <param name="DataType">Element type.</param>
/// <param name="Shape">Dimensions, -1 where dynamic (the batch dimension first when the model batches).</param>
public sealed record TensorMetadata(string Name, TensorDataType DataType, long[] Shape)
{
    /// <summary>Shape as text, e.g. [-1,3].</summary>
    public string ShapeText => "[" + string.Join(',', Shape) + "]";
}
