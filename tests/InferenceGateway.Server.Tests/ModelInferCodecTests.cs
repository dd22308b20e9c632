using System.Buffers;
using System.Runtime.InteropServices;
using Google.Protobuf;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Models;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Server.Services.Wire;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// The server's hand-written ModelInfer codec against Google.Protobuf's generated code: the same messages parse to the
/// same values, responses are byte-for-byte what the generated code writes, and malformed bytes fail cleanly.
/// </summary>
public sealed class ModelInferCodecTests
{
    [Fact]
    public void Parse_GeneratedRequest_ViewMatchesEveryField()
    {
        var request = new ModelInferRequest { ModelName = "fraud", ModelVersion = "2", Id = "req-7" };
        request.Parameters.Add("binary_data_output", new InferParameter { BoolParam = true });
        request.Parameters.Add("priority", new InferParameter { Int64Param = 3 });
        var features = new ModelInferRequest.Types.InferInputTensor { Name = "features", Datatype = "FP32", Contents = new InferTensorContents() };
        features.Shape.Add([2, 3]);
        features.Contents.Fp32Contents.Add([1f, 2f, 3f, 4f, 5f, -6.5f]);
        var counts = new ModelInferRequest.Types.InferInputTensor { Name = "counts", Datatype = "INT64" };
        counts.Shape.Add([2, 1]);
        request.Inputs.Add(features);
        request.Inputs.Add(counts);
        var first = new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "score" };
        first.Parameters.Add("binary_data", new InferParameter { BoolParam = true });
        request.Outputs.Add(first);
        request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "label" });
        request.RawInputContents.Add(ByteString.CopyFrom(1, 2, 3));
        request.RawInputContents.Add(ByteString.Empty);

        var call = Parse(request.ToByteArray());

        Assert.Equal("fraud", call.GetString(call.ModelName));
        Assert.Equal("2", call.GetString(call.ModelVersion));
        Assert.Equal("req-7", call.GetString(call.Id));
        Assert.True(call.BinaryDataOutput);
        Assert.Equal(2, call.InputCount);
        Assert.Equal("features", call.GetString(call.Inputs[0].Name));
        Assert.Equal("FP32", call.GetString(call.Inputs[0].Datatype));
        Assert.Equal([2L, 3L], call.Shape(call.Inputs[0]).ToArray());
        Assert.Equal("counts", call.GetString(call.Inputs[1].Name));
        Assert.Equal([2L, 1L], call.Shape(call.Inputs[1]).ToArray());
        Assert.Equal(0, call.Inputs[1].ContentsCount);
        Assert.Equal(2, call.OutputCount);
        Assert.Equal("score", call.GetString(call.Outputs[0].Name));
        Assert.True(call.Outputs[0].BinaryData);
        Assert.False(call.Outputs[1].BinaryData);
        Assert.Equal(2, call.RawCount);
        Assert.Equal(new byte[] { 1, 2, 3 }, call.Raw[0].Of(call.PayloadSpan).ToArray());
        Assert.Equal(0, call.Raw[1].Length);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, -6.5f], Copy<float>(call, 0, TensorDataType.Fp32, 6));
        Assert.True(call.TextEquals(call.Inputs[0].Name, "features"));
        Assert.False(call.TextEquals(call.Inputs[0].Name, "feature"));
        call.Return();
    }

    [Fact]
    public void Parse_MultiSegmentPayload_IsCopiedWhole()
    {
        var bytes = new ModelInferRequest { ModelName = "bench_mlp", Id = new string('x', 300) }.ToByteArray();
        var sequence = Segments(bytes, 7);

        var call = ModelInferCodec.Parse(sequence);

        Assert.Equal("bench_mlp", call.GetString(call.ModelName));
        Assert.Equal(new string('x', 300), call.GetString(call.Id));
        call.Return();
    }

    [Fact]
    public void CopyContents_EveryTypedField_MatchesTheValues()
    {
        var contents = new InferTensorContents();
        contents.BoolContents.Add([true, false, true]);
        contents.IntContents.Add([-1, 0, int.MaxValue, int.MinValue]);
        contents.Int64Contents.Add([long.MinValue, -2, 300]);
        contents.Fp32Contents.Add([0.5f, float.NaN]);
        contents.Fp64Contents.Add([Math.PI, -0.0]);
        var call = Parse(RequestWith(contents).ToByteArray());

        Assert.Equal([1, 0, 1], Copy<byte>(call, 0, TensorDataType.Bool, 3));
        Assert.Equal([-1, 0, int.MaxValue, int.MinValue], Copy<int>(call, 0, TensorDataType.Int32, 4));
        Assert.Equal([long.MinValue, -2L, 300L], Copy<long>(call, 0, TensorDataType.Int64, 3));
        Assert.Equal([0.5f, float.NaN], Copy<float>(call, 0, TensorDataType.Fp32, 2));
        Assert.Equal([Math.PI, -0.0], Copy<double>(call, 0, TensorDataType.Fp64, 2));
        call.Return();
    }

    [Fact]
    public void CopyContents_CountMismatch_ReportsTheCountAndWritesNothing()
    {
        var contents = new InferTensorContents();
        contents.Fp32Contents.Add([1f, 2f, 3f]);
        var call = Parse(RequestWith(contents).ToByteArray());
        var destination = new byte[16];

        var count = ModelInferCodec.CopyContents(call, call.Inputs[0], TensorDataType.Fp32, destination);

        Assert.Equal(3, count);
        Assert.All(destination, b => Assert.Equal(0, b));
        Assert.Equal(0, ModelInferCodec.CopyContents(call, call.Inputs[0], TensorDataType.Int32, new byte[12]));
        call.Return();
    }

    [Fact]
    public void Parse_UnpackedAndRepeatedEncodings_MergeAsProtobufDoes()
    {
        // InferInputTensor by hand: shape as unpacked varints, contents twice (merged), fp32 unpacked, int32 unpacked.
        var tensor = new List<byte>();
        tensor.AddRange(Field(1, "x"u8));
        tensor.AddRange([0x18, 2, 0x18, 1]); // shape 2, 1, one varint each
        tensor.AddRange(Field(5, [0x35, .. BitConverter.GetBytes(1.5f), 0x10, 0x7B])); // fp32 1.5 (fixed32), int 123
        tensor.AddRange(Field(5, [0x35, .. BitConverter.GetBytes(-2f), 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]));
        tensor.AddRange(Field(1, "y"u8)); // a repeated singular field: the last one wins
        var bytes = Field(5, tensor.ToArray());

        var call = Parse(bytes);
        var generated = ModelInferRequest.Parser.ParseFrom(bytes);

        Assert.Equal("y", call.GetString(call.Inputs[0].Name));
        Assert.Equal(generated.Inputs[0].Name, call.GetString(call.Inputs[0].Name));
        Assert.Equal(generated.Inputs[0].Shape.ToArray(), call.Shape(call.Inputs[0]).ToArray());
        Assert.Equal(generated.Inputs[0].Contents.Fp32Contents.ToArray(), Copy<float>(call, 0, TensorDataType.Fp32, 2));
        Assert.Equal(generated.Inputs[0].Contents.IntContents.ToArray(), Copy<int>(call, 0, TensorDataType.Int32, 2));
        call.Return();
    }

    [Theory]
    [InlineData("bool", true)]
    [InlineData("bool-then-int", false)]
    [InlineData("string", false)]
    [InlineData("true-then-false", false)]
    [InlineData("false-then-true", true)]
    [InlineData("other-key", false)]
    public void Parse_BinaryDataOutput_FollowsOneofAndMapRules(string shape, bool expected)
    {
        byte[] Entry(string key, params byte[][] values)
        {
            var entry = new List<byte>(Field(1, System.Text.Encoding.UTF8.GetBytes(key)));
            foreach (var value in values)
            {
                entry.AddRange(Field(2, value));
            }

            return Field(4, entry.ToArray());
        }

        byte[] boolTrue = [0x08, 1], boolFalse = [0x08, 0], int5 = [0x10, 5], text = Field(3, "true"u8);
        var bytes = shape switch
        {
            "bool" => Entry("binary_data_output", boolTrue),
            "bool-then-int" => Entry("binary_data_output", [.. boolTrue, .. int5]),
            "string" => Entry("binary_data_output", text),
            "true-then-false" => [.. Entry("binary_data_output", boolTrue), .. Entry("binary_data_output", boolFalse)],
            "false-then-true" => [.. Entry("binary_data_output", boolFalse), .. Entry("binary_data_output", boolTrue)],
            _ => Entry("binary_data", boolTrue),
        };

        var call = Parse(bytes);
        var generated = ModelInferRequest.Parser.ParseFrom(bytes);

        Assert.Equal(expected, call.BinaryDataOutput);
        Assert.Equal(expected, generated.Parameters.TryGetValue("binary_data_output", out var p) && p.BoolParam);
        call.Return();
    }

    [Fact]
    public void Parse_UnknownFieldsAndWrongWireTypes_AreSkipped()
    {
        byte[] bytes =
        [
            0x08, 0x05,                                   // model_name (1) as a varint: unknown to the generated code too
            0xF8, 0x06, 0x01,                             // field 111, varint
            0xFD, 0x06, 1, 2, 3, 4,                       // field 111, fixed32
            0xF9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8,           // field 111, fixed64
            0xFA, 0x06, 0x02, 9, 9,                       // field 111, length-delimited
            0xFB, 0x06, 0x08, 0x01, 0xFC, 0x06,           // field 111, a group holding field 1 = 1
            .. Field(2, "3"u8),
        ];

        var call = Parse(bytes);
        var generated = ModelInferRequest.Parser.ParseFrom(bytes);

        Assert.Equal(0, call.ModelName.Length);
        Assert.Equal(generated.ModelName, call.GetString(call.ModelName));
        Assert.Equal("3", call.GetString(call.ModelVersion));
        call.Return();
    }

    [Theory]
    [InlineData(new byte[] { 0x0A })]                                     // tag, no length
    [InlineData(new byte[] { 0x0A, 0x05, 0x41 })]                         // length past the end
    [InlineData(new byte[] { 0x0E })]                                     // wire type 6
    [InlineData(new byte[] { 0x00, 0x01 })]                               // field number 0
    [InlineData(new byte[] { 0x0B, 0x08, 0x01 })]                         // group never ended
    [InlineData(new byte[] { 0x0B, 0x14 })]                               // group ended by another field's end tag
    [InlineData(new byte[] { 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 })] // 11-byte varint
    [InlineData(new byte[] { 0x2A, 0x03, 0x1A, 0x05, 0x01 })]             // input whose packed shape runs past it
    public void Parse_Malformed_ThrowsFormatError(byte[] bytes)
    {
        Assert.Throws<ProtoFormatException>(() => ModelInferCodec.Parse(new ReadOnlySequence<byte>(bytes)));
    }

    [Fact]
    public void CopyContents_PackedFloatsOfOddLength_ThrowsFormatError()
    {
        var contents = Field(6, [1, 2, 3, 4, 5]);
        var call = Parse(Field(5, Field(5, contents)));

        Assert.Throws<ProtoFormatException>(() => ModelInferCodec.CopyContents(call, call.Inputs[0], TensorDataType.Fp32, new byte[4]));
        call.Return();
    }

    [Fact]
    public void Parse_MutatedMessages_FailOnlyWithFormatErrorsAndAgreeWithProtobuf()
    {
        var request = new ModelInferRequest { ModelName = "bench_mlp", ModelVersion = "1", Id = "abc" };
        request.Parameters.Add("binary_data_output", new InferParameter { BoolParam = true });
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Contents = new InferTensorContents() };
        input.Shape.Add([1, 4]);
        input.Contents.Fp32Contents.Add([1f, 2f, 3f, 4f]);
        request.Inputs.Add(input);
        request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "output" });
        request.RawInputContents.Add(ByteString.CopyFrom(new byte[16]));
        var original = request.ToByteArray();
        var random = new Random(20261201);
        var parsed = 0;
        for (var i = 0; i < 5000; i++)
        {
            var bytes = original.ToList();
            for (var m = random.Next(1, 4); m > 0 && bytes.Count > 0; m--)
            {
                var at = random.Next(bytes.Count);
                switch (random.Next(3))
                {
                    case 0: bytes[at] = (byte)random.Next(256); break;
                    case 1: bytes.RemoveRange(at, Math.Min(random.Next(1, 4), bytes.Count - at)); break;
                    default: bytes.Insert(at, (byte)random.Next(256)); break;
                }
            }

            var mutated = bytes.ToArray();
            ModelInferCall call;
            try
            {
                call = ModelInferCodec.Parse(new ReadOnlySequence<byte>(mutated));
            }
            catch (ProtoFormatException)
            {
                continue;
            }

            try
            {
                var generated = ModelInferRequest.Parser.ParseFrom(mutated);
                Assert.Equal(generated.ModelName, call.GetString(call.ModelName));
                Assert.Equal(generated.ModelVersion, call.GetString(call.ModelVersion));
                Assert.Equal(generated.Id, call.GetString(call.Id));
                Assert.Equal(generated.Inputs.Count, call.InputCount);
                Assert.Equal(generated.Outputs.Count, call.OutputCount);
                Assert.Equal(generated.RawInputContents.Count, call.RawCount);
                for (var n = 0; n < call.InputCount; n++)
                {
                    Assert.Equal(generated.Inputs[n].Name, call.GetString(call.Inputs[n].Name));
                    Assert.Equal(generated.Inputs[n].Shape.ToArray(), call.Shape(call.Inputs[n]).ToArray());
                }

                parsed++;
            }
            catch (InvalidProtocolBufferException)
            {
                // Stricter than the view (it parses fields the gateway skips); nothing to compare.
            }
            finally
            {
                call.Return();
            }
        }

        Assert.True(parsed > 100, $"only {parsed} mutations parsed both ways; the comparison would prove little");
    }

    [Theory]
    [InlineData("features", "features", true)]
    [InlineData("features", "feature", false)]
    [InlineData("featureS", "features", false)]
    [InlineData("", "", true)]
    [InlineData("FP32", "FP32", true)]
    [InlineData("caf\u00e9", "caf\u00e9", true)]
    [InlineData("caf\u00e9", "cafe", false)]
    [InlineData("cafe\u0301", "caf\u00e9", false)]
    [InlineData("\ud83d\ude00x", "\ud83d\ude00x", true)]
    [InlineData("\u00e9\u00e9", "\u00e9\u00e9\u00e9", false)]
    public void Utf8TextMatches_ComparesNamesAsTheirUtf8Bytes(string onWire, string configured, bool expected)
    {
        // Same-length names take the ASCII path; a multi-byte name on the wire never equals a shorter-in-bytes one.
        Assert.Equal(expected, Utf8Text.Matches(System.Text.Encoding.UTF8.GetBytes(onWire), configured));
    }

    [Theory]
    [InlineData(true, "")]
    [InlineData(true, "req-1")]
    [InlineData(false, "req-1")]
    public void WriteResponse_MatchesGeneratedCodeByteForByte(bool raw, string id)
    {
        var outputs = new List<TensorConfig>
        {
            new() { Name = "probability", DataType = "FP32", Dims = [-1, 2] },
            new() { Name = "label", DataType = "INT64", Dims = [-1] },
            new() { Name = "rank", DataType = "INT32", Dims = [-1] },
            new() { Name = "flag", DataType = "BOOL", Dims = [-1] },
            new() { Name = "exact", DataType = "FP64", Dims = [-1] },
            new() { Name = "none", DataType = "FP32", Dims = [-1, 0] },
        };
        var values = new byte[][]
        {
            MemoryMarshal.AsBytes<float>([0.25f, 0.75f, 1f, 0f]).ToArray(),
            MemoryMarshal.AsBytes<long>([1L, -300L]).ToArray(),
            MemoryMarshal.AsBytes<int>([-1, 7]).ToArray(),
            [1, 0],
            MemoryMarshal.AsBytes<double>([Math.E, -1e300]).ToArray(),
            [],
        };
        var shapes = new long[][] { [2, 2], [2], [2], [2], [2], [2, 0] };

        var call = Parse(new ModelInferRequest { Id = id }.ToByteArray());
        call.ResponseModelName = "fraud";
        call.ResponseModelVersion = "2";
        call.ResponseOutputConfigs = outputs;
        call.RawOutput = raw;
        var expected = new ModelInferResponse { ModelName = "fraud", ModelVersion = "2", Id = id };
        for (var o = 0; o < outputs.Count; o++)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(values[o].Length, 1));
            values[o].CopyTo(buffer, 0);
            ModelInferCall.Add(ref call.ResponseOutputs, ref call.ResponseOutputCount,
                new ModelInferCall.ResponseOutput { ConfigIndex = o, Buffer = buffer, Length = values[o].Length, DimStart = call.ResponseDimCount, DimCount = shapes[o].Length });
            foreach (var dim in shapes[o])
            {
                ModelInferCall.Add(ref call.ResponseDims, ref call.ResponseDimCount, dim);
            }

            var tensor = new ModelInferResponse.Types.InferOutputTensor { Name = outputs[o].Name, Datatype = outputs[o].DataType };
            tensor.Shape.Add(shapes[o]);
            if (raw)
            {
                expected.RawOutputContents.Add(ByteString.CopyFrom(values[o]));
            }
            else
            {
                tensor.Contents = new InferTensorContents();
                switch (outputs[o].Type)
                {
                    case TensorDataType.Fp32: tensor.Contents.Fp32Contents.Add(MemoryMarshal.Cast<byte, float>(values[o]).ToArray()); break;
                    case TensorDataType.Int64: tensor.Contents.Int64Contents.Add(MemoryMarshal.Cast<byte, long>(values[o]).ToArray()); break;
                    case TensorDataType.Int32: tensor.Contents.IntContents.Add(MemoryMarshal.Cast<byte, int>(values[o]).ToArray()); break;
                    case TensorDataType.Bool: tensor.Contents.BoolContents.Add(values[o].Select(b => b != 0)); break;
                    case TensorDataType.Fp64: tensor.Contents.Fp64Contents.Add(MemoryMarshal.Cast<byte, double>(values[o]).ToArray()); break;
                }
            }

            expected.Outputs.Add(tensor);
        }

        var context = new CapturingSerializationContext();
        ModelInferCodec.ResponseMarshaller.ContextualSerializer(call, context);

        Assert.Equal(expected.ToByteArray(), context.Payload);
        Assert.Equal(context.Payload.Length, context.DeclaredLength);
        Assert.Equal(expected, ModelInferResponse.Parser.ParseFrom(context.Payload));
    }

    private static ModelInferCall Parse(byte[] bytes) => ModelInferCodec.Parse(new ReadOnlySequence<byte>(bytes));

    private static T[] Copy<T>(ModelInferCall call, int input, TensorDataType type, int count)
        where T : unmanaged
    {
        var values = new T[count];
        var written = ModelInferCodec.CopyContents(call, call.Inputs[input], type, MemoryMarshal.AsBytes(values.AsSpan()));
        Assert.Equal(count, written);
        return values;
    }

    private static ModelInferRequest RequestWith(InferTensorContents contents)
    {
        var request = new ModelInferRequest();
        request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "x", Datatype = "FP32", Contents = contents });
        return request;
    }

    /// <summary>A length-delimited field (field numbers below 16, lengths below 128).</summary>
    private static byte[] Field(int field, ReadOnlySpan<byte> value) => [(byte)((field << 3) | 2), (byte)value.Length, .. value];

    private static ReadOnlySequence<byte> Segments(byte[] bytes, int segmentLength)
    {
        Segment? first = null, last = null;
        for (var at = 0; at < bytes.Length; at += segmentLength)
        {
            var segment = new Segment(bytes.AsMemory(at, Math.Min(segmentLength, bytes.Length - at)), last?.RunningIndex + last?.Memory.Length ?? 0);
            if (last is null)
            {
                first = segment;
            }
            else
            {
                last.Next = segment;
            }

            last = segment;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public new Segment? Next
        {
            get => (Segment?)base.Next;
            set => base.Next = value;
        }
    }

    private sealed class CapturingSerializationContext : SerializationContext
    {
        private readonly StingyWriter _writer = new();

        public int DeclaredLength { get; private set; } = -1;

        public byte[] Payload { get; private set; } = [];

        public override void SetPayloadLength(int payloadLength) => DeclaredLength = payloadLength;

        public override IBufferWriter<byte> GetBufferWriter() => _writer;

        public override void Complete() => Payload = _writer.Written.ToArray();

        public override void Complete(byte[] payload) => Payload = payload;
    }

    /// <summary>Hands out spans of exactly the size asked for (one byte when asked for any), so every chunking path runs.</summary>
    private sealed class StingyWriter : IBufferWriter<byte>
    {
        private readonly List<byte> _written = [];
        private byte[] _span = [];

        public byte[] Written => [.. _written];

        public void Advance(int count) => _written.AddRange(_span.AsSpan(0, count));

        public Memory<byte> GetMemory(int sizeHint = 0) => _span = new byte[Math.Max(sizeHint, 1)];

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
    }
}
