using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Contracts.Gateway;

namespace InferenceGateway.Server.Cli;

/// <summary>
/// <c>import-outcomes</c>: streams outcomes from a CSV file (request id, label, optional event time) to a running
/// gateway's ReportOutcomes, in calls of a bounded size, and prints what was stored and rejected. Outcomes may come
/// before or long after their predictions: they are joined by request id when a model is evaluated.
/// </summary>
internal static class ImportOutcomesCommand
{
    public const string Usage = """
        usage: InferenceGateway.Server import-outcomes --file FILE [--target URL] [--id COL] [--label COL] [--time COL]
          --file    CSV with a header (or .gz); one outcome per line
          --target  the gateway's gRPC address (default http://127.0.0.1:50051)
          --id, --label, --time   column names (default request_id, label, event_time_unix_ms; the time column is optional)
        """;

    /// <summary>Outcomes per ReportOutcomes call: a failed call is resent whole (storing an outcome twice is harmless).</summary>
    internal const int PerCall = 10_000;

    public static async Task<int> RunAsync(IEnumerable<string> args, TextWriter stdout, TextWriter stderr)
    {
        var line = new CommandLine(args, new HashSet<string>());
        var file = line.Require("file");
        var target = line.Get("target") ?? "http://127.0.0.1:50051";
        var idColumn = line.Get("id") ?? "request_id";
        var labelColumn = line.Get("label") ?? "label";
        var timeColumn = line.Get("time") ?? "event_time_unix_ms";
        line.RejectUnknown();
        if (!line.ReportErrors(stderr, "import-outcomes", Usage))
        {
            return 2;
        }

        List<Outcome> outcomes;
        try
        {
            outcomes = Read(file, idColumn, labelColumn, timeColumn);
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"import-outcomes: {file}: {ex.Message}").ConfigureAwait(false);
            return 1;
        }

        var started = Stopwatch.GetTimestamp();
        using var channel = GrpcChannel.ForAddress(target);
        OutcomeSummary summary;
        try
        {
            summary = await ReportAsync(new Gateway.GatewayClient(channel), outcomes, CancellationToken.None).ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            await stderr.WriteLineAsync($"import-outcomes: the gateway at {target} answered {ex.StatusCode}: {ex.Status.Detail}").ConfigureAwait(false);
            return 1;
        }

        await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"import-outcomes: {summary.Accepted:N0} outcomes stored, {summary.Rejected:N0} rejected, in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s")).ConfigureAwait(false);
        return summary.Rejected > 0 ? 1 : 0;
    }

    /// <summary>Sends outcomes through ReportOutcomes, <see cref="PerCall"/> per call, and adds up the answers.</summary>
    internal static async Task<OutcomeSummary> ReportAsync(Gateway.GatewayClient client, IReadOnlyList<Outcome> outcomes, CancellationToken cancellationToken)
    {
        var total = new OutcomeSummary();
        for (var start = 0; start < outcomes.Count; start += PerCall)
        {
            using var call = client.ReportOutcomes(deadline: DateTime.UtcNow.AddMinutes(5), cancellationToken: cancellationToken);
            for (var i = start; i < Math.Min(outcomes.Count, start + PerCall); i++)
            {
                await call.RequestStream.WriteAsync(outcomes[i], cancellationToken).ConfigureAwait(false);
            }

            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            var summary = await call.ResponseAsync.ConfigureAwait(false);
            total.Accepted += summary.Accepted;
            total.Rejected += summary.Rejected;
        }

        return total;
    }

    private static List<Outcome> Read(string file, string idColumn, string labelColumn, string timeColumn)
    {
        using var reader = CommandLine.OpenText(file);
        var header = (reader.ReadLine() ?? throw new FormatException("the file is empty")).Split(',');
        var id = Array.IndexOf(header, idColumn);
        var label = Array.IndexOf(header, labelColumn);
        var time = Array.IndexOf(header, timeColumn);
        if (id < 0 || label < 0)
        {
            throw new FormatException($"the header must name the columns {idColumn} and {labelColumn}; it is: {string.Join(',', header)}");
        }

        var outcomes = new List<Outcome>();
        string? text;
        while ((text = reader.ReadLine()) is not null)
        {
            if (text.Length == 0)
            {
                continue;
            }

            var fields = text.Split(',');
            if (fields.Length != header.Length)
            {
                throw new FormatException($"line {outcomes.Count + 2} has {fields.Length} fields, the header {header.Length}");
            }

            var outcome = new Outcome { RequestId = fields[id] };
            outcome.Label = fields[label] switch
            {
                "true" => 1,
                "false" => 0,
                var value => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) ? number : double.NaN,
            };
            if (time >= 0 && long.TryParse(fields[time], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms))
            {
                outcome.EventTimeUnixMs = ms;
            }

            outcomes.Add(outcome);
        }

        return outcomes;
    }
}
