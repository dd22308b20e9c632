using Google.Protobuf;
using InferenceGateway.Contracts.Inference;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Server.Services;

namespace InferenceGateway.Server.Tests;

public sealed class KServeTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly Method<ModelInferRequest, ModelInferResponse> Infer = KServeMethods.ModelInfer;

    private static readonly Method<ServerReadyRequest, ServerReadyResponse> ServerReady = new(
        MethodType.Unary, "inference.GRPCInferenceService", "ServerReady", ProtobufMarshaller.For(ServerReadyRequest.Parser), ProtobufMarshaller.For(ServerReadyResponse.Parser));

    private static readonly Method<ModelMetadataRequest, ModelMetadataResponse> ModelMetadata = new(
        MethodType.Unary, "inference.GRPCInferenceService", "ModelMetadata", ProtobufMarshaller.For(ModelMetadataRequest.Parser), ProtobufMarshaller.For(ModelMetadataResponse.Parser));

    /// <summary>ModelInfer with the request as hand-made bytes: for messages the generated code cannot build.</summary>
    private static readonly Method<byte[], ModelInferResponse> RawInfer = new(MethodType.Unary, "inference.GRPCInferenceService", "ModelInfer",
        Marshallers.Create<byte[]>(static (bytes, context) => context.Complete(bytes), static context => context.PayloadAsNewBuffer()),
        ProtobufMarshaller.For(ModelInferResponse.Parser));

    private Task<ModelInferResponse> CallAsync(ModelInferRequest request) =>
        gateway.Channel.CreateCallInvoker().AsyncUnaryCall(Infer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), request).ResponseAsync.WaitAsync(Timeout);

    [Fact]
    public async Task ServerReady_AfterStart_IsTrue()
    {
        var response = await gateway.Channel.CreateCallInvoker().AsyncUnaryCall(ServerReady, null, default, new ServerReadyRequest()).ResponseAsync.WaitAsync(Timeout);
        Assert.True(response.Ready);
    }

    [Theory]
    [InlineData("fraud", "1")]
    [InlineData("fraud", "2")]
    [InlineData("bench_mlp", "1")]
    public async Task ModelInfer_TypedContents_MatchesReferenceOutputs(string model, string version)
    {
        var data = TestData.Load(model, version);
        var request = TypedRequest(model, version, data);
        request.Id = "req-1";

        var response = await CallAsync(request);

        Assert.Equal(model, response.ModelName);
        Assert.Equal(version, response.ModelVersion);
        Assert.Equal("req-1", response.Id);
        var output = Assert.Single(response.Outputs);
        Assert.Equal(data.OutputName, output.Name);
        Assert.Equal("FP32", output.Datatype);
        Assert.Equal(data.OutputShape, output.Shape.ToArray());
        AssertClose(data.Output, output.Contents.Fp32Contents.ToArray());
    }

    [Fact]
    public async Task ModelInfer_RawContents_AnswersRaw()
    {
        var data = TestData.Load("fraud", "2");
        var request = RawRequest("fraud", "2", data.InputName, data.InputShape, data.Input);

        var response = await CallAsync(request);

        var raw = Assert.Single(response.RawOutputContents);
        Assert.Null(response.Outputs[0].Contents);
        AssertClose(data.Output, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw.Span).ToArray());
    }

    [Fact]
    public async Task ModelInfer_EmptyVersion_UsesLatest()
    {
        var data = TestData.Load("fraud", "2");
        var response = await CallAsync(RawRequest("fraud", "", data.InputName, data.InputShape, data.Input));
        Assert.Equal("2", response.ModelVersion);
    }

    [Fact]
    public async Task ModelInfer_ManyConcurrentSingleRows_EachGetsItsOwnRow()
    {
        // Concurrent single-row requests are batched together; each caller must get back exactly its row's output.
        var data = TestData.Load("bench_mlp", "1");
        var width = (int)data.InputShape[1];
        var rows = (int)data.InputShape[0];
        var calls = new List<Task<(int Row, float Value)>>();
        for (var i = 0; i < 96; i++)
        {
            var row = i % rows;
            calls.Add(Task.Run(async () =>
            {
                var response = await CallAsync(RawRequest("bench_mlp", "1", data.InputName, [1, width], data.Input.AsSpan(row * width, width).ToArray()));
                return (row, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(response.RawOutputContents[0].Span)[0]);
            }));
        }

        foreach (var (row, value) in await Task.WhenAll(calls).WaitAsync(Timeout))
        {
            Assert.InRange(value, data.Output[row] - 1e-4f, data.Output[row] + 1e-4f);
        }
    }

    [Fact]
    public async Task ModelInfer_UnknownModel_NotFound()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => CallAsync(RawRequest("nope", "", "x", [1, 1], [1f])));
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
        Assert.Contains("'nope'", ex.Status.Detail);
    }

    [Fact]
    public async Task ModelInfer_WrongShape_InvalidArgumentNamingTheInput()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => CallAsync(RawRequest("fraud", "1", "features", [1, 4], [1f, 2f, 3f, 4f])));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("features", ex.Status.Detail);
        Assert.Contains("[-1,3]", ex.Status.Detail);
    }

    [Fact]
    public async Task ModelInfer_WrongDatatype_InvalidArgument()
    {
        var request = new ModelInferRequest { ModelName = "fraud", ModelVersion = "1" };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "features", Datatype = "INT64", Contents = new InferTensorContents() };
        input.Shape.AddRange([1, 3]);
        input.Contents.Int64Contents.AddRange([1, 2, 3]);
        request.Inputs.Add(input);

        var ex = await Assert.ThrowsAsync<RpcException>(() => CallAsync(request));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("INT64", ex.Status.Detail);
        Assert.Contains("FP32", ex.Status.Detail);
    }

    [Fact]
    public async Task ModelInfer_RawByteCountMismatch_InvalidArgument()
    {
        var request = RawRequest("fraud", "1", "features", [2, 3], [1f, 2f, 3f]);
        var ex = await Assert.ThrowsAsync<RpcException>(() => CallAsync(request));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("12 bytes", ex.Status.Detail);
    }

    [Fact]
    public async Task ModelInfer_TooManyRows_InvalidArgument()
    {
        var rows = 129;
        var request = RawRequest("fraud", "1", "features", [rows, 3], new float[rows * 3]);
        var ex = await Assert.ThrowsAsync<RpcException>(() => CallAsync(request));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("at most 128", ex.Status.Detail);
    }

    [Theory]
    [InlineData("request")]
    [InlineData("output")]
    [InlineData("none")]
    public async Task ModelInfer_TypedInputs_BinaryDataParameterChoosesRawOutputs(string where)
    {
        var data = TestData.Load("fraud", "2");
        var request = TypedRequest("fraud", "2", data);
        var output = new ModelInferRequest.Types.InferRequestedOutputTensor { Name = data.OutputName };
        request.Outputs.Add(output);
        if (where == "request")
        {
            request.Parameters.Add("binary_data_output", new InferParameter { BoolParam = true });
        }
        else if (where == "output")
        {
            output.Parameters.Add("binary_data", new InferParameter { BoolParam = true });
        }

        var response = await CallAsync(request);

        var tensor = Assert.Single(response.Outputs);
        Assert.Equal(data.OutputShape, tensor.Shape.ToArray());
        if (where == "none")
        {
            Assert.Empty(response.RawOutputContents);
            AssertClose(data.Output, tensor.Contents.Fp32Contents.ToArray());
        }
        else
        {
            Assert.Null(tensor.Contents);
            AssertClose(data.Output, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Assert.Single(response.RawOutputContents).Span).ToArray());
        }
    }

    [Fact]
    public async Task ModelInfer_RequestedOutputUnknown_InvalidArgumentListingTheOutputs()
    {
        var request = RawRequest("fraud", "1", "features", [1, 3], [1f, 2f, 3f]);
        request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "nope" });

        var ex = await Assert.ThrowsAsync<RpcException>(() => CallAsync(request));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("no output 'nope'", ex.Status.Detail);
        Assert.Contains("probability", ex.Status.Detail);
    }

    [Fact]
    public async Task ModelInfer_MalformedTypedContents_InvalidArgumentNamingTheInput()
    {
        // fraud v1, input "features" [1,3] FP32 whose packed fp32_contents hold 5 bytes: not a whole number of floats.
        byte[] contents = [0x32, 5, 0, 0, 128, 63, 0];
        byte[] tensor = [0x0A, 8, .. "features"u8, 0x12, 4, .. "FP32"u8, 0x1A, 2, 1, 3, 0x2A, (byte)contents.Length, .. contents];
        byte[] message = [0x0A, 5, .. "fraud"u8, 0x12, 1, (byte)'1', 0x2A, (byte)tensor.Length, .. tensor];

        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.Channel.CreateCallInvoker()
            .AsyncUnaryCall(RawInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), message).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("input 'features': malformed contents", ex.Status.Detail);
    }

    [Theory]
    [InlineData(1, "model_name")]
    [InlineData(2, "model_version")]
    [InlineData(3, "id")]
    public async Task ModelInfer_StringFieldNotUtf8_InvalidArgumentNamingTheField(int field, string name)
    {
        // A valid fraud v1 request, then the field once more (the last value wins) with bytes that are not UTF-8. Before
        // the check, an id like this came back verbatim in an OK response that Python's protobuf refuses to parse.
        var valid = RawRequest("fraud", "1", "features", [1, 3], [1f, 2f, 3f]).ToByteArray();
        byte[] message = [.. valid, (byte)((field << 3) | 2), 3, (byte)'a', 0xFF, 0xFE];
        var invoker = gateway.Channel.CreateCallInvoker();

        var ex = await Assert.ThrowsAsync<RpcException>(() => invoker
            .AsyncUnaryCall(RawInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), message).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal($"ModelInferRequest.{name} is not valid UTF-8", ex.Status.Detail);

        // The same three bytes as valid UTF-8 ("a" and U+00E9): the id is served, the names only miss; only the encoding
        // was refused.
        byte[] text = [.. valid, (byte)((field << 3) | 2), 3, (byte)'a', 0xC3, 0xA9];
        if (field == 3)
        {
            var response = await invoker.AsyncUnaryCall(RawInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), text).ResponseAsync.WaitAsync(Timeout);
            Assert.Equal("a\u00e9", response.Id);
        }
        else
        {
            var notFound = await Assert.ThrowsAsync<RpcException>(() => invoker
                .AsyncUnaryCall(RawInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), text).ResponseAsync.WaitAsync(Timeout));
            Assert.Equal(StatusCode.NotFound, notFound.StatusCode);
            Assert.Contains("a\u00e9", notFound.Status.Detail);
        }
    }

    [Fact]
    public async Task GrpcResponse_CarriesNoServerHeader()
    {
        // Kestrel adds "server: Kestrel" unless told not to; gRPC servers (grpc-go, grpc-core) send none.
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.GrpcPort}"), Timeout = Timeout };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/inference.GRPCInferenceService/ServerLive")
        {
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");

        using var response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("0", Assert.Single(response.TrailingHeaders.GetValues("grpc-status")));
        Assert.False(response.Headers.Contains("server"), $"server header: {string.Join(", ", response.Headers.Server)}");
    }

    [Fact]
    public async Task ModelInfer_ManySequentialCalls_ReuseOfPooledCallsKeepsAnswersApart()
    {
        // Pooled calls are reused at once: a response written from a stale slice would show another call's id or rows.
        var data = TestData.Load("fraud", "2");
        var width = (int)data.InputShape[1];
        for (var i = 0; i < 50; i++)
        {
            var row = i % (int)data.InputShape[0];
            var request = RawRequest("fraud", "2", data.InputName, [1, width], data.Input.AsSpan(row * width, width).ToArray());
            request.Id = new string('r', i % 7) + i;

            var response = await CallAsync(request);

            Assert.Equal(request.Id, response.Id);
            var value = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Assert.Single(response.RawOutputContents).Span)[0];
            Assert.InRange(value, data.Output[row] - 1e-4f, data.Output[row] + 1e-4f);
        }
    }

    [Fact]
    public async Task ModelMetadata_Fraud_ListsVersionsAndTensors()
    {
        var response = await gateway.Channel.CreateCallInvoker().AsyncUnaryCall(ModelMetadata, null, default, new ModelMetadataRequest { Name = "fraud", Version = "2" }).ResponseAsync.WaitAsync(Timeout);
        Assert.Equal(["1", "2"], response.Versions.ToArray());
        Assert.Equal("onnxruntime_onnx", response.Platform);
        var input = Assert.Single(response.Inputs);
        Assert.Equal("features", input.Name);
        Assert.Equal([-1L, 8L], input.Shape.ToArray());
    }

    private static ModelInferRequest TypedRequest(string model, string version, TestData data)
    {
        var request = new ModelInferRequest { ModelName = model, ModelVersion = version };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = data.InputName, Datatype = "FP32", Contents = new InferTensorContents() };
        input.Shape.AddRange(data.InputShape);
        input.Contents.Fp32Contents.AddRange(data.Input);
        request.Inputs.Add(input);
        return request;
    }

    internal static ModelInferRequest RawRequest(string model, string version, string inputName, long[] shape, float[] values)
    {
        var request = new ModelInferRequest { ModelName = model, ModelVersion = version };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = inputName, Datatype = "FP32" };
        input.Shape.AddRange(shape);
        request.Inputs.Add(input);
        request.RawInputContents.Add(ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan())));
        return request;
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f, $"element {i}: expected {expected[i]}, got {actual[i]}");
        }
    }
}
