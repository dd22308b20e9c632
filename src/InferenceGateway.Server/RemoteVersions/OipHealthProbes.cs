using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using InferenceGateway.Contracts.Inference;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace InferenceGateway.Server.RemoteVersions;

/// <summary>
/// Active health probes for remote versions in the Open Inference Protocol itself: a gRPC <c>ModelReady</c> call for the
/// model and version the replicas serve (an HTTP GET, YARP's default probe, means nothing to a gRPC server).
/// </summary>
internal sealed class OipProbingRequestFactory : IProbingRequestFactory
{
    private static readonly MediaTypeHeaderValue GrpcContentType = new("application/grpc");

    public HttpRequestMessage CreateRequest(ClusterModel cluster, DestinationModel destination)
    {
        var metadata = cluster.Config.Metadata;
        var body = new ModelReadyRequest
        {
            Name = metadata?.GetValueOrDefault(RemoteVersionProxyConfig.ModelMetadata) ?? "",
            Version = metadata?.GetValueOrDefault(RemoteVersionProxyConfig.VersionMetadata) ?? "",
        }.ToByteArray();
        var frame = new byte[5 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)body.Length);
        body.CopyTo(frame, 5);
        var address = destination.Config.Health ?? destination.Config.Address;
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(address), "/inference.GRPCInferenceService/ModelReady"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.ContentType = GrpcContentType;
        request.Headers.TryAddWithoutValidation("te", "trailers");
        return request;
    }
}

/// <summary>
/// Reads ModelReady answers: a replica is healthy when it answered <c>ready: true</c> with gRPC status OK, and is taken
/// out after the cluster's <c>unhealthy_after</c> consecutive failed probes (refused connections, timeouts, errors,
/// not ready); one good probe brings it back.
/// </summary>
internal sealed partial class OipModelReadyHealthPolicy(IDestinationHealthUpdater updater, ILogger<OipModelReadyHealthPolicy> logger) : IActiveHealthCheckPolicy
{
    public const string PolicyName = "OipModelReady";

    private static readonly TimeSpan BodyTimeout = TimeSpan.FromSeconds(2);
    private readonly ConditionalWeakTable<DestinationState, StrongBox<int>> _failures = new();

    public string Name => PolicyName;

    public void ProbingCompleted(ClusterState cluster, IReadOnlyList<DestinationProbingResult> probingResults)
    {
        var threshold = int.TryParse(cluster.Model.Config.Metadata?.GetValueOrDefault(RemoteVersionProxyConfig.UnhealthyAfterMetadata), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? parsed : 2;
        var states = new NewActiveDestinationHealth[probingResults.Count];
        for (var i = 0; i < probingResults.Count; i++)
        {
            var result = probingResults[i];
            var destination = result.Destination;
            var failures = _failures.GetValue(destination, static _ => new StrongBox<int>());
            var problem = Check(result);
            DestinationHealth health;
            if (problem is null)
            {
                failures.Value = 0;
                health = DestinationHealth.Healthy;
            }
            else
            {
                var count = Interlocked.Increment(ref failures.Value);
                health = count >= threshold ? DestinationHealth.Unhealthy : destination.Health.Active;
            }

            if (health != destination.Health.Active)
            {
                Log.HealthChanged(logger, cluster.ClusterId, destination.Model.Config.Address, health.ToString(), problem ?? "ready");
            }

            states[i] = new NewActiveDestinationHealth(destination, health);
        }

        updater.SetActive(cluster, states);
    }

    /// <summary>Null when the probe says ready, else what was wrong.</summary>
    private static string? Check(DestinationProbingResult result)
    {
        if (result.Response is not { } response)
        {
            return result.Exception?.Message ?? "no answer";
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            return $"HTTP {(int)response.StatusCode}";
        }

        if (response.Headers.TryGetValues("grpc-status", out var headerStatus))
        {
            var code = headerStatus.FirstOrDefault();
            if (code != "0")
            {
                return $"gRPC status {code}"; // a trailers-only answer: an error before any message
            }
        }

        byte[] body;
        try
        {
            // The probe's answer is a few bytes that arrive with its headers; reading them is bounded anyway. The policy
            // runs on the health monitor's timer, never on a request.
            var read = response.Content.ReadAsByteArrayAsync();
            if (!read.Wait(BodyTimeout))
            {
                return "ModelReady answer incomplete";
            }

            body = read.Result;
        }
        catch (AggregateException ex)
        {
            return ex.InnerException?.Message ?? ex.Message;
        }

        if (response.TrailingHeaders.TryGetValues("grpc-status", out var trailerStatus) && trailerStatus.FirstOrDefault() != "0")
        {
            return $"gRPC status {trailerStatus.FirstOrDefault()}";
        }

        if (body.Length < 5)
        {
            return "empty ModelReady answer";
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(1));
        if (body[0] != 0 || length != body.Length - 5)
        {
            return "unexpected ModelReady framing";
        }

        return ModelReadyResponse.Parser.ParseFrom(body, 5, (int)length).Ready ? null : "model not ready";
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Remote version {Cluster}: replica {Address} is now {Health} ({Detail})", EventName = "RemoteReplicaHealthChanged")]
        public static partial void HealthChanged(ILogger logger, string cluster, string address, string health, string detail);
    }
}
