namespace InferenceGateway.Core.Batching;

/// <summary>
/// Layout of one input or output tensor as the batcher sees it: rows of <paramref name="RowShape"/> elements of
/// <paramref name="ElementSize"/> bytes, stacked along the batch dimension (which <paramref name="RowShape"/> excludes).
/// A -1 in <paramref name="RowShape"/> is a variable dimension: requests give their actual row shape, and only
/// requests with identical row shapes share a batch.
/// </summary>
/// <param name="Name">Tensor name as the model declares it.</param>
/// <param name="ElementSize">Bytes per element (4 for FP32).</param>
/// <param name="RowShape">Shape of one row, without the batch dimension; -1 marks a variable dimension.</param>
#pragma warning disable CA1819 // A shape is naturally an array; the spec is immutable by convention.
public sealed record BatchTensorSpec(string Name, int ElementSize, int[] RowShape)
#pragma warning restore CA1819
{
    /// <summary>True when <see cref="RowShape"/> has a variable (-1) dimension.</summary>
    public bool IsVariable => Array.IndexOf(RowShape, -1) >= 0;

    /// <summary>Bytes of one row when the shape is fixed; -1 when it has a variable dimension.</summary>
    public int FixedRowBytes => IsVariable ? -1 : RowBytes(RowShape);

    /// <summary>Bytes of one row of the given (fully known) row shape.</summary>
    public int RowBytes(ReadOnlySpan<int> rowShape)
    {
        long bytes = ElementSize;
        foreach (var dim in rowShape)
        {
            bytes *= dim;
        }

        return checked((int)bytes);
    }

    /// <summary>True when <paramref name="rowShape"/> is a concrete shape this spec accepts.</summary>
    public bool Accepts(ReadOnlySpan<int> rowShape)
    {
        if (rowShape.Length != RowShape.Length)
        {
            return false;
        }

        for (var d = 0; d < rowShape.Length; d++)
        {
            if (rowShape[d] < 0 || (RowShape[d] != -1 && RowShape[d] != rowShape[d]))
            {
                return false;
            }
        }

        return true;
    }
}
