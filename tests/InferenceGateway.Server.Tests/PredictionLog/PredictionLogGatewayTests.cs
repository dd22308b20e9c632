using System.Globalization;
using Grpc.Core;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.Core.Evaluation;
using InferenceGateway.Server.Cli;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Log = InferenceGateway.Core.PredictionLog.PredictionLog;

namespace InferenceGateway.Server.Tests.PredictionLog;

/// <summary>The prediction log through a real gateway with its default sink: a SQLite file in the data directory.</summary>
public sealed class PredictionLogGatewayTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly Gateway.GatewayClient _client = new(gateway.Channel);

    private string DatabasePath => Path.Combine(gateway.DataDirectory, "predictions.db");

    private Log PredictionLog => gateway.App.Services.GetRequiredService<Log>();

    internal static async Task WaitWrittenAsync(Log log, long atLeast)
    {
        var until = DateTime.UtcNow + Timeout;
        while (log.GetStatus().Written < atLeast)
        {
            Assert.True(DateTime.UtcNow < until, $"only {log.GetStatus().Written} of {atLeast} records written: {log.GetStatus()}");
            await Task.Delay(20);
        }
    }

    private async Task WaitStoredAsync(string requestId)
    {
        var until = DateTime.UtcNow + Timeout;
        while (true)
        {
            await using (var connection = await OpenAsync())
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = "SELECT count(*) FROM predictions WHERE request_id = $id";
                command.Parameters.AddWithValue("$id", requestId);
                if ((long)(await command.ExecuteScalarAsync())! > 0)
                {
                    return;
                }
            }

            Assert.True(DateTime.UtcNow < until, $"no record of {requestId}: {PredictionLog.GetStatus()}");
            await Task.Delay(50);
        }
    }

    private async Task<SqliteConnection> OpenAsync()
    {
        var connection = new SqliteConnection($"Data Source={DatabasePath};Mode=ReadOnly");
        await connection.OpenAsync();
        return connection;
    }

    [Fact]
    public async Task Predict_FraudV2_RecordHoldsFeaturesAsUsedNamesDefaultedScoresAndLatency()
    {
        var id = "plog-" + Guid.NewGuid().ToString("N");
        var request = GatewayPredictTests.Fraud("card-" + id, 1_706_000_000_000, 123.5, 7, "m1");
        request.RequestId = id;
        var response = await _client.PredictAsync(request, deadline: DateTime.UtcNow + Timeout);
        await WaitStoredAsync(id);
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT p.event_time_ms, p.model, p.version, p.arm, p.shadow, p.entity_id, f.names, p.features, p.defaulted, p.outputs, p.rows,
                   p.queue_us, p.compute_us, p.total_us, p.status
            FROM predictions p JOIN feature_sets f ON f.id = p.feature_set_id WHERE p.request_id = $id
            """;
        command.Parameters.AddWithValue("$id", id);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), "no record for the request");
        Assert.Equal(1_706_000_000_000, reader.GetInt64(0));
        Assert.Equal(("fraud", "2", "", 0L, "card-" + id), (reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(4), reader.GetString(5)));
        var names = System.Text.Json.JsonSerializer.Deserialize<string[]>(reader.GetString(6))!;
        Assert.Equal(response.Features.Select(f => f.Name), names);
        var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>((byte[])reader[7]).ToArray();
        Assert.Equal(response.Features.Select(f => (float)f.Value), values);
        Assert.Equal(response.Features.Select(f => f.Defaulted ? (byte)1 : (byte)0), (byte[])reader[8]);
        Assert.Equal(response.Scores, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>((byte[])reader[9]).ToArray());
        Assert.Equal(1, reader.GetInt64(10));
        Assert.True(reader.GetInt64(13) >= reader.GetInt64(12) && reader.GetInt64(12) > 0, "total covers the run, and the run took time");
        Assert.Equal(0, reader.GetInt64(14));
    }

    [Fact]
    public async Task ModelInfer_FraudV1_RecordHoldsIdRowsNamedInputsAndOutputs()
    {
        var id = "infer-" + Guid.NewGuid().ToString("N");
        var invoker = gateway.Channel.CreateCallInvoker();
        var request = KServeTests.RawRequest("fraud", "1", "features", [2, 3], [10f, 3f, 5f, 900f, 2f, 7f]);
        request.Id = id;
        var response = await invoker.AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), request).ResponseAsync;
        await WaitStoredAsync(id);
        var until = DateTime.UtcNow + Timeout;
        while (true)
        {
            await using var connection = await OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT p.rows, p.features, p.outputs, f.names, p.inputs_omitted FROM predictions p LEFT JOIN feature_sets f ON f.id = p.feature_set_id WHERE p.request_id = $id";
            command.Parameters.AddWithValue("$id", id);
            await using var reader = await command.ExecuteReaderAsync();
            if (await reader.ReadAsync())
            {
                Assert.Equal(2, reader.GetInt64(0));
                Assert.Equal([10f, 3f, 5f, 900f, 2f, 7f], System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>((byte[])reader[1]).ToArray());
                Assert.Equal(2, ((byte[])reader[2]).Length / 4);
                Assert.Equal("[\"amount\",\"hour_of_day\",\"merchant_category\"]", reader.GetString(3));
                Assert.Equal(0, reader.GetInt64(4));
                Assert.Single(response.RawOutputContents);
                return;
            }

            Assert.True(DateTime.UtcNow < until, "no record of the ModelInfer call");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task ReportOutcomes_GoodAndBadOutcomes_CountsAndFirstOnesStored()
    {
        using var call = _client.ReportOutcomes(deadline: DateTime.UtcNow + Timeout);
        await call.RequestStream.WriteAsync(new Outcome { RequestId = "o-1", Label = 1, EventTimeUnixMs = 5 });
        await call.RequestStream.WriteAsync(new Outcome { RequestId = "o-2", Label = 0 });
        await call.RequestStream.WriteAsync(new Outcome { RequestId = "", Label = 1 });
        await call.RequestStream.WriteAsync(new Outcome { RequestId = "o-3", Label = 2 });
        await call.RequestStream.WriteAsync(new Outcome { RequestId = "o-4", Label = double.NaN });
        await call.RequestStream.WriteAsync(new Outcome { RequestId = "o-5", Label = 1, EventTimeUnixMs = -1 });
        await call.RequestStream.CompleteAsync();
        var summary = await call.ResponseAsync.WaitAsync(Timeout);
        Assert.Equal((2, 4), (summary.Accepted, summary.Rejected));
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM outcomes WHERE request_id IN ('o-1', 'o-2')";
        Assert.Equal(2L, (long)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task Evaluate_TwoVersionsWithOutcomes_GrpcCommandAndReportAgree()
    {
        // A model of its own (fraud under a fresh time range): 300 predictions per version, labels from a rule v2 sees.
        var from = 1_600_000_000_000 + (Random.Shared.Next(1, 1000) * 86_400_000L);
        var outcomes = new List<Outcome>();
        var tasks = new List<Task>();
        for (var i = 0; i < 600; i++)
        {
            var version = i % 2 == 0 ? "1" : "2";
            var amount = 10 + (i % 50 * 40.0);
            var request = GatewayPredictTests.Fraud($"eval-card-{i}", from + (i * 1000), amount, i % 10, $"m{i}", version);
            request.RequestId = $"eval-{from}-{i}";
            outcomes.Add(new Outcome { RequestId = request.RequestId, Label = amount > 1500 ? 1 : 0 });
            tasks.Add(_client.PredictAsync(request, deadline: DateTime.UtcNow + Timeout).ResponseAsync);
        }

        await Task.WhenAll(tasks).WaitAsync(Timeout);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var imported = Path.Combine(gateway.DataDirectory, "outcomes.csv");
        await File.WriteAllLinesAsync(imported, ["request_id,label", .. outcomes.Select(o => $"{o.RequestId},{o.Label.ToString(CultureInfo.InvariantCulture)}")]);
        Assert.Equal(0, await ImportOutcomesCommand.RunAsync(["--file", imported, "--target", $"http://127.0.0.1:{gateway.GrpcPort}"], stdout, stderr).WaitAsync(Timeout));
        Assert.Contains("600 outcomes stored, 0 rejected", stdout.ToString(), StringComparison.Ordinal);
        await WaitWrittenAsync(PredictionLog, 600);

        // Wait for what the test needs, all 600 predictions of this window stored, rather than sleeping a flush
        // interval (1.5 s) and hoping: the fixture's Written count includes other tests' records, so it can reach 600
        // before these are written, and a loaded host can take longer than the sleep.
        var to = from + 600_000;
        EvaluateResponse response = null!;
        var until = DateTime.UtcNow + Timeout;
        while (true)
        {
            response = await _client.EvaluateAsync(new EvaluateRequest { Model = "fraud", FromUnixMs = from, ToUnixMs = to }, deadline: DateTime.UtcNow + Timeout);
            if (response.Results.Sum(r => r.Predictions) >= 600 || DateTime.UtcNow > until)
            {
                break;
            }

            await Task.Delay(50);
        }

        Assert.Equal(["1", "2"], response.Results.Select(r => r.Version));
        Assert.All(response.Results, r => Assert.Equal((300, 300), (r.Predictions, r.Labelled)));
        Assert.All(response.Results, r => Assert.True(r.AucLow <= r.Auc && r.Auc <= r.AucHigh));

        var report = Path.Combine(gateway.DataDirectory, "report.html");
        stdout = new StringWriter();
        var code = await EvaluateCommand.RunAsync(
            ["--data-directory", gateway.DataDirectory, "--from", from.ToString(CultureInfo.InvariantCulture), "--to", to.ToString(CultureInfo.InvariantCulture), "--report", report],
            stdout, stderr).WaitAsync(Timeout);
        Assert.True(code == 0, stdout + stderr.ToString());
        var table = stdout.ToString();
        foreach (var result in response.Results)
        {
            Assert.Contains(result.Auc.ToString("F4", CultureInfo.InvariantCulture), table, StringComparison.Ordinal);
        }

        Assert.Contains("v2 vs v1: AUC difference", table, StringComparison.Ordinal);
        var html = await File.ReadAllTextAsync(report);
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Evaluate_BadRequests_InvalidArgumentNamingTheField()
    {
        var empty = await Assert.ThrowsAsync<RpcException>(() => _client.EvaluateAsync(new EvaluateRequest(), deadline: DateTime.UtcNow + Timeout).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.Contains("model", empty.Status.Detail, StringComparison.Ordinal);
        var range = await Assert.ThrowsAsync<RpcException>(() => _client.EvaluateAsync(new EvaluateRequest { Model = "fraud", FromUnixMs = 10, ToUnixMs = 5 }, deadline: DateTime.UtcNow + Timeout).ResponseAsync);
        Assert.Contains("to_unix_ms", range.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Readyz_LogUp_ReadyWithThePredictionLogDetail()
    {
        var body = await gateway.Admin.GetStringAsync("/readyz");
        Assert.StartsWith("ready\n", body, StringComparison.Ordinal);
        Assert.Contains($"prediction-log: sqlite {DatabasePath}", body, StringComparison.Ordinal);
        var metrics = await gateway.Admin.GetStringAsync("/metrics");
        Assert.Contains("prediction_log_buffered", metrics, StringComparison.Ordinal);
        Assert.Contains("prediction_log_sink_up", metrics, StringComparison.Ordinal);
    }
}
