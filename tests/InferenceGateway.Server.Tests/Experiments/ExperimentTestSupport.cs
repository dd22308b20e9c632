using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Server.Tests.Experiments;

/// <summary>
/// A scratch model repository: the bundled <c>fraud</c> (linked), and <c>twin</c>, whose versions 1 and 2 are both fraud
/// v1's model (so one ModelInfer request is valid for either arm) and whose version 3 is fraud v2's (8 inputs: a local
/// shadow that fails on v1's tensors).
/// </summary>
internal static class ExperimentRepository
{
    public static string Create(Action<string>? extra = null)
    {
        var root = Path.Combine(Path.GetTempPath(), $"ig-exp-models-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        Directory.CreateSymbolicLink(Path.Combine(root, "fraud"), Path.Combine(RepoPaths.Models, "fraud"));
        var fraud = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Models, "fraud", "config.json")))!.AsObject();
        var config = fraud.DeepClone().AsObject();
        config["name"] = "twin";
        var versions = new JsonObject
        {
            ["1"] = fraud["versions"]!["1"]!.DeepClone(),
            ["2"] = fraud["versions"]!["1"]!.DeepClone(),
            ["3"] = fraud["versions"]!["2"]!.DeepClone(),
        };
        config["versions"] = versions;
        var twin = Path.Combine(root, "twin");
        foreach (var (version, from) in new[] { ("1", "1"), ("2", "1"), ("3", "2") })
        {
            Directory.CreateDirectory(Path.Combine(twin, version));
            File.CreateSymbolicLink(Path.Combine(twin, version, "model.onnx"), Path.Combine(RepoPaths.Models, "fraud", from, "model.onnx"));
        }

        File.WriteAllText(Path.Combine(twin, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        extra?.Invoke(root);
        return root;
    }

    public static void Delete(string root)
    {
        foreach (var link in Directory.EnumerateFileSystemEntries(root).Where(e => new FileInfo(e).LinkTarget is not null).ToArray())
        {
            File.Delete(link);
        }

        Directory.Delete(root, recursive: true);
    }
}

/// <summary>A gateway on the scratch repository with an admin token and a fast experiments-file poll.</summary>
public class ExperimentGatewayFixture : GatewayFixture
{
    public const string Token = "experiments-admin-token-0123456789";
    private readonly string _repository;

    public ExperimentGatewayFixture()
        : this([])
    {
    }

    protected ExperimentGatewayFixture(string[] extraArgs)
        : this(ExperimentRepository.Create(), extraArgs)
    {
    }

    private ExperimentGatewayFixture(string repository, string[] extraArgs)
        : base(["--Gateway:Admin:Token=" + Token, "--Gateway:Experiments:PollInterval=00:00:00.100", .. extraArgs], repository)
    {
        _repository = repository;
    }

    public string ExperimentsFile => Path.Combine(DataDirectory, "experiments.json");

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        ExperimentRepository.Delete(_repository);
    }
}

/// <summary>The admin API and metrics of a gateway under test.</summary>
internal static class ExperimentAdmin
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpClient admin, HttpMethod method, string model, string? json = null, string? token = ExperimentGatewayFixture.Token)
    {
        using var request = new HttpRequestMessage(method, $"/admin/experiments/{model}");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await admin.SendAsync(request).WaitAsync(Timeout);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static async Task PutOkAsync(HttpClient admin, string model, string json)
    {
        var (status, body) = await SendAsync(admin, HttpMethod.Put, model, json);
        Assert.True(status == HttpStatusCode.OK, $"PUT {model}: {(int)status} {body}");
    }

    public static async Task<PrometheusScrape> ScrapeAsync(HttpClient admin)
    {
        using var response = await admin.GetAsync("/metrics").WaitAsync(Timeout);
        return PrometheusTextParser.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>A counter's value summed over every series with these labels (0 when there is none).</summary>
    public static double Sum(PrometheusScrape scrape, string name, params (string Name, string Value)[] labels) =>
        scrape.Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value)).Sum(s => s.Value);

    /// <summary>Polls the metrics until <paramref name="condition"/> holds (shadow copies complete after the primaries).</summary>
    public static async Task<PrometheusScrape> WaitForAsync(HttpClient admin, Func<PrometheusScrape, bool> condition, string what)
    {
        var until = DateTime.UtcNow + Timeout;
        while (true)
        {
            var scrape = await ScrapeAsync(admin);
            if (condition(scrape))
            {
                return scrape;
            }

            Assert.True(DateTime.UtcNow < until, "timed out waiting until " + what + "; experiment series:" + Environment.NewLine
                + string.Join(Environment.NewLine, scrape.Samples.Where(s => s.Name.StartsWith("gateway_shadow", StringComparison.Ordinal) || s.Name.StartsWith("gateway_experiment", StringComparison.Ordinal) || s.Name == "gateway_requests_total")));
            await Task.Delay(50);
        }
    }

    /// <summary>A ModelInfer for the twin model (fraud v1's three inputs) carrying an entity id parameter.</summary>
    public static ModelInferRequest TwinRequest(string entity, string version = "")
    {
        var request = KServeTests.RawRequest("twin", version, "features", [1, 3], [120f, 13f, 4f]);
        request.Id = "req-" + entity;
        request.Parameters["entity_id"] = new InferParameter { StringParam = entity };
        return request;
    }

    public static Task<ModelInferResponse> InferAsync(global::Grpc.Net.Client.GrpcChannel channel, ModelInferRequest request) =>
        channel.CreateCallInvoker().AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), request).ResponseAsync.WaitAsync(Timeout);

    public static string Arm(ModelInferResponse response) =>
        response.Parameters.TryGetValue("arm", out var arm) ? arm.StringParam : "";
}

