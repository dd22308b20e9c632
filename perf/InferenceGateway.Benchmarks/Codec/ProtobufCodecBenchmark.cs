using System.Buffers;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Models;
using InferenceGateway.Server.Services.Wire;

namespace InferenceGateway.Benchmarks.Codec;

/// <summary>
/// The protobuf work of one ModelInfer call, without sockets: parse the request from a byte sequence (as the gRPC
/// layer does from Kestrel's buffers), and write the response into a reused buffer writer, with Google.Protobuf's
/// generated code and with the server's hand-written codec (<see cref="ModelInferCodec"/>: pooled call, slices of
/// one pooled copy of the request, response written from pooled buffers). Payloads: one fraud row (3 floats, raw and
/// typed) and one bench_mlp row (512 floats, raw).
/// </summary>
[MemoryDiagnoser]
public class ProtobufCodecBenchmark
{
    private readonly ArrayBufferWriter<byte> _writer = new(64 * 1024);
    private ReadOnlySequence<byte> _request;
    private ModelInferResponse _response = null!;
    private ModelInferCall _call = null!;

    [Params("fraud_raw", "fraud_typed", "bench_mlp_raw")]
    public string Payload { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var width = Payload.StartsWith("bench", StringComparison.Ordinal) ? 512 : 3;
        var values = new float[width];
        for (var i = 0; i < width; i++)
        {
            values[i] = i * 0.25f;
        }

        var request = new ModelInferRequest { ModelName = Payload.StartsWith("bench", StringComparison.Ordinal) ? "bench_mlp" : "fraud", ModelVersion = "1", Id = "req-1" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "features", Datatype = "FP32" };
        input.Shape.AddRange([1, width]);
        if (Payload.EndsWith("typed", StringComparison.Ordinal))
        {
            input.Contents = new InferTensorContents();
            input.Contents.Fp32Contents.AddRange(values);
        }
        else
        {
            request.RawInputContents.Add(ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())));
        }

        request.Inputs.Add(input);
        _request = new ReadOnlySequence<byte>(request.ToByteArray());

        _response = new ModelInferResponse { ModelName = request.ModelName, ModelVersion = "1", Id = "req-1" };
        var output = new ModelInferResponse.Types.InferOutputTensor { Name = "probability", Datatype = "FP32" };
        output.Shape.AddRange([1, 1]);
        _response.Outputs.Add(output);
        _response.RawOutputContents.Add(ByteString.CopyFrom(new byte[4]));

        // The same response as a pooled call, for the hand-written writer.
        _call = ModelInferCodec.Parse(_request);
        _call.ResponseModelName = _response.ModelName;
        _call.ResponseModelVersion = "1";
        _call.ResponseOutputConfigs = [new TensorConfig { Name = "probability", DataType = "FP32", Dims = [-1, 1] }];
        _call.RawOutput = true;
        ModelInferCall.Add(ref _call.ResponseOutputs, ref _call.ResponseOutputCount, new ModelInferCall.ResponseOutput { ConfigIndex = 0, Buffer = new byte[4], Length = 4, DimStart = 0, DimCount = 2 });
        ModelInferCall.Add(ref _call.ResponseDims, ref _call.ResponseDimCount, 1);
        ModelInferCall.Add(ref _call.ResponseDims, ref _call.ResponseDimCount, 1);
    }

    [Benchmark]
    public int ParseRequest() => ModelInferRequest.Parser.ParseFrom(_request).Inputs.Count;

    [Benchmark]
    public int WriteResponse()
    {
        _writer.ResetWrittenCount();
        _response.WriteTo(_writer);
        return _writer.WrittenCount;
    }

    /// <summary>Parse into a pooled call and give it back, as the server does per request.</summary>
    [Benchmark]
    public int ParseRequestPooled()
    {
        var call = ModelInferCodec.Parse(_request);
        var inputs = call.InputCount;
        call.Return();
        return inputs;
    }

    [Benchmark]
    public int WriteResponsePooled()
    {
        _writer.ResetWrittenCount();
        ModelInferCodec.ResponseSize(_call); // as the marshaller does: sizes first, then the fields
        ModelInferCodec.WriteResponse(_call, _writer);
        return _writer.WrittenCount;
    }
}
