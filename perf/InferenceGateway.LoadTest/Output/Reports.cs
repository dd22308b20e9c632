using System.Globalization;
using System.Text;
using System.Text.Json;
using InferenceGateway.LoadTest.Engine;

namespace InferenceGateway.LoadTest.Output;

/// <summary>Description of a whole run for machine-readable output.</summary>
/// <param name="Target">Target description.</param>
/// <param name="CommandLine">The arguments the tool was called with.</param>
/// <param name="StartedUtc">When the run started.</param>
public sealed record RunInfo(string Target, string CommandLine, DateTimeOffset StartedUtc)
{
    /// <summary>Events per call of an ingest run (0 for other targets): reports add events/s = calls/s x this.</summary>
    public int EventsPerCall { get; init; }
}

/// <summary>Human table, JSON and CSV renderings of step results (one row or object per sweep step).</summary>
public static class Reports
{
    /// <summary>CSV header; <c>ig-load plot</c> reads files with these columns.</summary>
    public const string CsvHeader =
        "label,mode,concurrency,rate,arrival,duration_s,requests,ok,errors,dropped,throughput_rps,mean_ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,send_lag_p99_ms,client_cpu_pct,errors_by_code,events_per_s";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes a fixed-width table of the steps.</summary>
    public static void WriteTable(TextWriter writer, RunInfo info, IReadOnlyList<StepResult> steps)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(steps);
        bool events = info.EventsPerCall > 0;
        writer.WriteLine($"target: {info.Target}");
        writer.WriteLine(
            $"{"step",-14} {"load",10} {"ok",10} {"errors",8} {(events ? "calls/s" : "req/s"),10} {(events ? $"{"events/s",11} " : string.Empty)}{"mean ms",9} {"p50 ms",9} {"p90 ms",9} {"p99 ms",9} {"p99.9 ms",9} {"max ms",9} {"cpu %",6}");
        foreach (StepResult s in steps)
        {
            writer.WriteLine(string.Format(
                Inv,
                "{0,-14} {1,10} {2,10} {3,8} {4,10:F1} {12}{5,9:F3} {6,9:F3} {7,9:F3} {8,9:F3} {9,9:F3} {10,9:F3} {11,6:F1}",
                Truncate(s.Options.Label, 14),
                LoadText(s.Options),
                s.Successes,
                s.Errors,
                s.Throughput,
                s.Latency.Mean / 1e6,
                s.LatencyMs(50),
                s.LatencyMs(90),
                s.LatencyMs(99),
                s.LatencyMs(99.9),
                s.Latency.Max / 1e6,
                s.ClientCpuPercent,
                events ? string.Format(Inv, "{0,11:F0} ", s.Throughput * info.EventsPerCall) : string.Empty));
            IReadOnlyList<KeyValuePair<string, long>> errors = s.ErrorsByName();
            if (errors.Count > 0)
            {
                writer.WriteLine("               errors: " + ErrorsText(errors, ", "));
            }

            if (s.SendLag is { TotalCount: > 0 } lag)
            {
                writer.WriteLine(string.Format(
                    Inv,
                    "               send lag vs schedule: p50 {0:F3} ms, p99 {1:F3} ms, max {2:F3} ms",
                    lag.GetValueAtPercentile(50) / 1e6,
                    lag.GetValueAtPercentile(99) / 1e6,
                    lag.Max / 1e6));
            }
        }
    }

    /// <summary>Writes the CSV header and one row per step; <c>events_per_s</c> is filled for ingest runs (<paramref name="eventsPerCall"/> &gt; 0).</summary>
    public static void WriteCsv(TextWriter writer, IReadOnlyList<StepResult> steps, int eventsPerCall = 0)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(steps);
        writer.WriteLine(CsvHeader);
        foreach (StepResult s in steps)
        {
            LoadStepOptions o = s.Options;
            writer.WriteLine(string.Join(
                ',',
                CsvField(o.Label),
                o.Mode == LoadMode.Closed ? "closed" : "open",
                o.Mode == LoadMode.Closed ? o.Concurrency.ToString(Inv) : string.Empty,
                o.Mode == LoadMode.Open ? o.Rate.ToString("R", Inv) : string.Empty,
                o.Mode == LoadMode.Open ? (o.Arrival == ArrivalProcess.Poisson ? "poisson" : "constant") : string.Empty,
                s.Elapsed.TotalSeconds.ToString("F3", Inv),
                (s.Successes + s.Errors).ToString(Inv),
                s.Successes.ToString(Inv),
                s.Errors.ToString(Inv),
                s.Dropped.ToString(Inv),
                s.Throughput.ToString("F2", Inv),
                (s.Latency.Mean / 1e6).ToString("F4", Inv),
                s.LatencyMs(50).ToString("F4", Inv),
                s.LatencyMs(90).ToString("F4", Inv),
                s.LatencyMs(99).ToString("F4", Inv),
                s.LatencyMs(99.9).ToString("F4", Inv),
                (s.Latency.Max / 1e6).ToString("F4", Inv),
                s.SendLag is null ? string.Empty : (s.SendLag.GetValueAtPercentile(99) / 1e6).ToString("F4", Inv),
                s.ClientCpuPercent.ToString("F1", Inv),
                CsvField(ErrorsText(s.ErrorsByName(), ";")),
                eventsPerCall > 0 ? (s.Throughput * eventsPerCall).ToString("F2", Inv) : string.Empty));
        }
    }

    /// <summary>Writes a JSON document: run information and one object per step.</summary>
    public static void WriteJson(Stream stream, RunInfo info, IReadOnlyList<StepResult> steps)
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("tool", "ig-load");
        json.WriteString("target", info.Target);
        json.WriteString("command", info.CommandLine);
        json.WriteString("started_utc", info.StartedUtc.ToString("O", Inv));
        if (info.EventsPerCall > 0)
        {
            json.WriteNumber("events_per_call", info.EventsPerCall);
        }

        json.WriteStartObject("client");
        json.WriteNumber("cores", Environment.ProcessorCount);
        json.WriteString("os", System.Runtime.InteropServices.RuntimeInformation.OSDescription);
        json.WriteString("runtime", System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
        json.WriteEndObject();
        json.WriteStartArray("steps");
        foreach (StepResult s in steps)
        {
            LoadStepOptions o = s.Options;
            json.WriteStartObject();
            json.WriteString("label", o.Label);
            json.WriteString("mode", o.Mode == LoadMode.Closed ? "closed" : "open");
            if (o.Mode == LoadMode.Closed)
            {
                json.WriteNumber("concurrency", o.Concurrency);
            }
            else
            {
                json.WriteNumber("rate", o.Rate);
                json.WriteString("arrival", o.Arrival == ArrivalProcess.Poisson ? "poisson" : "constant");
                json.WriteNumber("max_in_flight", o.MaxInFlight);
            }

            json.WriteNumber("warmup_s", o.Warmup.TotalSeconds);
            json.WriteNumber("elapsed_s", Math.Round(s.Elapsed.TotalSeconds, 4));
            json.WriteNumber("requests", s.Successes + s.Errors);
            json.WriteNumber("ok", s.Successes);
            json.WriteNumber("errors", s.Errors);
            json.WriteNumber("dropped", s.Dropped);
            json.WriteStartObject("errors_by_code");
            foreach (KeyValuePair<string, long> e in s.ErrorsByName())
            {
                json.WriteNumber(e.Key, e.Value);
            }

            json.WriteEndObject();
            json.WriteNumber("throughput_rps", Math.Round(s.Throughput, 3));
            if (info.EventsPerCall > 0)
            {
                json.WriteNumber("events_per_s", Math.Round(s.Throughput * info.EventsPerCall, 1));
            }

            json.WriteStartObject("latency_ms");
            json.WriteNumber("min", s.Latency.Min / 1e6);
            json.WriteNumber("mean", Math.Round(s.Latency.Mean / 1e6, 6));
            json.WriteNumber("p50", s.LatencyMs(50));
            json.WriteNumber("p90", s.LatencyMs(90));
            json.WriteNumber("p99", s.LatencyMs(99));
            json.WriteNumber("p999", s.LatencyMs(99.9));
            json.WriteNumber("max", s.Latency.Max / 1e6);
            json.WriteEndObject();
            if (s.SendLag is not null)
            {
                json.WriteStartObject("send_lag_ms");
                json.WriteNumber("p50", s.SendLag.GetValueAtPercentile(50) / 1e6);
                json.WriteNumber("p99", s.SendLag.GetValueAtPercentile(99) / 1e6);
                json.WriteNumber("max", s.SendLag.Max / 1e6);
                json.WriteEndObject();
            }

            json.WriteNumber("client_cpu_pct", Math.Round(s.ClientCpuPercent, 2));
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>Short load description: "c=64" or "500/s".</summary>
    public static string LoadText(LoadStepOptions o) => o.Mode == LoadMode.Closed
        ? "c=" + o.Concurrency.ToString(Inv)
        : o.Rate.ToString("0.##", Inv) + "/s";

    private static string ErrorsText(IReadOnlyList<KeyValuePair<string, long>> errors, string separator)
    {
        var sb = new StringBuilder();
        foreach (KeyValuePair<string, long> e in errors)
        {
            if (sb.Length > 0)
            {
                sb.Append(separator);
            }

            sb.Append(e.Key).Append('=').Append(e.Value.ToString(Inv));
        }

        return sb.ToString();
    }

    private static string CsvField(string value) =>
        value.Contains(',', StringComparison.Ordinal) || value.Contains('"', StringComparison.Ordinal)
            ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
            : value;

    private static string Truncate(string value, int length) => value.Length <= length ? value : value[..length];
}
