using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using InferenceGateway.Core.Models;
using Grpc.Core;

namespace InferenceGateway.Server.Services.Wire;

/// <summary>
/// Hand-written wire codec for the server side of ModelInfer (field numbers of the Open Inference Protocol's
/// grpc_service.proto): parses a ModelInferRequest into a pooled <see cref="ModelInferCall"/> without allocating, and
/// writes the ModelInferResponse straight into the transport buffer. The wire format is the generated code's, byte
/// for byte (tests compare both ways with Google.Protobuf), so every standard client works unchanged.
/// </summary>
internal static class ModelInferCodec
{
    // ModelInferRequest
    private const int RequestModelName = 1;
    private const int RequestModelVersion = 2;
    private const int RequestId = 3;
    private const int RequestParameters = 4;
    private const int RequestInputs = 5;
    private const int RequestOutputs = 6;
    private const int RequestRawInputContents = 7;

    // InferInputTensor / InferOutputTensor (same numbers)
    private const int TensorName = 1;
    private const int TensorDatatype = 2;
    private const int TensorShape = 3;
    private const int TensorContents = 5;

    // InferRequestedOutputTensor
    private const int RequestedOutputName = 1;
    private const int RequestedOutputParameters = 2;

    // ModelInferResponse
    private const int ResponseModelNameField = 1;
    private const int ResponseModelVersionField = 2;
    private const int ResponseId = 3;
    private const int ResponseParameters = 4;
    private const int ResponseOutputs = 5;
    private const int ResponseRawOutputContents = 6;

    // InferParameter: the oneof's bool case; map entries: key 1, value 2.
    private const int ParameterBool = 1;

    private static ReadOnlySpan<byte> BinaryDataOutputKey => "binary_data_output"u8;

    private static ReadOnlySpan<byte> BinaryDataKey => "binary_data"u8;

    private static ReadOnlySpan<byte> ArmKey => "arm"u8;

    // InferParameter's string case.
    private const int ParameterString = 3;
    private const int ParameterInt64 = 2;
    private const int ParameterUInt64 = 5;

    /// <summary>Server-side request marshaller: parses into a pooled call; serializes a call by its request bytes.</summary>
    public static Marshaller<ModelInferCall> RequestMarshaller { get; } = Marshallers.Create<ModelInferCall>(
        static (call, context) => context.Complete(call.PayloadSpan.ToArray()),
        static context => Parse(context.PayloadAsReadOnlySequence()));

    /// <summary>Server-side response marshaller: writes the call's response, then returns the call to its pool.</summary>
    public static Marshaller<ModelInferCall> ResponseMarshaller { get; } = Marshallers.Create<ModelInferCall>(
        static (call, context) =>
        {
            try
            {
                context.SetPayloadLength(ResponseSize(call));
                WriteResponse(call, context.GetBufferWriter());
                context.Complete();
            }
            finally
            {
                call.Return();
            }
        },
        static _ => throw new NotSupportedException("The server does not read ModelInferResponse messages."));

    /// <summary>Copies <paramref name="payload"/> into a pooled call and parses it; the call is returned to the pool if parsing fails.</summary>
    public static ModelInferCall Parse(in ReadOnlySequence<byte> payload)
    {
        var call = ModelInferCall.Rent(payload);
        try
        {
            ParseRequest(call);
            return call;
        }
        catch
        {
            call.Return();
            throw;
        }
    }

    /// <summary>Parses a call whose payload was copied in without parsing (a shadow's copy, parsed off the request path).</summary>
    internal static void ParseCopied(ModelInferCall call) => ParseRequest(call);

    private static void ParseRequest(ModelInferCall call)
    {
        var buffer = call.PayloadSpan;
        var reader = new ProtoReader(buffer, 0, buffer.Length);
        while (!reader.AtEnd)
        {
            var field = reader.ReadTag(out var wireType);
            if (wireType != WireType.LengthDelimited || field > RequestRawInputContents)
            {
                // Known fields with another wire type are kept as unknown by the generated code too: skipped.
                reader.Skip(field, wireType);
                continue;
            }

            var value = reader.ReadLengthDelimited();
            switch (field)
            {
                case RequestModelName:
                    call.ModelName = value;
                    break;
                case RequestModelVersion:
                    call.ModelVersion = value;
                    break;
                case RequestId:
                    call.Id = value;
                    break;
                case RequestParameters:
                    ModelInferCall.Add(ref call.Parameters, ref call.ParameterCount, value);
                    if (ReadBoolParameter(buffer, value, BinaryDataOutputKey) is { } binaryOutput)
                    {
                        call.BinaryDataOutput = binaryOutput;
                    }

                    break;
                case RequestInputs:
                    ParseInput(call, buffer, value);
                    break;
                case RequestOutputs:
                    ParseRequestedOutput(call, buffer, value);
                    break;
                case RequestRawInputContents:
                    ModelInferCall.Add(ref call.Raw, ref call.RawCount, value);
                    break;
            }
        }
    }