/// <summary>What a fake Open Inference Protocol server does with ModelInfer.</summary>
public enum FakeOipBehaviour
{
    Answer,
    Sleep,
    Fail,
    Hang,
}

/// <summary>
/// A tiny Open Inference Protocol server on Grpc.AspNetCore (127.0.0.1, port 0): ModelInfer answers one FP32 score
/// (0.25), or sleeps first, fails with UNAVAILABLE, or never answers; ModelReady says whether it is ready. Counts calls.
/// </summary>
public sealed class FakeOipServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _disposed;

    private FakeOipServer(WebApplication app, FakeOipState state)
    {
        _app = app;
        State = state;
    }

    public FakeOipState State { get; }

    public string Endpoint { get; private set; } = "";

    public static async Task<FakeOipServer> StartAsync(FakeOipBehaviour behaviour = FakeOipBehaviour.Answer, TimeSpan? sleep = null)
    {
        var state = new FakeOipState { Behaviour = behaviour, Sleep = sleep ?? TimeSpan.FromMilliseconds(200) };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(state);
        var app = builder.Build();
        app.MapGrpcService<FakeOipService>();
        await app.StartAsync().WaitAsync(ExperimentAdmin.Timeout);
        var server = new FakeOipServer(app, state);
        server.Endpoint = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().Replace("[::1]", "127.0.0.1", StringComparison.Ordinal);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return; // a test stopped this replica early
        }

        State.Release.TrySetResult();
        await _app.StopAsync().WaitAsync(ExperimentAdmin.Timeout);
        await _app.DisposeAsync();
    }
}

public sealed class FakeOipState
{
    public FakeOipBehaviour Behaviour { get; set; }

    public TimeSpan Sleep { get; set; }

    public volatile bool Ready = true;

    public int Calls;

    public int ReadyProbes;

    public ConcurrentQueue<ModelInferRequest> Requests { get; } = new();

    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

internal sealed class FakeOipService(FakeOipState state) : GRPCInferenceService.GRPCInferenceServiceBase
{
    public override async Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context)
    {
        Interlocked.Increment(ref state.Calls);
        state.Requests.Enqueue(request);
        switch (state.Behaviour)
        {
            case FakeOipBehaviour.Sleep:
                await Task.Delay(state.Sleep, context.CancellationToken);
                break;
            case FakeOipBehaviour.Fail:
                throw new RpcException(new Status(StatusCode.Unavailable, "fake replica failing"));
            case FakeOipBehaviour.Hang:
                await state.Release.Task.WaitAsync(context.CancellationToken);
                break;
        }

        var response = new ModelInferResponse { ModelName = request.ModelName, ModelVersion = request.ModelVersion, Id = request.Id };
        var output = new ModelInferResponse.Types.InferOutputTensor { Name = "probability", Datatype = "FP32", Contents = new InferTensorContents() };
        output.Shape.AddRange([1, 1]);
        output.Contents.Fp32Contents.Add(0.25f);
        response.Outputs.Add(output);
        return response;
    }

    public override Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context)
    {
        Interlocked.Increment(ref state.ReadyProbes);
        return Task.FromResult(new ModelReadyResponse { Ready = state.Ready });
    }
}
