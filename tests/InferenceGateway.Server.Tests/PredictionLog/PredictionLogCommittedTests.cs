using Microsoft.Data.Sqlite;

namespace InferenceGateway.Server.Tests.PredictionLog;

/// <summary>Gateway:PredictionLog:Acknowledge=Committed through a real gateway and its SQLite file.</summary>
public sealed class PredictionLogCommittedTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Predict_AcknowledgeCommitted_EveryAnsweredRequestIsInTheSqliteFileWhenItsAnswerArrives()
    {
        // A flush interval of 10 minutes: a record in the file right after its answer is there because the answer waited for it.
        await using var gateway = await OwnGateway.StartAsync("--Gateway:PredictionLog:Acknowledge=Committed", "--Gateway:PredictionLog:FlushInterval=00:10:00");
        var database = $"Data Source={Path.Combine(gateway.DataDirectory, "predictions.db")};Mode=ReadOnly;Pooling=False";
        for (var i = 0; i < 20; i++)
        {
            var request = GatewayPredictTests.Fraud($"card-{i}", 1_706_000_000_000 + i, 50 + i, i % 10, "m1");
            request.RequestId = $"committed-{i}-{Guid.NewGuid():N}";
            var response = await gateway.Client.PredictAsync(request, deadline: DateTime.UtcNow + Timeout);
            Assert.Equal(request.RequestId, response.RequestId);

            await using var connection = new SqliteConnection(database);
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT count(*) FROM predictions WHERE request_id = $id AND status = 0";
            command.Parameters.AddWithValue("$id", request.RequestId);
            Assert.Equal(1L, (long)(await command.ExecuteScalarAsync())!);
        }

        Assert.Equal(0, gateway.Log.GetStatus().Buffered);
    }
}
