using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Contracts.Inference;

namespace InferenceGateway.LoadTest.Targets;

/// <summary>How tensor values travel in a ModelInferRequest.</summary>
public enum TensorEncoding
{
    /// <summary>Little-endian bytes in <c>raw_input_contents</c> (what Triton clients send).</summary>
    Raw,

    /// <summary>Typed <c>contents.fp32_contents</c>.</summary>
    Typed,
}

/// <summary>One named FP32 input tensor: shape and row-major data.</summary>
/// <param name="Name">Input name the model expects.</param>
/// <param name="Shape">Dimensions; the first is the batch (rows).</param>
/// <param name="Data">Row-major values.</param>
public sealed record TensorData(string Name, long[] Shape, float[] Data)
{
    /// <summary>Number of rows (first dimension).</summary>
    public long Rows => Shape.Length == 0 ? 1 : Shape[0];

    /// <summary>Values per row.</summary>
    public int RowLength => Rows == 0 ? 0 : (int)(Data.Length / Rows);
}

/// <summary>
/// Builds the requests a run sends, once, before the run: random seeded tensors, rows of a model's
/// <c>test_data.json</c>, or Predict requests. Targets cycle through the pre-serialized results.
/// </summary>
public static class RequestPayloads
{
    /// <summary>Parses "1x512" or "8,3" into dimensions.</summary>
    public static long[] ParseShape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split(['x', 'X', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0)
        {
            throw new FormatException($"shape '{text}' has no dimensions");
        }

        var dims = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out dims[i]) || dims[i] <= 0)
            {
                throw new FormatException($"shape '{text}': dimension '{parts[i]}' is not a positive integer");
            }
        }

        return dims;
    }

    /// <summary>Seeded uniform [-1, 1) tensors of <paramref name="shape"/>, <paramref name="count"/> distinct ones.</summary>
    public static IReadOnlyList<TensorData> RandomTensors(string inputName, long[] shape, int count, int seed)
    {
        long elements = 1;
        foreach (long d in shape)
        {
            elements = checked(elements * d);
        }

        var random = new Random(seed);
        var list = new List<TensorData>(count);
        for (int c = 0; c < count; c++)
        {
            var data = new float[elements];
            for (long i = 0; i < elements; i++)
            {
                data[i] = (float)((random.NextDouble() * 2) - 1);
            }

            list.Add(new TensorData(inputName, shape, data));
        }

        return list;
    }

    /// <summary>
    /// Reads a model's test data file: <c>{"inputs": {"NAME": {"shape": [rows, ...], "data": [...]}}, ...}</c>.
    /// Other top-level properties (expected outputs) are ignored. Data may be flat or nested row arrays.
    /// </summary>
    public static IReadOnlyList<TensorData> ReadTestData(string path)
    {
        using FileStream stream = File.OpenRead(path);
        using JsonDocument doc = JsonDocument.Parse(stream);
        if (!doc.RootElement.TryGetProperty("inputs", out JsonElement inputs) || inputs.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"{path}: expected an object property \"inputs\"");
        }

        var tensors = new List<TensorData>();
        foreach (JsonProperty input in inputs.EnumerateObject())
        {
            if (!input.Value.TryGetProperty("shape", out JsonElement shapeEl) || !input.Value.TryGetProperty("data", out JsonElement dataEl))
            {
                throw new FormatException($"{path}: input '{input.Name}' needs \"shape\" and \"data\"");
            }

            var shape = new long[shapeEl.GetArrayLength()];
            int k = 0;
            foreach (JsonElement d in shapeEl.EnumerateArray())
            {
                shape[k++] = d.GetInt64();
            }

            var data = new List<float>();
            Flatten(dataEl, data);
            long expected = 1;
            foreach (long d in shape)
            {
                expected *= d;
            }

            if (expected != data.Count)
            {
                throw new FormatException($"{path}: input '{input.Name}' has {data.Count} values but shape implies {expected}");
            }

            tensors.Add(new TensorData(input.Name, shape, data.ToArray()));
        }

        if (tensors.Count == 0)
        {
            throw new FormatException($"{path}: no inputs");
        }

        return tensors;
    }

    /// <summary>
    /// Splits every input of a test data set into requests of <paramref name="rowsPerRequest"/> rows each
    /// (the last rows wrap around), so one request carries matching rows of all inputs.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<TensorData>> SliceRows(IReadOnlyList<TensorData> inputs, int rowsPerRequest)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerRequest, 1);
        long rows = inputs[0].Rows;
        int requests = (int)Math.Max(1, (rows + rowsPerRequest - 1) / rowsPerRequest);
        var result = new List<IReadOnlyList<TensorData>>(requests);
        for (int r = 0; r < requests; r++)
        {
            var tensors = new List<TensorData>(inputs.Count);
            foreach (TensorData input in inputs)
            {
                int rowLen = input.RowLength;
                var data = new float[rowsPerRequest * rowLen];
                for (int j = 0; j < rowsPerRequest; j++)
                {
                    long src = ((r * (long)rowsPerRequest) + j) % input.Rows;
                    Array.Copy(input.Data, src * rowLen, data, (long)j * rowLen, rowLen);
                }

                long[] shape = (long[])input.Shape.Clone();
                shape[0] = rowsPerRequest;
                tensors.Add(new TensorData(input.Name, shape, data));
            }

            result.Add(tensors);
        }

        return result;
    }

    /// <summary>Builds one ModelInferRequest carrying <paramref name="tensors"/> as FP32.</summary>
    public static ModelInferRequest InferRequest(string model, string version, IReadOnlyList<TensorData> tensors, TensorEncoding encoding)
    {
        var request = new ModelInferRequest { ModelName = model, ModelVersion = version ?? string.Empty };
        foreach (TensorData t in tensors)
        {
            var input = new ModelInferRequest.Types.InferInputTensor { Name = t.Name, Datatype = "FP32" };
            input.Shape.AddRange(t.Shape);
            if (encoding == TensorEncoding.Typed)
            {
                input.Contents = new InferTensorContents();
                input.Contents.Fp32Contents.AddRange(t.Data);
            }
            else
            {
                var bytes = new byte[t.Data.Length * sizeof(float)];
                for (int i = 0; i < t.Data.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), t.Data[i]);
                }

                request.RawInputContents.Add(ByteString.CopyFrom(bytes));
            }

            request.Inputs.Add(input);
        }

        return request;
    }

    /// <summary>Predict requests for <paramref name="entities"/> distinct entity ids with the same features.</summary>
    public static IReadOnlyList<PredictRequest> PredictRequests(string model, string version, IReadOnlyDictionary<string, double> features, int entities)
    {
        var list = new List<PredictRequest>(entities);
        for (int i = 0; i < entities; i++)
        {
            var request = new PredictRequest
            {
                Model = model,
                Version = version ?? string.Empty,
                EntityId = "entity-" + i.ToString(CultureInfo.InvariantCulture),
            };
            foreach (KeyValuePair<string, double> f in features)
            {
                request.Features[f.Key] = f.Value;
            }

            list.Add(request);
        }

        return list;
    }

    private static void Flatten(JsonElement element, List<float> into)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement e in element.EnumerateArray())
            {
                Flatten(e, into);
            }
        }
        else
        {
            into.Add((float)element.GetDouble());
        }
    }
}

/// <summary>The gRPC length-prefixed message framing (1 byte compressed flag, 4 bytes big-endian length).</summary>
public static class GrpcFrame
{
    /// <summary>Bytes before the message.</summary>
    public const int HeaderLength = 5;

    /// <summary>Wraps a serialized message in an uncompressed frame.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> message)
    {
        var frame = new byte[HeaderLength + message.Length];
        frame[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame.AsSpan(HeaderLength));
        return frame;
    }

    /// <summary>Frames a protobuf message.</summary>
    public static byte[] Encode(IMessage message) => Encode(message.ToByteArray());
}
