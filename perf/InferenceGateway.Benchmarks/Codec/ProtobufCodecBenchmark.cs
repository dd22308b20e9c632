using System.Buffers;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using InferenceGateway.Contracts.Inference;

namespace InferenceGateway.Benchmarks.Codec;

/// <summary>
/// The protobuf work of one ModelInfer call, without sockets: parse the request from a byte sequence (as the gRPC
/// layer does from Kestrel's buffers), and write the response into a reused buffer writer. Payloads: one fraud row
/// (3 floats, raw and typed) and one bench_mlp row (512 floats, raw).
/// </summary>
[MemoryDiagnoser]
public class ProtobufCodecBenchmark
{
    private readonly ArrayBufferWriter<byte> _writer = new(64 * 1024);
    private ReadOnlySequence<byte> _request;
    private ModelInferResponse _response = null!;

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
}
