using System.Globalization;
using InferenceGateway.Core.Evaluation;
using InferenceGateway.Core.PredictionLog;

namespace InferenceGateway.Server.Cli;

/// <summary>
/// <c>evaluate</c>: reads a prediction log (the SQLite file of a data directory, or PostgreSQL) and prints, per model
/// version and arm (and shadow), the evaluation table and the comparisons; optionally writes the HTML report. Reads
/// the store directly, so it works while the gateway runs (SQLite's WAL lets it read beside the writer) or after.
/// </summary>
internal static class EvaluateCommand
{
    public const string Usage = """
        usage: InferenceGateway.Server evaluate [--model NAME] [--from TIME] [--to TIME] [--threshold T]
                                              [--data-directory DIR | --sqlite FILE | --postgres CONNECTION] [--report FILE.html]
          --model           logical model (default fraud)
          --from, --to      range of the predictions' request event times, [from, to): Unix ms or ISO-8601 (default unbounded)
          --threshold       decision threshold of precision, recall and agreement (default 0.5)
          --data-directory  the gateway's data directory, whose predictions.db is read (default data)
          --sqlite          a prediction log SQLite file; --postgres an Npgsql connection string instead
          --report          also write a self-contained HTML report (ROC and calibration plots, comparisons) to this file
        """;

    public static async Task<int> RunAsync(IEnumerable<string> args, TextWriter stdout, TextWriter stderr)
    {
        var line = new CommandLine(args, new HashSet<string>());
        var model = line.Get("model") ?? "fraud";
        var from = ParseTime(line, "from");
        var to = ParseTime(line, "to");
        var thresholdText = line.Get("threshold");
        var threshold = 0.5;
        if (thresholdText is not null && (!double.TryParse(thresholdText, NumberStyles.Float, CultureInfo.InvariantCulture, out threshold) || !(threshold is > 0 and < 1)))
        {
            line.Errors.Add($"--threshold '{thresholdText}' is not a number within (0, 1)");
        }

        var dataDirectory = line.Get("data-directory") ?? "data";
        var sqlite = line.Get("sqlite");
        var postgres = line.Get("postgres");
        var report = line.Get("report");
        line.RejectUnknown();
        if (sqlite is not null && postgres is not null)
        {
            line.Errors.Add("give --sqlite or --postgres, not both");
        }

        if (to != 0 && to <= from)
        {
            line.Errors.Add("--to must be after --from");
        }

        if (!line.ReportErrors(stderr, "evaluate", Usage))
        {
            return 2;
        }

        IPredictionSink sink;
        if (postgres is not null)
        {
            sink = new PostgresPredictionSink(postgres);
        }
        else
        {
            var path = sqlite ?? Path.Combine(dataDirectory, "predictions.db");
            if (!File.Exists(path))
            {
                await stderr.WriteLineAsync($"evaluate: no prediction log at {Path.GetFullPath(path)} (run the gateway with its default Gateway:PredictionLog:Sink Sqlite and that data directory first)").ConfigureAwait(false);
                return 1;
            }

            sink = new SqlitePredictionSink(path);
        }

        EvaluationReport result;
        await using (sink.ConfigureAwait(false))
        {
            try
            {
                result = await ModelEvaluator.EvaluateAsync(sink, model, from, to, threshold, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException or ArgumentException)
            {
                await stderr.WriteLineAsync($"evaluate: {sink.Description}: {ex.Message}").ConfigureAwait(false);
                return 1;
            }
        }

        await stdout.WriteAsync(EvaluationFormat.Table(result)).ConfigureAwait(false);
        if (report is not null)
        {
            await File.WriteAllTextAsync(report, EvaluationFormat.Html(result, DateTimeOffset.UtcNow)).ConfigureAwait(false);
            await stdout.WriteLineAsync($"report: {Path.GetFullPath(report)}").ConfigureAwait(false);
        }

        if (result.Groups.Count == 0)
        {
            await stderr.WriteLineAsync($"evaluate: no predictions of model '{model}' in that range").ConfigureAwait(false);
            return 1;
        }

        return 0;
    }

    /// <summary>Unix ms, or an ISO-8601 date or time (UTC unless it says otherwise); 0 when absent.</summary>
    private static long ParseTime(CommandLine line, string name)
    {
        var text = line.Get(name);
        if (text is null)
        {
            return 0;
        }

        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) && ms >= 0)
        {
            return ms;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
        {
            return time.ToUnixTimeMilliseconds();
        }

        line.Errors.Add($"--{name} '{text}' is neither Unix milliseconds nor an ISO-8601 time");
        return 0;
    }
}