    private static void ParseInput(ModelInferCall call, ReadOnlySpan<byte> buffer, Slice message)
    {
        var input = new ModelInferCall.InputTensor { ShapeStart = call.DimCount, ContentsStart = call.ContentSliceCount };
        var reader = new ProtoReader(buffer, message.Start, message.End);
        while (!reader.AtEnd)
        {
            var field = reader.ReadTag(out var wireType);
            if (field == TensorShape && wireType == WireType.Varint)
            {
                ModelInferCall.Add(ref call.Dims, ref call.DimCount, (long)reader.ReadVarint64());
            }
            else if (field == TensorShape && wireType == WireType.LengthDelimited)
            {
                var packed = reader.ReadLengthDelimited();
                var values = new ProtoReader(buffer, packed.Start, packed.End);
                while (!values.AtEnd)
                {
                    ModelInferCall.Add(ref call.Dims, ref call.DimCount, (long)values.ReadVarint64());
                }
            }
            else if (wireType == WireType.LengthDelimited && field is TensorName or TensorDatatype or TensorContents)
            {
                var value = reader.ReadLengthDelimited();
                if (field == TensorName)
                {
                    input.Name = value;
                }
                else if (field == TensorDatatype)
                {
                    input.Datatype = value;
                }
                else
                {
                    ModelInferCall.Add(ref call.ContentSlices, ref call.ContentSliceCount, value);
                }
            }
            else
            {
                reader.Skip(field, wireType);
            }
        }

        input.ShapeCount = call.DimCount - input.ShapeStart;
        input.ContentsCount = call.ContentSliceCount - input.ContentsStart;
        ModelInferCall.Add(ref call.Inputs, ref call.InputCount, input);
    }

    private static void ParseRequestedOutput(ModelInferCall call, ReadOnlySpan<byte> buffer, Slice message)
    {
        var output = default(ModelInferCall.RequestedOutput);
        var reader = new ProtoReader(buffer, message.Start, message.End);
        while (!reader.AtEnd)
        {
            var field = reader.ReadTag(out var wireType);
            if (wireType != WireType.LengthDelimited || field is not (RequestedOutputName or RequestedOutputParameters))
            {
                reader.Skip(field, wireType);
                continue;
            }

            var value = reader.ReadLengthDelimited();
            if (field == RequestedOutputName)
            {
                output.Name = value;
            }
            else if (ReadBoolParameter(buffer, value, BinaryDataKey) is { } binary)
            {
                output.BinaryData = binary;
            }
        }

        ModelInferCall.Add(ref call.Outputs, ref call.OutputCount, output);
    }

    /// <summary>
    /// Reads one map&lt;string, InferParameter&gt; entry; when its key is <paramref name="key"/>, returns whether the
    /// value is a true bool_param (a oneof: the last case set wins), else null.
    /// </summary>
    private static bool? ReadBoolParameter(ReadOnlySpan<byte> buffer, Slice entry, ReadOnlySpan<byte> key)
    {
        var entryKey = default(Slice);
        var lastCase = 0;
        var boolValue = false;
        var reader = new ProtoReader(buffer, entry.Start, entry.End);
        while (!reader.AtEnd)
        {
            var field = reader.ReadTag(out var wireType);
            if (wireType != WireType.LengthDelimited || field is not (1 or 2))
            {
                reader.Skip(field, wireType);
                continue;
            }

            var value = reader.ReadLengthDelimited();
            if (field == 1)
            {
                entryKey = value;
                continue;
            }

            // Repeated value fields merge; within InferParameter each oneof field read sets the case.
            var parameter = new ProtoReader(buffer, value.Start, value.End);
            while (!parameter.AtEnd)
            {
                var p = parameter.ReadTag(out var pType);
                var isOneofCase = p is >= 1 and <= 5 && pType == (p switch
                {
                    3 => WireType.LengthDelimited,
                    4 => WireType.Fixed64,
                    _ => WireType.Varint,
                });
                if (isOneofCase && p == ParameterBool)
                {
                    boolValue = parameter.ReadVarint64() != 0;
                }
                else
                {
                    parameter.Skip(p, pType);
                }

                if (isOneofCase)
                {
                    lastCase = p;
                }
            }
        }

        if (!entryKey.Of(buffer).SequenceEqual(key))
        {
            return null;
        }

        return lastCase == ParameterBool && boolValue;
    }

