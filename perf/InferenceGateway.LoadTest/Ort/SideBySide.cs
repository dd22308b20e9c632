using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using InferenceGateway.LoadTest.Engine;
using InferenceGateway.LoadTest.Histogram;

namespace InferenceGateway.LoadTest.Ort;

/// <summary>Settings of one side-by-side run: ORT's own runs against one caller's gateway calls, in alternating blocks.</summary>
public sealed record SideBySideOptions
{
    /// <summary>The .onnx file ORT runs in this process (the model the gateway serves).</summary>
    public required string ModelPath { get; init; }

    /// <summary>Rows per ORT run; the gateway request should carry as many.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>ORT intra-op threads; 0 = one per core, as the gateway's default.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Length of one block (ORT runs back to back, or gateway calls one at a time).</summary>
    public TimeSpan Block { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The start of each block that is not recorded: the other side's threads are still spinning down (ORT's intra-op
    /// workers spin for milliseconds after their last run, in either process) and its caches are cold.
    /// </summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Measured pairs of blocks; the order within a pair alternates (ORT first, then gateway first).</summary>
    public int Pairs { get; init; } = 40;

    /// <summary>Alternating blocks before measuring, not recorded (JIT, connection, both sides' pools).</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Seed of ORT's uniform [-1, 1) input values.</summary>
    public int Seed { get; init; } = 42;
}

/// <summary>Latency figures of one side, in milliseconds.</summary>
public sealed record SideLatency(long Count, double P50Ms, double MeanMs, double P90Ms, double P99Ms)
{
    internal static SideLatency From(LatencyHistogram histogram) => new(
        histogram.TotalCount,
        histogram.GetValueAtPercentile(50) / 1e6,
        histogram.Mean / 1e6,
        histogram.GetValueAtPercentile(90) / 1e6,
        histogram.GetValueAtPercentile(99) / 1e6);
}

/// <summary>What a side-by-side run measured.</summary>
/// <param name="Model">The model file's model folder name.</param>
/// <param name="Target">The gateway call's description.</param>
/// <param name="Ort">Every recorded ORT run (one <c>RunWithBinding</c>, timed alone).</param>
/// <param name="Gateway">Every recorded gateway call (request sent to response read).</param>
/// <param name="PairDifferencesMs">Per pair, the gateway block's p50 minus the ORT block's p50.</param>
/// <param name="GatewayErrors">Gateway calls (transport calls included) that did not end OK (any makes the run a failure).</param>
public sealed record SideBySideResult(string Model, string Target, SideLatency Ort, SideLatency Gateway, IReadOnlyList<double> PairDifferencesMs, long GatewayErrors)
{
    /// <summary>With a transport call: each transport call alone (ServerLive), in the sequence blocks.</summary>
    public SideLatency? Transport { get; init; }

    /// <summary>With a transport call: ORT's run when a transport call came just before it (the same run, timed alone).</summary>
    public SideLatency? OrtAfterTransport { get; init; }

    /// <summary>With a transport call: a transport call then ORT's run, timed together: what any server pays at least.</summary>
    public SideLatency? Sequence { get; init; }

    /// <summary>With a transport call: per group of blocks, the gateway's p50 minus the sequence's p50.</summary>
    public IReadOnlyList<double> SequenceDifferencesMs { get; init; } = [];

    /// <summary>The median over groups of the gateway's p50 above the sequence's (the gateway's own share).</summary>
    public double MedianSequenceDifferenceMs => Quantile(SequenceDifferencesMs, 0.5);

    /// <summary>The median over pairs of the gateway's p50 above ORT's: the figure the comparison rests on.</summary>
    public double MedianPairDifferenceMs => Quantile(PairDifferencesMs, 0.5);

    /// <summary>The pairs' first quartile of the difference.</summary>
    public double PairDifferenceP25Ms => Quantile(PairDifferencesMs, 0.25);

    /// <summary>The pairs' third quartile of the difference.</summary>
    public double PairDifferenceP75Ms => Quantile(PairDifferencesMs, 0.75);

    private static double Quantile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var position = q * (sorted.Length - 1);
        var low = (int)Math.Floor(position);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + ((sorted[high] - sorted[low]) * (position - low));
    }
}

