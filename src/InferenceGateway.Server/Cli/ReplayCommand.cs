using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Contracts.Gateway;

namespace InferenceGateway.Server.Cli;

/// <summary>
/// <c>replay</c>: streams a labelled events file through a running gateway in event-time order as "Predict, then
/// ingest", and reports throughput and the AUC of the scores it got (over all rows and over the held-out days).
/// </summary>
/// <remarks>
/// Rows go in chunks no wider in event time than the stream's allowed lateness; inside a chunk each entity's rows keep
/// their order (round r predicts every entity's r-th row at once, then ingests those events in one acknowledged call),
/// so every Predict sees exactly the events before it on its entity, as a strictly sequential replay would, while
/// different entities run concurrently.
/// </remarks>
internal static class ReplayCommand
{
    /// <summary>2024-01-25T00:00:00Z: the bundled data's held-out days start here (models/generate.py, TRAIN_FRACTION).</summary>
    public const long BundledHoldoutFrom = 1_706_140_800_000;

    public const string Usage = """
        usage: InferenceGateway.Server replay [--target URL] [--file FILE] [--model NAME] [--version V] [--stream NAME]
                                            [--entity COL] [--time COL] [--label COL] [--limit N] [--holdout-from MS]
                                            [--chunk-ms MS] [--concurrency N] [--versions V1,V2] [--report-outcomes] [--quiet]
          --target        the gateway's gRPC address (default http://127.0.0.1:50051); several, comma-separated: replicas
                          taken round robin (Predicts in turn, each round's ingest call on the next one)
          --file          labelled events, CSV or .gz (default models/data/transactions.csv.gz)
          --model         logical model scored (default fraud); --version pins one (default: the gateway's choice)
          --stream        stream the events are ingested into (default transactions)
          --entity, --time, --label   column names (default card_id, event_time_unix_ms, label); other columns are sent
                          as request features and event numbers when numeric, as attributes and event strings otherwise
          --holdout-from  AUC is also reported over rows at or after this Unix ms (default 1706140800000, the bundled
                          data's held-out days)
          --chunk-ms      widest event-time span replayed concurrently (default 240000: under the bundled stream's 5 m lateness)
          --versions      pin each entity to one of these versions by a stable hash of its id (a client-side A/B split)
          --report-outcomes  after the replay, report each row's label as the outcome of its prediction (ReportOutcomes),
                          so the gateway's prediction log can be evaluated (`evaluate`)
        """;

    public static async Task<int> RunAsync(IEnumerable<string> args, TextWriter stdout, TextWriter stderr)
    {
        var line = new CommandLine(args, new HashSet<string> { "quiet", "report-outcomes" });
        var target = line.Get("target") ?? "http://127.0.0.1:50051";
        var file = line.Get("file") ?? Hosting.GatewayHost.ResolveRepositoryPath(Path.Combine("models", "data", "transactions.csv.gz"));
        var model = line.Get("model") ?? "fraud";
        var version = line.Get("version") ?? "";
        var stream = line.Get("stream") ?? "transactions";
        var entityColumn = line.Get("entity") ?? "card_id";
        var timeColumn = line.Get("time") ?? "event_time_unix_ms";
        var labelColumn = line.Get("label") ?? "label";
        var limit = line.GetInt64("limit", long.MaxValue);
        var holdoutFrom = line.GetInt64("holdout-from", BundledHoldoutFrom);
        var chunkMs = line.GetInt64("chunk-ms", 240_000);
        var concurrency = (int)Math.Clamp(line.GetInt64("concurrency", 64), 1, 4096);
        var quiet = line.Has("quiet");
        var reportOutcomes = line.Has("report-outcomes");
        var split = line.Get("versions") is { } versionList ? versionList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
        if (split.Length > 0 && version.Length > 0)
        {
            line.Errors.Add("give --version or --versions, not both");
        }

        line.RejectUnknown();
        if (!line.ReportErrors(stderr, "replay", Usage))
        {
            return 2;
        }

        List<Row> rows;
        try
        {
            rows = Read(file, entityColumn, timeColumn, labelColumn, limit);
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"replay: {file}: {ex.Message}").ConfigureAwait(false);
            return 1;
        }