    /// <summary>
    /// Copies the typed contents of <paramref name="input"/> (the contents field matching <paramref name="type"/>,
    /// packed or not) into <paramref name="destination"/> when their count is exactly its element count. Returns the
    /// number of values found either way.
    /// </summary>
    public static long CopyContents(ModelInferCall call, in ModelInferCall.InputTensor input, TensorDataType type, Span<byte> destination)
    {
        var (field, elementSize) = type switch
        {
            TensorDataType.Bool => (1, 1),
            TensorDataType.Int32 => (2, 4),
            TensorDataType.Int64 => (3, 8),
            TensorDataType.Fp32 => (6, 4),
            TensorDataType.Fp64 => (7, 8),
            _ => (0, 0),
        };
        if (field == 0)
        {
            return 0;
        }

        var buffer = call.PayloadSpan;
        var expected = destination.Length / elementSize;
        var count = ForEachValue(call, input, field, type, buffer, default, count: true);
        if (count == expected)
        {
            ForEachValue(call, input, field, type, buffer, destination, count: false);
        }

        return count;
    }

    /// <summary>Counts (or, with <paramref name="count"/> false, writes) the values of one typed contents field.</summary>
    private static long ForEachValue(ModelInferCall call, in ModelInferCall.InputTensor input, int field, TensorDataType type, ReadOnlySpan<byte> buffer, Span<byte> destination, bool count)
    {
        var fixedSize = type switch { TensorDataType.Fp32 => 4, TensorDataType.Fp64 => 8, _ => 0 };
        var scalarWireType = fixedSize switch { 4 => WireType.Fixed32, 8 => WireType.Fixed64, _ => WireType.Varint };
        long n = 0;
        for (var s = 0; s < input.ContentsCount; s++)
        {
            var contents = call.ContentSlices[input.ContentsStart + s];
            var reader = new ProtoReader(buffer, contents.Start, contents.End);
            while (!reader.AtEnd)
            {
                var f = reader.ReadTag(out var wireType);
                if (f != field || (wireType != WireType.LengthDelimited && wireType != scalarWireType))
                {
                    reader.Skip(f, wireType);
                    continue;
                }

                if (wireType == WireType.LengthDelimited && fixedSize > 0)
                {
                    var packed = reader.ReadLengthDelimited();
                    if (packed.Length % fixedSize != 0)
                    {
                        throw new ProtoFormatException($"packed field {field} has {packed.Length} bytes, not a multiple of {fixedSize}");
                    }

                    if (!count)
                    {
                        packed.Of(buffer).CopyTo(destination[(int)(n * fixedSize)..]);
                    }

                    n += packed.Length / fixedSize;
                }
                else if (wireType == WireType.LengthDelimited)
                {
                    var packed = reader.ReadLengthDelimited();
                    var values = new ProtoReader(buffer, packed.Start, packed.End);
                    while (!values.AtEnd)
                    {
                        var value = values.ReadVarint64();
                        if (!count)
                        {
                            WriteVarintValue(type, value, destination, n);
                        }

                        n++;
                    }
                }
                else
                {
                    if (!count)
                    {
                        var value = fixedSize switch
                        {
                            4 => reader.ReadFixed32(),
                            8 => reader.ReadFixed64(),
                            _ => reader.ReadVarint64(),
                        };
                        if (fixedSize == 4)
                        {
                            BinaryPrimitives.WriteUInt32LittleEndian(destination[(int)(n * 4)..], (uint)value);
                        }
                        else if (fixedSize == 8)
                        {
                            BinaryPrimitives.WriteUInt64LittleEndian(destination[(int)(n * 8)..], value);
                        }
                        else
                        {
                            WriteVarintValue(type, value, destination, n);
                        }
                    }
                    else
                    {
                        reader.Skip(f, wireType);
                    }

                    n++;
                }
            }
        }

        return n;
    }