/// <summary>
/// Issue 20's "measured side by side", at the shortest time scale the two can share: ORT's own batch-1 runs in this
/// process and one caller's gateway calls alternate in blocks of a fraction of a second (ORT first in even pairs,
/// the gateway first in odd ones), so the shared machine's slow spells, which last seconds, fall on both sides of
/// every pair. Each pair gives the gateway's p50 above ORT's; the median over pairs is the figure.
/// </summary>
/// <remarks>
/// Runs and calls are timed one by one (ORT: the run alone, with nothing between runs but the clock read; the
/// gateway: a whole call, transport included). Blocks in one process rather than two processes in turn: a second
/// process's start-up, JIT and ORT session would stand between the samples compared.
/// </remarks>
public static class SideBySide
{
    /// <summary>
    /// Loads the model, warms every side up, then measures <see cref="SideBySideOptions.Pairs"/> groups of blocks: ORT
    /// alone and the gateway, and with <paramref name="transport"/> (a call that does no work, ServerLive) a third
    /// block of "transport call, then ORT's run" in turn: the least any server on these cores could answer in.
    /// </summary>
    public static async Task<SideBySideResult> RunAsync(SideBySideOptions options, ILoadTarget target, ILoadTarget? transport, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(target);
        if (options.BatchSize < 1 || options.Pairs < 1 || options.Block <= TimeSpan.Zero || options.Settle < TimeSpan.Zero
            || options.Settle >= options.Block)
        {
            throw new ArgumentException("--batch and --pairs must be >= 1, --block > 0, 0 <= --settle < --block");
        }

        if (!File.Exists(options.ModelPath))
        {
            throw new FileNotFoundException($"no model at {options.ModelPath}", options.ModelPath);
        }

        using var runner = new OrtCeiling.SessionRunner(
            new OrtCeilingOptions { ModelPath = options.ModelPath, BatchSize = options.BatchSize, IntraOpThreads = options.IntraOpThreads },
            options.Seed);
        var blockTicks = (long)(options.Block.TotalSeconds * Stopwatch.Frequency);
        var settleTicks = (long)(options.Settle.TotalSeconds * Stopwatch.Frequency);
        var errors = 0L;

        var warmEnd = Stopwatch.GetTimestamp() + (long)(options.Warmup.TotalSeconds * Stopwatch.Frequency);
        var kinds = transport is null ? 2 : 3;
        for (var group = 0; Stopwatch.GetTimestamp() < warmEnd; group++)
        {
            await BlockAsync((group % kinds), null).ConfigureAwait(false);
        }

        errors = 0;
        var all = NewHistograms();
        var block = NewHistograms();
        // A group whose blocks recorded nothing on a side (every call slower than the block) has no difference to give.
        var differences = new List<double>(options.Pairs);
        var sequenceDifferences = new List<double>(options.Pairs);
        for (var group = 0; group < options.Pairs; group++)
        {
            foreach (var histogram in block)
            {
                histogram.Reset();
            }

            // Each kind goes first, second (and third) in turn, so a slow spell does not always fall on the same one.
            for (var k = 0; k < kinds; k++)
            {
                await BlockAsync((group + k) % kinds, block).ConfigureAwait(false);
            }

            for (var h = 0; h < all.Length; h++)
            {
                all[h].Add(block[h]);
            }

            if (block[GatewaySide].TotalCount > 0 && block[OrtSide].TotalCount > 0)
            {
                differences.Add((P50(block[GatewaySide]) - P50(block[OrtSide])) / 1e6);
            }

            if (transport is not null && block[GatewaySide].TotalCount > 0 && block[SequenceSide].TotalCount > 0)
            {
                sequenceDifferences.Add((P50(block[GatewaySide]) - P50(block[SequenceSide])) / 1e6);
            }
        }

        var model = Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(options.ModelPath))));
        return new SideBySideResult(string.IsNullOrEmpty(model) ? options.ModelPath : model, target.Description,
            SideLatency.From(all[OrtSide]), SideLatency.From(all[GatewaySide]), differences, errors)
        {
            Transport = transport is null ? null : SideLatency.From(all[TransportSide]),
            OrtAfterTransport = transport is null ? null : SideLatency.From(all[OrtAfterTransportSide]),
            Sequence = transport is null ? null : SideLatency.From(all[SequenceSide]),
            SequenceDifferencesMs = sequenceDifferences,
        };

        Task BlockAsync(int kind, LatencyHistogram[]? record) => kind switch
        {
            0 => MeasureBlockAsync(null, runner, null, record?[OrtSide], null),
            1 => MeasureBlockAsync(target, null, record?[GatewaySide], null, null),
            _ => MeasureBlockAsync(transport, runner, record?[TransportSide], record?[OrtAfterTransportSide], record?[SequenceSide]),
        };

        // One block: repeatedly a call (when given), then an ORT run (when given), each timed, until the block's time is
        // up; nothing recorded for iterations that start within the settle time or whose call failed.
        async Task MeasureBlockAsync(ILoadTarget? call, OrtCeiling.SessionRunner? run, LatencyHistogram? callTimes, LatencyHistogram? runTimes, LatencyHistogram? totalTimes)
        {
            var begin = Stopwatch.GetTimestamp();
            var recordFrom = begin + settleTicks;
            var end = begin + blockTicks;
            long now;
            do
            {
                cancellationToken.ThrowIfCancellationRequested();
                var start = Stopwatch.GetTimestamp();
                var outcome = call is null ? RequestOutcome.Ok : await call.SendAsync(cancellationToken).ConfigureAwait(false);
                var called = Stopwatch.GetTimestamp();
                run?.RunOnce();
                now = Stopwatch.GetTimestamp();
                if (!outcome.IsSuccess)
                {
                    errors++;
                }
                else if (start >= recordFrom)
                {
                    callTimes?.RecordValue(ToNanos(called - start));
                    runTimes?.RecordValue(ToNanos(now - called));
                    totalTimes?.RecordValue(ToNanos(now - start));
                }
            }
            while (now < end);
        }
    }

    private const int OrtSide = 0;
    private const int GatewaySide = 1;
    private const int TransportSide = 2;
    private const int OrtAfterTransportSide = 3;
    private const int SequenceSide = 4;

    private static LatencyHistogram[] NewHistograms() => [new(), new(), new(), new(), new()];

    private static long P50(LatencyHistogram histogram) => histogram.GetValueAtPercentile(50);

    private static long ToNanos(long ticks) => (long)(ticks * (1e9 / Stopwatch.Frequency));

    /// <summary>Writes <paramref name="result"/> as one JSON object.</summary>
    public static void WriteJson(Stream stream, SideBySideResult result, SideBySideOptions options)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(options);
        using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        writer.WriteStartObject();
        writer.WriteString("model", result.Model);
        writer.WriteString("target", result.Target);
        writer.WriteNumber("batch_size", options.BatchSize);
        writer.WriteNumber("intra_op_threads", options.IntraOpThreads);
        writer.WriteNumber("block_ms", options.Block.TotalMilliseconds);
        writer.WriteNumber("settle_ms", options.Settle.TotalMilliseconds);
        writer.WriteNumber("groups", options.Pairs);
        writer.WriteNumber("pairs", result.PairDifferencesMs.Count); // groups whose gateway and ORT blocks both recorded
        WriteSide(writer, "ort", result.Ort);
        WriteSide(writer, "gateway", result.Gateway);
        writer.WriteNumber("gateway_errors", result.GatewayErrors);
        WriteNumberOrNull(writer, "median_pair_difference_ms", result.MedianPairDifferenceMs);
        WriteNumberOrNull(writer, "pair_difference_p25_ms", result.PairDifferenceP25Ms);
        WriteNumberOrNull(writer, "pair_difference_p75_ms", result.PairDifferenceP75Ms);
        writer.WriteStartArray("pair_differences_ms");
        foreach (var difference in result.PairDifferencesMs)
        {
            writer.WriteNumberValue(Math.Round(difference, 4));
        }

        writer.WriteEndArray();
        if (result.Sequence is not null)
        {
            WriteSide(writer, "transport", result.Transport!);
            WriteSide(writer, "ort_after_transport", result.OrtAfterTransport!);
            WriteSide(writer, "sequence", result.Sequence);
            WriteNumberOrNull(writer, "median_sequence_difference_ms", result.MedianSequenceDifferenceMs);
            writer.WriteStartArray("sequence_differences_ms");
            foreach (var difference in result.SequenceDifferencesMs)
            {
                writer.WriteNumberValue(Math.Round(difference, 4));
            }

            writer.WriteEndArray();
        }

        writer.WriteEndObject();
    }

    // JSON has no NaN: a figure with no groups behind it is written as null.
    private static void WriteNumberOrNull(Utf8JsonWriter writer, string name, double value)
    {
        if (double.IsFinite(value))
        {
            writer.WriteNumber(name, value);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static void WriteSide(Utf8JsonWriter writer, string name, SideLatency side)
    {
        writer.WriteStartObject(name);
        writer.WriteNumber("count", side.Count);
        writer.WriteNumber("p50_ms", side.P50Ms);
        writer.WriteNumber("mean_ms", side.MeanMs);
        writer.WriteNumber("p90_ms", side.P90Ms);
        writer.WriteNumber("p99_ms", side.P99Ms);
        writer.WriteEndObject();
    }

    /// <summary>Lines for the terminal.</summary>
    public static string Describe(SideBySideResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var text = string.Create(
            CultureInfo.InvariantCulture,
            $"""
            {result.Model}: ORT alone p50 {result.Ort.P50Ms:F3} ms (mean {result.Ort.MeanMs:F3}, {result.Ort.Count} runs); gateway p50 {result.Gateway.P50Ms:F3} ms (mean {result.Gateway.MeanMs:F3}, {result.Gateway.Count} calls, {result.GatewayErrors} errors)
            gateway above ORT, per group of blocks: median {result.MedianPairDifferenceMs:F3} ms (quartiles {result.PairDifferenceP25Ms:F3} .. {result.PairDifferenceP75Ms:F3}) over {result.PairDifferencesMs.Count} groups
            """);
        if (result.Sequence is { } sequence)
        {
            text += string.Create(
                CultureInfo.InvariantCulture,
                $"""

                transport call then ORT: p50 {sequence.P50Ms:F3} ms (transport call {result.Transport!.P50Ms:F3}, ORT's run after it {result.OrtAfterTransport!.P50Ms:F3}); gateway above that sequence: median {result.MedianSequenceDifferenceMs:F3} ms
                """);
        }

        return text;
    }
}
