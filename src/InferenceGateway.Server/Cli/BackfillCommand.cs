using System.IO.Compression;
using InferenceGateway.Core.Features;
using InferenceGateway.Core.Models;
using InferenceGateway.Server.Hosting;

namespace InferenceGateway.Server.Cli;

/// <summary>
/// <c>backfill</c>: point-in-time features offline, through the very engine and plans the gateway serves with, so
/// training data and serving agree by construction.
/// </summary>
internal static class BackfillCommand
{
    public const string Usage = """
        usage: InferenceGateway.Server backfill --events FILE --output FILE (--model NAME [--version V] | --features A,B,...)
                                              [--queries FILE] [--stream NAME] [--feature-repository DIR] [--model-repository DIR]
          --events FILE        events CSV (.gz read as gzip): the stream's entity key and event-time columns and its fields
          --queries FILE       (entity, time[, request inputs]) CSV; without it each event row is queried, then ingested
                               ("Predict, then ingest"): on models/data/transactions.csv.gz with --model fraud --version 2
                               this writes models/data/features.csv.gz's values
          --output FILE        CSV to write (.gz written as gzip; - for stdout)
          --model, --version   take the feature names from the model version's config.json (default: its latest version)
          --features           or name them
          --stream             the events' stream (default: the repository's only stream)
        """;

    public static int Run(IEnumerable<string> args, TextWriter stdout, TextWriter stderr)
    {
        var line = new CommandLine(args, new HashSet<string>());
        var eventsPath = line.Require("events");
        var outputPath = line.Require("output");
        var queriesPath = line.Get("queries");
        var modelName = line.Get("model");
        var version = line.Get("version");
        var featureList = line.Get("features");
        var streamName = line.Get("stream");
        var featureRepository = GatewayHost.ResolveRepositoryPath(line.Get("feature-repository") ?? "features");
        var modelRepository = GatewayHost.ResolveRepositoryPath(line.Get("model-repository") ?? "models");
        line.RejectUnknown();
        if ((modelName is null) == (featureList is null))
        {
            line.Errors.Add("give either --model or --features");
        }

        if (!line.ReportErrors(stderr, "backfill", Usage))
        {
            return 2;
        }

        try
        {
            var definitions = FeatureRepository.LoadDirectory(featureRepository);
            IReadOnlyList<string> names = featureList is not null
                ? featureList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                : FeaturesOfModel(modelRepository, modelName!, version);
            streamName ??= definitions.Streams.Count == 1 ? definitions.Streams[0].Name : throw new ArgumentException("the feature repository has several streams: give --stream");

            // An engine of its own, without caps or a snapshot: an eviction in the middle would make later answers inexact.
            var engine = new FeatureEngine(definitions, new FeatureEngineOptions { MaxStateBytes = 0, MaxEventTimeAhead = Timeout.InfiniteTimeSpan, SnapshotPath = null });
            var backfill = new FeatureBackfill(engine, streamName);
            using var events = CommandLine.OpenText(eventsPath);
            using var output = OpenOutput(outputPath, stdout);
            var progress = new Progress<long>(rows => stderr.Write($"\rbackfill: {rows:N0} rows"));
            BackfillResult result;
            if (queriesPath is null)
            {
                result = backfill.Replay(events, output, names, progress);
            }
            else
            {
                using var queries = CommandLine.OpenText(queriesPath);
                result = backfill.Run(events, queries, output, names, progress);
            }

            output.Flush();
            stderr.WriteLine();
            stderr.WriteLine($"backfill: {result.Rows:N0} event rows ({result.Accepted:N0} applied, {result.DroppedLate:N0} late, {result.Rejected:N0} rejected{(result.FirstRejection is null ? "" : ": " + result.FirstRejection)}), "
                + $"{result.Queries:N0} feature rows written ({result.QueriesFailed:N0} failed{(result.FirstQueryError is null ? "" : ": " + result.FirstQueryError)}) in {result.Duration.TotalSeconds:F1} s");
            return result.QueriesFailed > 0 || result.Rejected > 0 ? 1 : 0;
        }
        catch (Exception ex) when (ex is FeatureDefinitionException or UnknownFeatureException or IOException or ArgumentException or ModelConfigException or UnauthorizedAccessException)
        {
            stderr.WriteLine("backfill: " + ex.Message);
            return 1;
        }
    }

    private static List<string> FeaturesOfModel(string repository, string model, string? version)
    {
        var config = ModelConfig.Load(Path.Combine(repository, model, "config.json"));
        var key = version ?? config.Versions.Keys.OrderBy(v => long.TryParse(v, out var n) ? n : long.MaxValue).Last();
        if (!config.Versions.TryGetValue(key, out var versionConfig))
        {
            throw new ArgumentException($"model '{model}' has no version '{key}' in its config.json");
        }

        return versionConfig.Features.Count > 0 ? versionConfig.Features : throw new ArgumentException($"model '{model}' version '{key}' lists no features");
    }

    private static TextWriter OpenOutput(string path, TextWriter stdout)
    {
        if (path == "-")
        {
            return TextWriter.Synchronized(stdout);
        }

        Stream stream = File.Create(path);
        if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
        {
            stream = new GZipStream(stream, CompressionLevel.Optimal);
        }

        return new StreamWriter(stream, new System.Text.UTF8Encoding(false), 1 << 16);
    }
}
