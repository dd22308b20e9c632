using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;

namespace InferenceGateway.Server.Transport;

/// <summary>gRPC calls and their duration by method and status, for every service the gateway serves.</summary>
public sealed class GrpcServerMetrics
{
    /// <summary>Label of calls to methods the gateway does not serve (bounded: one label for every unknown path).</summary>
    public const string UnknownMethod = "_unknown";

    /// <summary>Label of calls refused at the door (shutting down, over the rate limit), before the method was looked up.</summary>
    public const string RefusedMethod = "_refused";

    private static readonly string[] StatusNames = BuildStatusNames();
    private readonly Counter<long> _calls;
    private readonly Histogram<double> _duration;

    /// <summary>Creates the instruments on the "InferenceGateway" meter.</summary>
    public GrpcServerMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create("InferenceGateway");
        _calls = meter.CreateCounter<long>("gateway.grpc.server.calls", "{call}", "gRPC calls by method and status code.");
        _duration = meter.CreateHistogram<double>("gateway.grpc.server.call_duration", "s", "gRPC call duration in the gateway, from the request's arrival to the handler's end.");
    }

    /// <summary>Records one finished call.</summary>
    public void Record(string method, StatusCode status, long startTimestamp)
    {
        var tags = new TagList
        {
            { "method", method },
            { "status", StatusNames[(int)status] },
        };
        _calls.Add(1, tags);
        _duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }

    /// <summary>The status code's name as the metrics label it (OK, NotFound, ...).</summary>
    public static string StatusName(StatusCode status) => StatusNames[(int)status];

    private static string[] BuildStatusNames()
    {
        var names = new string[17];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = ((StatusCode)i).ToString();
        }

        return names;
    }
}