    private static void WriteVarintValue(TensorDataType type, ulong value, Span<byte> destination, long index)
    {
        switch (type)
        {
            case TensorDataType.Bool:
                destination[(int)index] = value != 0 ? (byte)1 : (byte)0;
                break;
            case TensorDataType.Int32:
                BinaryPrimitives.WriteInt32LittleEndian(destination[(int)(index * 4)..], (int)value);
                break;
            case TensorDataType.Int64:
                BinaryPrimitives.WriteInt64LittleEndian(destination[(int)(index * 8)..], (long)value);
                break;
        }
    }

    /// <summary>
    /// Size of the ModelInferResponse the call describes, exactly as <see cref="WriteResponse"/> writes it. Also notes
    /// each output's encoded sizes in the call, which the writer uses for its length prefixes instead of walking the
    /// values again.
    /// </summary>
    public static int ResponseSize(ModelInferCall call)
    {
        _ = call.ResponseOutputConfigs ?? throw new InvalidOperationException("The call has no response.");
        long size = StringFieldSize(call.ResponseModelName) + StringFieldSize(call.ResponseModelVersion) + (call.Id.Length > 0 ? FieldSize(call.Id.Length) : 0);
        if (call.ResponseArm.Length > 0)
        {
            size += FieldSize(ArmEntrySize(call.ResponseArm));
        }

        for (var i = 0; i < call.ResponseOutputCount; i++)
        {
            ref var output = ref call.ResponseOutputs[i];
            var config = call.ResponseOutputConfigs[output.ConfigIndex];
            output.PackedContentsLength = call.RawOutput ? 0 : PackedContentsLength(config.Type, output.Buffer.AsSpan(0, output.Length));
            output.EncodedLength = TensorSize(call, output);
            size += FieldSize(output.EncodedLength);
            if (call.RawOutput)
            {
                size += FieldSize(output.Length);
            }
        }

        return checked((int)size);
    }

    private static int TensorSize(ModelInferCall call, in ModelInferCall.ResponseOutput output)
    {
        var config = call.ResponseOutputConfigs![output.ConfigIndex];
        var size = StringFieldSize(config.Name) + StringFieldSize(config.DataType);
        var dims = PackedVarintLength(call.ResponseDims.AsSpan(output.DimStart, output.DimCount));
        if (dims > 0)
        {
            size += FieldSize(dims);
        }

        if (!call.RawOutput)
        {
            size += FieldSize(ContentsSize(output.PackedContentsLength));
        }

        return size;
    }

    /// <summary>Size of InferTensorContents whose one packed field holds <paramref name="packedLength"/> bytes.</summary>
    private static int ContentsSize(int packedLength) => packedLength > 0 ? FieldSize(packedLength) : 0;

    /// <summary>Bytes of the packed typed field that holds <paramref name="bytes"/> as <paramref name="type"/> values.</summary>
    private static int PackedContentsLength(TensorDataType type, ReadOnlySpan<byte> bytes) => type switch
        {
            TensorDataType.Fp32 or TensorDataType.Fp64 => bytes.Length,
            TensorDataType.Bool => bytes.Length,
            TensorDataType.Int32 => Int32VarintsLength(MemoryMarshal.Cast<byte, int>(bytes)),
            TensorDataType.Int64 => PackedVarintLength(MemoryMarshal.Cast<byte, long>(bytes)),
            _ => 0,
        };

    /// <summary>
    /// Writes the ModelInferResponse the call describes into <paramref name="output"/>: the <see cref="ResponseSize"/>
    /// bytes, which must have been computed first.
    /// </summary>
    public static void WriteResponse(ModelInferCall call, IBufferWriter<byte> output)
    {
        var writer = new ProtoWriter(output);
        WriteFields(call, ref writer);
        writer.Flush();
    }

