using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;

namespace InferenceGateway.Server.Services;

/// <summary>Request-level instruments: calls and their latency by model, version, arm and gRPC status.</summary>
public sealed class GatewayMetrics
{
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;

    /// <summary>Creates the instruments on the "InferenceGateway" meter.</summary>
    public GatewayMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create("InferenceGateway");
        _requests = meter.CreateCounter<long>("gateway.requests", "{request}", "Inference calls by model, version, arm and gRPC status.");
        _duration = meter.CreateHistogram<double>("gateway.request_duration", "s", "Inference call duration inside the gateway, from decoded request to encoded response.");
    }

    /// <summary>Records one finished call.</summary>
    public void Record(string model, string version, string arm, StatusCode status, long startTimestamp)
    {
        var tags = new TagList
        {
            { "model", model },
            { "version", version },
            { "arm", arm },
            { "status", Transport.GrpcServerMetrics.StatusName(status) },
        };
        _requests.Add(1, tags);
        _duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }
}
