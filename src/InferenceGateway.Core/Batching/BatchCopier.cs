namespace InferenceGateway.Core.Batching;

/// <summary>
/// Moves bytes between requests and a batch's buffers: packs the members' inputs row after row, and copies each
/// member's slice of every output back to the member's destination.
/// </summary>
internal static class BatchCopier
{
    /// <summary>Packs the inputs of <paramref name="members"/>[0..<paramref name="count"/>) into <paramref name="run"/>'s input buffers.</summary>
    public static void GatherInputs(BatchRun run, BatchRequest?[] members, int count, int rows)
    {
        for (var i = 0; i < run.InputSpecs.Count; i++)
        {
            var destination = run.InputTensor(i).Span(rows);
            var offset = 0;
            for (var m = 0; m < count; m++)
            {
                var source = members[m]!.GetInput(i).Span;
                source.CopyTo(destination[offset..]);
                offset += source.Length;
            }
        }
    }

    /// <summary>
    /// Copies <paramref name="request"/>'s rows, which start at row <paramref name="rowOffset"/> of a batch of
    /// <paramref name="rows"/>, out of every output buffer. Returns the problem when a destination is too small (the
    /// outputs before it are written), or null.
    /// </summary>
    public static string? ScatterOutputs(BatchRun run, BatchRequest request, int rows, int rowOffset)
    {
        for (var j = 0; j < run.OutputSpecs.Count; j++)
        {
            var tensor = run.OutputTensor(j);
            var length = request.Rows * tensor.RowBytes;
            var destination = request.GetOutput(j);
            if (destination.Length < length)
            {
                return $"output '{run.OutputSpecs[j].Name}': destination has {destination.Length} bytes, needs {length}";
            }

            tensor.Span(rows).Slice(rowOffset * tensor.RowBytes, length).CopyTo(destination.Span);
            request.SetOutputWritten(j, tensor.Shape, length);
        }

        return null;
    }
}