    private static void WriteFields(ModelInferCall call, ref ProtoWriter writer)
    {
        var configs = call.ResponseOutputConfigs!;
        writer.WriteString(ResponseModelNameField, call.ResponseModelName);
        writer.WriteString(ResponseModelVersionField, call.ResponseModelVersion);
        if (call.Id.Length > 0)
        {
            writer.WriteBytes(ResponseId, call.Id.Of(call.PayloadSpan));
        }

        if (call.ResponseArm.Length > 0)
        {
            // parameters {key: "arm", value: {string_param: arm}}, in field order as the generated code writes it.
            writer.WriteLengthPrefix(ResponseParameters, ArmEntrySize(call.ResponseArm));
            writer.WriteBytes(1, ArmKey);
            var armLength = Encoding.UTF8.GetByteCount(call.ResponseArm);
            writer.WriteLengthPrefix(2, FieldSize(armLength));
            writer.WriteString(ParameterString, call.ResponseArm);
        }

        for (var i = 0; i < call.ResponseOutputCount; i++)
        {
            ref readonly var output = ref call.ResponseOutputs[i];
            var config = configs[output.ConfigIndex];
            writer.WriteLengthPrefix(ResponseOutputs, output.EncodedLength);
            writer.WriteString(TensorName, config.Name);
            writer.WriteString(TensorDatatype, config.DataType);
            var dims = call.ResponseDims.AsSpan(output.DimStart, output.DimCount);
            var dimsLength = PackedVarintLength(dims);
            if (dimsLength > 0)
            {
                writer.WriteLengthPrefix(TensorShape, dimsLength);
                foreach (var dim in dims)
                {
                    writer.WriteVarint((ulong)dim);
                }
            }

            if (!call.RawOutput)
            {
                WriteContents(ref writer, config.Type, output.Buffer.AsSpan(0, output.Length), output.PackedContentsLength);
            }
        }

        if (call.RawOutput)
        {
            for (var i = 0; i < call.ResponseOutputCount; i++)
            {
                ref readonly var output = ref call.ResponseOutputs[i];
                writer.WriteBytes(ResponseRawOutputContents, output.Buffer.AsSpan(0, output.Length));
            }
        }
    }

    private static void WriteContents(ref ProtoWriter writer, TensorDataType type, ReadOnlySpan<byte> bytes, int packedLength)
    {
        writer.WriteLengthPrefix(TensorContents, ContentsSize(packedLength));
        switch (type)
        {
            case TensorDataType.Fp32 when bytes.Length > 0:
                writer.WriteBytes(6, bytes); // packed fixed32 is the little-endian floats themselves
                break;
            case TensorDataType.Fp64 when bytes.Length > 0:
                writer.WriteBytes(7, bytes);
                break;
            case TensorDataType.Bool when bytes.Length > 0:
                writer.WriteLengthPrefix(1, packedLength);
                foreach (var b in bytes)
                {
                    writer.WriteVarint(b != 0 ? 1UL : 0UL);
                }

                break;
            case TensorDataType.Int32 when bytes.Length > 0:
                var ints = MemoryMarshal.Cast<byte, int>(bytes);
                writer.WriteLengthPrefix(2, packedLength);
                foreach (var value in ints)
                {
                    writer.WriteVarint((ulong)(long)value); // int32 is sign-extended to 64 bits on the wire
                }

                break;
            case TensorDataType.Int64 when bytes.Length > 0:
                var longs = MemoryMarshal.Cast<byte, long>(bytes);
                writer.WriteLengthPrefix(3, packedLength);
                foreach (var value in longs)
                {
                    writer.WriteVarint((ulong)value);
                }

                break;
        }
    }

    /// <summary>Size of the map entry {key "arm", value InferParameter{string_param}} without its own tag and length.</summary>
    private static int ArmEntrySize(string arm) => FieldSize(ArmKey.Length) + FieldSize(FieldSize(Encoding.UTF8.GetByteCount(arm)));

