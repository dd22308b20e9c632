namespace InferenceGateway.OnnxRuntime;

/// <summary>Name, element type and shape of one model input or output.</summary>
public sealed class TensorInfo
{
    /// <summary>Creates metadata for one input or output.</summary>
    public TensorInfo(string name, TensorElementType elementType, long[] shape, string[] symbolicDims)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(symbolicDims);
        if (symbolicDims.Length != shape.Length)
        {
            throw new ArgumentException("One symbolic name (possibly empty) is expected per dimension.", nameof(symbolicDims));
        }

        Name = name;
        ElementType = elementType;
        Shape = shape;
        SymbolicDims = symbolicDims;
    }

    /// <summary>The name in the graph.</summary>
    public string Name { get; }

    /// <summary>Element type; <see cref="TensorElementType.Undefined"/> for non-tensor values (sequences, maps).</summary>
    public TensorElementType ElementType { get; }

    /// <summary>Dimensions, with -1 for symbolic or unknown ones (e.g. a batch dimension). Do not mutate.</summary>
    public long[] Shape { get; }

    /// <summary>Per dimension, its symbolic name (e.g. "batch") or an empty string when fixed or unnamed.</summary>
    public string[] SymbolicDims { get; }

    /// <summary>Number of dimensions.</summary>
    public int Rank => Shape.Length;

    /// <summary>True when any dimension is symbolic or unknown.</summary>
    public bool HasDynamicDims => Array.IndexOf(Shape, -1L) >= 0;

    /// <summary>E.g. <c>x: tensor(float)[batch,3]</c>.</summary>
    public override string ToString()
    {
        var dims = new string[Shape.Length];
        for (var i = 0; i < dims.Length; i++)
        {
            dims[i] = Shape[i] >= 0 ? Shape[i].ToString(System.Globalization.CultureInfo.InvariantCulture)
                : SymbolicDims[i].Length > 0 ? SymbolicDims[i] : "?";
        }

        return $"{Name}: {ElementType.ToOnnxTypeName()}[{string.Join(',', dims)}]";
    }
}