        var channels = target.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(t => GrpcChannel.ForAddress(t)).ToArray();
        using var disposeChannels = new ChannelsDisposer(channels);
        var clients = Array.ConvertAll(channels, c => new Gateway.GatewayClient(c));
        var client = clients[0];
        var ingestCalls = 0;
        var scores = new float[rows.Count];
        var requestIds = new string[rows.Count];
        var versions = new System.Collections.Concurrent.ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        long accepted = 0, late = 0, rejected = 0;
        string? firstRejection = null;
        var started = Stopwatch.GetTimestamp();
        var lastProgress = 0L;
        try
        {
            for (var chunkStart = 0; chunkStart < rows.Count;)
            {
                var chunkEnd = chunkStart;
                while (chunkEnd < rows.Count && rows[chunkEnd].Time - rows[chunkStart].Time <= chunkMs)
                {
                    chunkEnd++;
                }

                foreach (var round in Rounds(rows, chunkStart, chunkEnd))
                {
                    await Parallel.ForEachAsync(round, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (index, token) =>
                    {
                        var pinned = split.Length > 0 ? split[StableHash(rows[index].Entity) % (uint)split.Length] : version;
                        var response = await clients[index % clients.Length].PredictAsync(rows[index].ToPredict(model, pinned), deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: token).ConfigureAwait(false);
                        scores[index] = response.Scores.Count > 0 ? response.Scores[0] : float.NaN;
                        requestIds[index] = response.RequestId;
                        versions.AddOrUpdate(response.Version, 1, static (_, n) => n + 1);
                    }).ConfigureAwait(false);

                    using var ingest = clients[ingestCalls++ % clients.Length].IngestEvents(deadline: DateTime.UtcNow.AddSeconds(60));
                    foreach (var index in round)
                    {
                        await ingest.RequestStream.WriteAsync(rows[index].ToEvent(stream)).ConfigureAwait(false);
                    }

                    await ingest.RequestStream.CompleteAsync().ConfigureAwait(false);
                    var summary = await ingest.ResponseAsync.ConfigureAwait(false);
                    accepted += summary.Accepted;
                    late += summary.DroppedLate;
                    rejected += summary.Rejected;
                    firstRejection ??= summary.Rejected > 0 ? summary.FirstRejection : null;
                }

                chunkStart = chunkEnd;
                if (!quiet && Stopwatch.GetElapsedTime(lastProgress).TotalMilliseconds >= 500)
                {
                    lastProgress = Stopwatch.GetTimestamp();
                    await stderr.WriteAsync(ProgressLine(chunkStart, rows.Count, Stopwatch.GetElapsedTime(started))).ConfigureAwait(false);
                }
            }
        }
        catch (RpcException ex)
        {
            await stderr.WriteLineAsync($"{Environment.NewLine}replay: the gateway at {target} answered {ex.StatusCode}: {ex.Status.Detail}").ConfigureAwait(false);
            return 1;
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        if (!quiet)
        {
            await stderr.WriteLineAsync(ProgressLine(rows.Count, rows.Count, elapsed)).ConfigureAwait(false);
        }

        OutcomeSummary? outcomes = null;
        if (reportOutcomes)
        {
            // The labels arrive after every prediction, as real outcomes do; evaluation joins them by request id.
            var list = new List<Outcome>(rows.Count);
            for (var i = 0; i < rows.Count; i++)
            {
                list.Add(new Outcome { RequestId = requestIds[i], Label = rows[i].Label ? 1 : 0, EventTimeUnixMs = rows[i].Time });
            }

            try
            {
                outcomes = await ImportOutcomesCommand.ReportAsync(client, list, CancellationToken.None).ConfigureAwait(false);
            }
            catch (RpcException ex)
            {
                await stderr.WriteLineAsync($"replay: reporting outcomes, the gateway at {target} answered {ex.StatusCode}: {ex.Status.Detail}").ConfigureAwait(false);
                return 1;
            }
        }

        var all = Auc(rows, scores, _ => true);
        var heldOut = Auc(rows, scores, r => r.Time >= holdoutFrom);
        var servedBy = string.Join(", ", versions.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{model} v{v.Key} {v.Value:N0}"));
        await stdout.WriteLineAsync($"replay: {rows.Count:N0} rows in {elapsed.TotalSeconds:F1} s ({rows.Count / elapsed.TotalSeconds:N0} rows/s: a Predict and an ingested event each); served by {servedBy}").ConfigureAwait(false);
        await stdout.WriteLineAsync($"replay: events {accepted:N0} applied, {late:N0} late, {rejected:N0} rejected{(firstRejection is null ? "" : " (first: " + firstRejection + ")")}").ConfigureAwait(false);
        await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"replay: AUC {Format(all.Auc)} over all {all.Rows:N0} rows ({all.Positives:N0} positive); held-out AUC {Format(heldOut.Auc)} over {heldOut.Rows:N0} rows from {DateTimeOffset.FromUnixTimeMilliseconds(holdoutFrom):yyyy-MM-ddTHH:mm:ssZ} ({heldOut.Positives:N0} positive)")).ConfigureAwait(false);
        if (outcomes is not null)
        {
            await stdout.WriteLineAsync($"replay: outcomes {outcomes.Accepted:N0} stored, {outcomes.Rejected:N0} rejected (evaluate the prediction log with `evaluate`)").ConfigureAwait(false);
        }

        if (late > 0)
        {
            await stdout.WriteLineAsync("replay: some events were late: the gateway already held newer events of this stream (replay into a fresh state, e.g. a new data directory), so its scores are not the held-out figures").ConfigureAwait(false);
        }

