using System.Globalization;
using System.Text.Json;
using InferenceGateway.LoadTest.Histogram;

namespace InferenceGateway.LoadTest.Freshness;

/// <summary>Table and JSON renderings of a <see cref="FreshnessResult"/>.</summary>
public static class FreshnessReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>One line on what was measured, for the table and the JSON.</summary>
    public static string Describe(FreshnessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        string query = options.Query == FreshnessQuery.GetFeatures
            ? $"GetFeatures({options.Feature}, as_of = event time + 1 ms)"
            : $"Predict {options.Model}/{options.Version} with return_features ({options.Feature})";
        string ingest = options.CallPerEvent ? "one IngestEvents call per event" : "one long-lived IngestEvents stream";
        return $"one {options.Stream} event for a new entity per trial over {ingest}, then {query} back to back until the feature is not defaulted";
    }

    /// <summary>Writes the result as a table.</summary>
    public static void WriteTable(TextWriter writer, FreshnessResult result)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(result);
        writer.WriteLine($"freshness @ {result.Options.Url}: {Describe(result.Options)}");
        writer.WriteLine(string.Format(
            Inv,
            "trials {0} (+{1} warm-up), visible {2}, not visible within {3:F1} s {4}; events sent {5}: accepted {6}, late {7}, rejected {8}{9}{10}",
            result.Options.Trials,
            result.Options.WarmupTrials,
            result.Visible,
            result.Options.TrialTimeout.TotalSeconds,
            result.NotVisible,
            result.Sent,
            result.Accepted,
            result.DroppedLate,
            result.Rejected,
            result.FirstRejection.Length > 0 ? " (first: " + result.FirstRejection + ")" : string.Empty,
            result.Stopped ? "; STOPPED EARLY" : string.Empty));
        writer.WriteLine($"{"latency",-26} {"count",8} {"mean ms",9} {"p50 ms",9} {"p90 ms",9} {"p99 ms",9} {"p99.9 ms",9} {"max ms",9}");
        foreach ((string name, _, LatencyHistogram histogram) in Latencies(result))
        {
            Row(writer, name, histogram);
        }

        long trials = result.Visible + result.NotVisible;
        writer.WriteLine(string.Format(
            Inv,
            "polls per trial after the send: {0:F2}; the first poll already saw the event in {1:F1} % of trials",
            trials == 0 ? 0 : result.Polls / (double)trials,
            result.Visible == 0 ? 0 : 100.0 * result.VisibleOnFirstPoll / result.Visible));
    }

    /// <summary>Writes the result as JSON (latencies in milliseconds).</summary>
    public static void WriteJson(Stream stream, FreshnessResult result, string commandLine)
    {
        ArgumentNullException.ThrowIfNull(result);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        FreshnessOptions o = result.Options;
        json.WriteStartObject();
        json.WriteString("tool", "ig-load freshness");
        json.WriteString("command", commandLine);
        json.WriteString("measures", Describe(o));
        json.WriteString("url", o.Url.ToString());
        json.WriteString("query", o.Query == FreshnessQuery.GetFeatures ? "getfeatures" : "predict");
        json.WriteBoolean("call_per_event", o.CallPerEvent);
        json.WriteString("feature", o.Feature);
        json.WriteNumber("trials", o.Trials);
        json.WriteNumber("warmup_trials", o.WarmupTrials);
        json.WriteNumber("visible", result.Visible);
        json.WriteNumber("not_visible", result.NotVisible);
        json.WriteNumber("polls", result.Polls);
        json.WriteNumber("visible_on_first_poll", result.VisibleOnFirstPoll);
        json.WriteNumber("events_sent", result.Sent);
        json.WriteNumber("accepted", result.Accepted);
        json.WriteNumber("dropped_late", result.DroppedLate);
        json.WriteNumber("rejected", result.Rejected);
        json.WriteString("first_rejection", result.FirstRejection);
        json.WriteBoolean("stopped_early", result.Stopped);
        json.WriteNumber("elapsed_s", Math.Round(result.Elapsed.TotalSeconds, 3));
        foreach ((_, string key, LatencyHistogram histogram) in Latencies(result))
        {
            Histogram(json, key, histogram);
        }

        json.WriteEndObject();
    }

    // The latencies a run measured, in report order: text row name, JSON key, histogram (the acknowledgement ones only per call).
    private static IEnumerable<(string Name, string Key, LatencyHistogram Histogram)> Latencies(FreshnessResult result)
    {
        yield return ("send -> visible", "send_to_visible_ms", result.SendToVisible);
        if (result.SendToAcknowledged is { } ack)
        {
            yield return ("send -> acknowledged", "send_to_acknowledged_ms", ack);
        }

        if (result.AcknowledgedToVisible is { } ackVisible)
        {
            yield return ("acknowledged -> visible", "acknowledged_to_visible_ms", ackVisible);
        }

        yield return ("poll round trip", "poll_round_trip_ms", result.PollRoundTrip);
    }

    private static void Row(TextWriter writer, string name, LatencyHistogram h) =>
        writer.WriteLine(string.Format(
            Inv,
            "{0,-26} {1,8} {2,9:F3} {3,9:F3} {4,9:F3} {5,9:F3} {6,9:F3} {7,9:F3}",
            name,
            h.TotalCount,
            h.Mean / 1e6,
            h.GetValueAtPercentile(50) / 1e6,
            h.GetValueAtPercentile(90) / 1e6,
            h.GetValueAtPercentile(99) / 1e6,
            h.GetValueAtPercentile(99.9) / 1e6,
            h.Max / 1e6));

    private static void Histogram(Utf8JsonWriter json, string name, LatencyHistogram h)
    {
        json.WriteStartObject(name);
        json.WriteNumber("count", h.TotalCount);
        json.WriteNumber("min", h.Min / 1e6);
        json.WriteNumber("mean", Math.Round(h.Mean / 1e6, 6));
        json.WriteNumber("p50", h.GetValueAtPercentile(50) / 1e6);
        json.WriteNumber("p90", h.GetValueAtPercentile(90) / 1e6);
        json.WriteNumber("p99", h.GetValueAtPercentile(99) / 1e6);
        json.WriteNumber("p999", h.GetValueAtPercentile(99.9) / 1e6);
        json.WriteNumber("max", h.Max / 1e6);
        json.WriteEndObject();
    }
}