    /// <summary>
    /// The value of the request parameter <paramref name="key"/> as sticky-key bytes: a string_param's UTF-8 bytes, or an
    /// int64/uint64 param's decimal digits written into <paramref name="scratch"/> (so 42 and "42" land on the same arm).
    /// Empty when the request has no such parameter, or one of another type. Allocates nothing.
    /// </summary>
    public static ReadOnlySpan<byte> ParameterKey(ModelInferCall call, scoped ReadOnlySpan<byte> key, Span<byte> scratch)
    {
        var buffer = call.PayloadSpan;
        var found = default(ReadOnlySpan<byte>);
        for (var i = 0; i < call.ParameterCount; i++)
        {
            var entry = call.Parameters[i];
            var entryKey = default(Slice);
            var value = default(Slice);
            var reader = new ProtoReader(buffer, entry.Start, entry.End);
            while (!reader.AtEnd)
            {
                var field = reader.ReadTag(out var wireType);
                if (wireType == WireType.LengthDelimited && field is 1 or 2)
                {
                    var slice = reader.ReadLengthDelimited();
                    if (field == 1)
                    {
                        entryKey = slice;
                    }
                    else
                    {
                        value = slice;
                    }
                }
                else
                {
                    reader.Skip(field, wireType);
                }
            }

            if (!entryKey.Of(buffer).SequenceEqual(key))
            {
                continue;
            }

            // A map's later entry for the same key wins, as in the generated code; within the value the last case set wins.
            found = default;
            var parameter = new ProtoReader(buffer, value.Start, value.End);
            while (!parameter.AtEnd)
            {
                var p = parameter.ReadTag(out var pType);
                if (p == ParameterString && pType == WireType.LengthDelimited)
                {
                    found = parameter.ReadLengthDelimited().Of(buffer);
                }
                else if (p is ParameterInt64 or ParameterUInt64 && pType == WireType.Varint)
                {
                    var number = parameter.ReadVarint64();
                    var formatted = p == ParameterInt64
                        ? ((long)number).TryFormat(scratch, out var written, default, System.Globalization.CultureInfo.InvariantCulture)
                        : number.TryFormat(scratch, out written, default, System.Globalization.CultureInfo.InvariantCulture);
                    found = formatted ? scratch[..written] : default;
                }
                else
                {
                    if (p is >= 1 and <= 5)
                    {
                        found = default;
                    }

                    parameter.Skip(p, pType);
                }
            }
        }

        return found;
    }

    private static int StringFieldSize(string value) => value.Length == 0 ? 0 : FieldSize(Encoding.UTF8.GetByteCount(value));

    /// <summary>Tag (all field numbers here are below 16: one byte), length prefix and payload.</summary>
    private static int FieldSize(int length) => 1 + VarintLength((ulong)length) + length;

    private static int PackedVarintLength(ReadOnlySpan<long> values)
    {
        var length = 0;
        foreach (var value in values)
        {
            length += VarintLength((ulong)value);
        }

        return length;
    }

    private static int Int32VarintsLength(ReadOnlySpan<int> values)
    {
        var length = 0;
        foreach (var value in values)
        {
            length += VarintLength((ulong)(long)value);
        }

        return length;
    }

    public static int VarintLength(ulong value) => (63 - System.Numerics.BitOperations.LeadingZeroCount(value | 1)) / 7 + 1;
}

/// <summary>Writes protobuf fields into an <see cref="IBufferWriter{T}"/>, a span at a time.</summary>
internal ref struct ProtoWriter
{
    private readonly IBufferWriter<byte> _output;
    private Span<byte> _span;
    private int _position;

    public ProtoWriter(IBufferWriter<byte> output)
    {
        _output = output;
        _span = default;
        _position = 0;
    }

    public void WriteVarint(ulong value)
    {
        Ensure(10);
        while (value >= 0x80)
        {
            _span[_position++] = (byte)(value | 0x80);
            value >>= 7;
        }

        _span[_position++] = (byte)value;
    }

    public void WriteLengthPrefix(int field, int length)
    {
        WriteVarint(((ulong)field << 3) | WireType.LengthDelimited);
        WriteVarint((ulong)length);
    }

    /// <summary>A string field; empty strings are not written (proto3 defaults).</summary>
    public void WriteString(int field, string value)
    {
        if (value.Length == 0)
        {
            return;
        }

        var length = Encoding.UTF8.GetByteCount(value);
        WriteLengthPrefix(field, length);
        Ensure(length);
        _position += Encoding.UTF8.GetBytes(value, _span[_position..]);
    }

    public void WriteBytes(int field, ReadOnlySpan<byte> value)
    {
        WriteLengthPrefix(field, value.Length);
        while (!value.IsEmpty)
        {
            if (_position == _span.Length)
            {
                Ensure(1);
            }

            var chunk = Math.Min(value.Length, _span.Length - _position);
            value[..chunk].CopyTo(_span[_position..]);
            _position += chunk;
            value = value[chunk..];
        }
    }

    public void Flush()
    {
        if (_position > 0)
        {
            _output.Advance(_position);
        }

        _span = default;
        _position = 0;
    }

    private void Ensure(int bytes)
    {
        if (_span.Length - _position >= bytes)
        {
            return;
        }

        Flush();
        _span = _output.GetSpan(bytes);
    }
}