        return late > 0 || rejected > 0 || outcomes?.Rejected > 0 ? 1 : 0;
    }

    /// <summary>FNV-1a over the id's UTF-16 code units: the same split on every run and machine (string hashes are randomized).</summary>
    internal static uint StableHash(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }

    private static string Format(double auc) => double.IsNaN(auc) ? "n/a" : auc.ToString("F4", CultureInfo.InvariantCulture);

    private static string ProgressLine(int done, int total, TimeSpan elapsed)
    {
        const int Width = 30;
        var filled = total == 0 ? Width : (int)((long)done * Width / total);
        return $"\r[{new string('#', filled)}{new string('.', Width - filled)}] {done:N0}/{total:N0} rows, {done / Math.Max(elapsed.TotalSeconds, 0.001):N0} rows/s";
    }

    /// <summary>Round r holds every entity's r-th row of the chunk (rows of one entity stay in file order).</summary>
    private static List<List<int>> Rounds(List<Row> rows, int start, int end)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var rounds = new List<List<int>>();
        for (var i = start; i < end; i++)
        {
            seen.TryGetValue(rows[i].Entity, out var round);
            seen[rows[i].Entity] = round + 1;
            if (round == rounds.Count)
            {
                rounds.Add([]);
            }

            rounds[round].Add(i);
        }

        return rounds;
    }

    /// <summary>Area under the ROC curve (Mann-Whitney, ties counted half), over the rows <paramref name="include"/> keeps.</summary>
    internal static (double Auc, long Rows, long Positives) Auc(List<Row> rows, float[] scores, Func<Row, bool> include)
    {
        var picked = new List<(float Score, bool Positive)>();
        for (var i = 0; i < rows.Count; i++)
        {
            if (include(rows[i]) && !float.IsNaN(scores[i]))
            {
                picked.Add((scores[i], rows[i].Label));
            }
        }

        picked.Sort(static (a, b) => a.Score.CompareTo(b.Score));
        long positives = 0;
        double rankSum = 0;
        for (var i = 0; i < picked.Count;)
        {
            var j = i;
            while (j < picked.Count && picked[j].Score == picked[i].Score)
            {
                j++;
            }

            var averageRank = ((i + 1) + j) / 2.0;
            for (var k = i; k < j; k++)
            {
                if (picked[k].Positive)
                {
                    positives++;
                    rankSum += averageRank;
                }
            }

            i = j;
        }

        var negatives = picked.Count - positives;
        var auc = positives == 0 || negatives == 0 ? double.NaN : (rankSum - (positives * (positives + 1) / 2.0)) / (positives * (double)negatives);
        return (auc, picked.Count, positives);
    }

    private static List<Row> Read(string file, string entityColumn, string timeColumn, string labelColumn, long limit)
    {
        using var reader = CommandLine.OpenText(file);
        var header = (reader.ReadLine() ?? throw new FormatException("the file is empty")).Split(',');
        var entity = Array.IndexOf(header, entityColumn);
        var time = Array.IndexOf(header, timeColumn);
        var label = Array.IndexOf(header, labelColumn);
        if (entity < 0 || time < 0 || label < 0)
        {
            throw new FormatException($"the header must name the columns {entityColumn}, {timeColumn} and {labelColumn}; it is: {string.Join(',', header)}");
        }

        var rows = new List<Row>();
        string? text;
        while (rows.Count < limit && (text = reader.ReadLine()) is not null)
        {
            var fields = text.Split(',');
            if (fields.Length != header.Length)
            {
                throw new FormatException($"line {rows.Count + 2} has {fields.Length} fields, the header {header.Length}");
            }

            var row = new Row(
                fields[entity],
                long.Parse(fields[time], CultureInfo.InvariantCulture),
                fields[label] is "1" or "true");
            for (var c = 0; c < fields.Length; c++)
            {
                if (c == entity || c == time || c == label)
                {
                    continue;
                }

                if (double.TryParse(fields[c], NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
                {
                    row.Numbers[header[c]] = number;
                }
                else
                {
                    row.Strings[header[c]] = fields[c];
                }
            }

            rows.Add(row);
        }

        return rows;
    }

    private sealed class ChannelsDisposer(GrpcChannel[] channels) : IDisposable
    {
        public void Dispose()
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }
    }

    internal sealed record Row(string Entity, long Time, bool Label)
    {
        public Dictionary<string, double> Numbers { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, string> Strings { get; } = new(StringComparer.Ordinal);

        public PredictRequest ToPredict(string model, string version)
        {
            var request = new PredictRequest { Model = model, Version = version, EntityId = Entity, EventTimeUnixMs = Time };
            request.Features.Add(Numbers);
            request.Attributes.Add(Strings);
            return request;
        }

        public Event ToEvent(string stream)
        {
            var e = new Event { Stream = stream, EntityId = Entity, EventTimeUnixMs = Time };
            e.Numbers.Add(Numbers);
            e.Strings.Add(Strings);
            return e;
        }
    }
}
