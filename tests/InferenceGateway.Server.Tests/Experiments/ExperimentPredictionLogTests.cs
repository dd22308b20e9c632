using System.Runtime.InteropServices;
using Grpc.Core;
using InferenceGateway.Contracts.Gateway;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Log = InferenceGateway.Core.PredictionLog.PredictionLog;

namespace InferenceGateway.Server.Tests.Experiments;

/// <summary>
/// Experiments recorded in the prediction log of a real gateway (its default SQLite sink): primaries with their arm,
/// every shadow result beside its primary, and Evaluate's arm and shadow groups over what was recorded.
/// </summary>
public sealed class ExperimentPredictionLogTests(ExperimentGatewayFixture gateway) : IClassFixture<ExperimentGatewayFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly Gateway.GatewayClient _client = new(gateway.Channel);

    private Log PredictionLog => gateway.App.Services.GetRequiredService<Log>();

    private sealed record Row(string Version, string Arm, bool Shadow, string EntityId, string[] FeatureNames, float[] Features, float[] Outputs, long EventTime, long Status, long TotalMicroseconds, byte[] Defaulted);

    /// <summary>The records of one request id once <paramref name="count"/> of them are stored, primaries first.</summary>
    private async Task<List<Row>> RowsAsync(string requestId, int count)
    {
        var until = DateTime.UtcNow + Timeout;
        while (true)
        {
            var rows = new List<Row>();
            await using (var connection = new SqliteConnection($"Data Source={Path.Combine(gateway.DataDirectory, "predictions.db")};Mode=ReadOnly"))
            {
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = """
                    SELECT p.version, p.arm, p.shadow, p.entity_id, f.names, p.features, p.outputs, p.event_time_ms, p.status, p.total_us, p.defaulted
                    FROM predictions p LEFT JOIN feature_sets f ON f.id = p.feature_set_id WHERE p.request_id = $id ORDER BY p.shadow, p.version
                    """;
                command.Parameters.AddWithValue("$id", requestId);
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    rows.Add(new Row(
                        reader.GetString(0), reader.GetString(1), reader.GetInt64(2) != 0, reader.GetString(3),
                        reader.IsDBNull(4) ? [] : System.Text.Json.JsonSerializer.Deserialize<string[]>(reader.GetString(4))!,
                        reader.IsDBNull(5) ? [] : MemoryMarshal.Cast<byte, float>((byte[])reader[5]).ToArray(),
                        reader.IsDBNull(6) ? [] : MemoryMarshal.Cast<byte, float>((byte[])reader[6]).ToArray(),
                        reader.GetInt64(7), reader.GetInt64(8), reader.GetInt64(9), reader.IsDBNull(10) ? [] : (byte[])reader[10]));
                }
            }

            if (rows.Count >= count)
            {
                return rows;
            }

            Assert.True(DateTime.UtcNow < until, $"{rows.Count} of {count} records of {requestId} stored: {PredictionLog.GetStatus()}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Predict_WithLocalShadow_PrimaryCarriesArmAndShadowItsOwnVersionFeaturesAndScores()
    {
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "fraud", """
            {"arms": [{"name": "control", "version": "1", "weight": 1}], "salt": "o", "shadows": [{"version": "2", "sample_rate": 1, "timeout_ms": 10000}]}
            """);
        try
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var request = GatewayPredictTests.Fraud("card-log", now, 99, 5, "m-9", version: "");
            request.RequestId = "log-" + Guid.NewGuid().ToString("N");
            var response = await _client.PredictAsync(request, deadline: DateTime.UtcNow + Timeout).ResponseAsync.WaitAsync(Timeout);

            var rows = await RowsAsync(request.RequestId, 2);
            var primary = rows[0];
            Assert.Equal(("1", "control", false, "card-log", now, 0L), (primary.Version, primary.Arm, primary.Shadow, primary.EntityId, primary.EventTime, primary.Status));
            Assert.Equal(["amount", "hour_of_day", "merchant_category"], primary.FeatureNames);
            Assert.Equal(response.Scores, primary.Outputs);
            var shadow = rows[1];
            Assert.Equal(("2", "control", true, "card-log", now, 0L), (shadow.Version, shadow.Arm, shadow.Shadow, shadow.EntityId, shadow.EventTime, shadow.Status));
            Assert.Equal(8, shadow.FeatureNames.Length);
            Assert.Equal(8, shadow.Features.Length);
            Assert.Equal(99f, shadow.Features[Array.IndexOf(shadow.FeatureNames, "amount")]);
            Assert.Equal(0, shadow.Defaulted[Array.IndexOf(shadow.FeatureNames, "amount")]); // given in the request
            Assert.Equal(8, shadow.Defaulted.Length);
            Assert.Single(shadow.Outputs);
            Assert.True(shadow.TotalMicroseconds > 0);
        }
        finally
        {
            await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Delete, "fraud");
        }
    }

    [Fact]
    public async Task Predict_PinnedVersion_RecordedAsPinned()
    {
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "fraud", """{"arms": [{"name": "control", "version": "1", "weight": 1}], "salt": "p"}""");
        try
        {
            var request = GatewayPredictTests.Fraud("card-pin", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 10, 1, "m-1", version: "2");
            request.RequestId = "pin-" + Guid.NewGuid().ToString("N");
            await _client.PredictAsync(request, deadline: DateTime.UtcNow + Timeout).ResponseAsync.WaitAsync(Timeout);
            var row = Assert.Single(await RowsAsync(request.RequestId, 1));
            Assert.Equal(("2", "pinned", false), (row.Version, row.Arm, row.Shadow));
        }
        finally
        {
            await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Delete, "fraud");
        }
    }

    [Fact]
    public async Task ModelInfer_WithRemoteAndLocalShadows_EachResultRecordedUnderThePrimarysIdAndArm()
    {
        await using var remote = await FakeOipServer.StartAsync();
        await using var failing = await FakeOipServer.StartAsync(FakeOipBehaviour.Fail);
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "twin", $$"""
            {"arms": [{"name": "b", "version": "2", "weight": 1}], "salt": "o", "shadows": [
              {"version": "1", "sample_rate": 1, "timeout_ms": 10000},
              {"endpoint": "{{remote.Endpoint}}", "version": "5", "sample_rate": 1},
              {"endpoint": "{{failing.Endpoint}}", "version": "6", "sample_rate": 1}]}
            """);
        try
        {
            var entity = "infer-" + Guid.NewGuid().ToString("N");
            var response = await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest(entity));
            Assert.Equal("b", ExperimentAdmin.Arm(response));

            var rows = await RowsAsync("req-" + entity, 4);
            Assert.Equal(4, rows.Count);
            var primary = rows[0];
            Assert.Equal(("2", "b", false, 0L), (primary.Version, primary.Arm, primary.Shadow, primary.Status));
            Assert.Equal([120f, 13f, 4f], primary.Features);
            var local = Assert.Single(rows, r => r.Shadow && r.Version == "1");
            Assert.Equal(("b", 0L), (local.Arm, local.Status));
            Assert.Equal([120f, 13f, 4f], local.Features); // the inputs its own version decoded
            Assert.Single(local.Outputs);
            var answered = Assert.Single(rows, r => r.Shadow && r.Version == $"{remote.Endpoint}/twin:5");
            Assert.Equal(("b", 0L), (answered.Arm, answered.Status));
            Assert.Equal([0.25f], answered.Outputs);
            var failed = Assert.Single(rows, r => r.Shadow && r.Version == $"{failing.Endpoint}/twin:6");
            Assert.Equal(("b", (long)StatusCode.Unavailable), (failed.Arm, failed.Status));
            Assert.Empty(failed.Outputs);
            Assert.True(failed.TotalMicroseconds > 0);
        }
        finally
        {
            await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Delete, "twin");
        }
    }

    [Fact]
    public async Task Evaluate_TwoArmsAndLocalShadow_GroupsMatchCountsAndAucsComputedFromTheAnswers()
    {
        // A time range of its own, so no other test's predictions fall in it.
        var from = 1_500_000_000_000 + (Random.Shared.Next(1, 1000) * 86_400_000L);
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "fraud", $$"""
            {"arms": [{"name": "control", "version": "1", "weight": 1}, {"name": "treatment", "version": "2", "weight": 1}],
             "salt": "eval-{{from}}", "shadows": [{"version": "2", "sample_rate": 1, "timeout_ms": 30000}]}
            """);
        try
        {
            const int Requests = 240;
            var answers = new List<(string Arm, float Score, double Label)>();
            var outcomes = new List<Outcome>();
            for (var chunk = 0; chunk < Requests; chunk += 40)
            {
                // Chunks well inside the shadow lane's queue (256): every copy is run, none dropped.
                var calls = new List<Task<PredictResponse>>();
                for (var i = chunk; i < chunk + 40; i++)
                {
                    var amount = 10 + (i % 60 * 37.0);
                    var request = GatewayPredictTests.Fraud($"eval-card-{from}-{i}", from + (i * 1000), amount, i % 10, $"m{i}", version: "");
                    request.RequestId = $"eval-{from}-{i}";
                    outcomes.Add(new Outcome { RequestId = request.RequestId, Label = amount > 1200 ? 1 : 0 });
                    calls.Add(_client.PredictAsync(request, deadline: DateTime.UtcNow + Timeout).ResponseAsync);
                }

                foreach (var (response, k) in (await Task.WhenAll(calls).WaitAsync(Timeout)).Select((r, k) => (r, k)))
                {
                    answers.Add((response.Arm, response.Scores[0], outcomes[chunk + k].Label));
                }
            }

            using (var report = _client.ReportOutcomes(deadline: DateTime.UtcNow + Timeout))
            {
                foreach (var outcome in outcomes)
                {
                    await report.RequestStream.WriteAsync(outcome);
                }

                await report.RequestStream.CompleteAsync();
                Assert.Equal(Requests, (await report.ResponseAsync.WaitAsync(Timeout)).Accepted);
            }

            // Every primary and every shadow copy recorded: one shadow record per primary, under its request id.
            var control = answers.Count(a => a.Arm == "control");
            Assert.InRange(control, 1, Requests - 1);
            EvaluateResponse evaluation;
            var until = DateTime.UtcNow + Timeout;
            while (true)
            {
                evaluation = await _client.EvaluateAsync(new EvaluateRequest { Model = "fraud", FromUnixMs = from, ToUnixMs = from + (Requests * 1000) }, deadline: DateTime.UtcNow + Timeout);
                if (evaluation.Results.Sum(r => r.Predictions) == 2 * Requests)
                {
                    break;
                }

                Assert.True(DateTime.UtcNow < until, $"{evaluation.Results.Sum(r => r.Predictions)} of {2 * Requests} records evaluated: {PredictionLog.GetStatus()}");
                await Task.Delay(100);
            }

            var groups = evaluation.Results.ToDictionary(r => (r.Version, r.Arm, r.Shadow));
            Assert.Equal(4, groups.Count);
            foreach (var (arm, version) in new[] { ("control", "1"), ("treatment", "2") })
            {
                var mine = answers.Where(a => a.Arm == arm).ToList();
                var group = groups[(version, arm, false)];
                Assert.Equal((mine.Count, mine.Count), (group.Predictions, group.Labelled));
                Assert.Equal(PairwiseAuc(mine), group.Auc, 9);
                Assert.True(group.AucLow <= group.Auc && group.Auc <= group.AucHigh);

                // The shadow (fraud v2) copied every request of this arm, its arm recorded.
                var shadow = groups[("2", arm, true)];
                Assert.Equal((mine.Count, mine.Count), (shadow.Predictions, shadow.Labelled));
                Assert.True(shadow.LatencyP50Ms > 0);
            }

            // On the treatment arm the shadow runs the same version on the same features: the same scores, the same AUC.
            Assert.Equal(groups[("2", "treatment", false)].Auc, groups[("2", "treatment", true)].Auc, 9);
        }
        finally
        {
            await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Delete, "fraud");
        }
    }

    /// <summary>ROC AUC as the share of (positive, negative) pairs ordered by score, ties counting half.</summary>
    private static double PairwiseAuc(List<(string Arm, float Score, double Label)> answers)
    {
        var positives = answers.Where(a => a.Label >= 0.5).Select(a => a.Score).ToList();
        var negatives = answers.Where(a => a.Label < 0.5).Select(a => a.Score).ToList();
        double wins = 0;
        foreach (var p in positives)
        {
            foreach (var n in negatives)
            {
                wins += p > n ? 1 : p == n ? 0.5 : 0;
            }
        }

        return wins / ((double)positives.Count * negatives.Count);
    }
}
