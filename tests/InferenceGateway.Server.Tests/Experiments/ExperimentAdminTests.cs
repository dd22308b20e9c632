using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace InferenceGateway.Server.Tests.Experiments;

/// <summary>The contract of /admin/experiments/{model} on a real gateway, and the experiments file it keeps.</summary>
public sealed class ExperimentAdminTests(ExperimentGatewayFixture gateway) : IClassFixture<ExperimentGatewayFixture>
{
    private const string Contract = """
        {"arms": [{"name": "control", "version": "1", "weight": 90}, {"name": "treatment", "version": "2", "weight": 10}],
         "sticky_key": "entity_id", "salt": "fraud-2026-12",
         "shadows": [{"version": "2", "sample_rate": 1.0}, {"endpoint": "http://127.0.0.1:50061", "model": "fraud", "version": "3", "sample_rate": 0.1, "timeout_ms": 500}]}
        """;

    [Fact]
    public async Task Put_ContractExample_200WithStoredExperimentThenGetAndDelete()
    {
        var (status, body) = await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Put, "fraud", Contract);

        Assert.True(status == HttpStatusCode.OK, body);
        var stored = JsonNode.Parse(body)!;
        Assert.Equal("control", (string?)stored["arms"]![0]!["name"]);
        Assert.Equal(90, (double)stored["arms"]![0]!["weight"]!);
        Assert.Equal("entity_id", (string?)stored["sticky_key"]);
        Assert.Equal("fraud-2026-12", (string?)stored["salt"]);
        Assert.Equal(1000, (int)stored["shadows"]![0]!["timeout_ms"]!); // the default filled in
        Assert.Equal("http://127.0.0.1:50061", (string?)stored["shadows"]![1]!["endpoint"]);
        Assert.Equal(0.1, (double)stored["shadows"]![1]!["sample_rate"]!);

        var get = await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Get, "fraud");
        Assert.Equal(HttpStatusCode.OK, get.Status);
        Assert.Equal(body, get.Body);
        Assert.True(JsonNode.DeepEquals(stored, JsonNode.Parse(File.ReadAllText(gateway.ExperimentsFile))!["fraud"]));

        var delete = await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Delete, "fraud");
        Assert.Equal(HttpStatusCode.NoContent, delete.Status);
        Assert.Equal(HttpStatusCode.NotFound, (await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Get, "fraud")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Delete, "fraud")).Status);
        Assert.Null(JsonNode.Parse(File.ReadAllText(gateway.ExperimentsFile))!["fraud"]);
    }

    [Fact]
    public async Task Put_InvalidExperiment_400WithEveryReasonAndTheOldOneKeepsServing()
    {
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "twin", """{"arms": [{"name": "a", "version": "2", "weight": 1}], "salt": "s"}""");

        var (status, body) = await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Put, "twin", """
            {"arms": [{"name": "a", "version": "9", "weight": 1}, {"name": "b", "version": "1", "weight": 0}],
             "salt": "s", "shadows": [{"endpoint": "not a url", "sample_rate": 1}]}
            """);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var errors = JsonNode.Parse(body)!["errors"]!.AsArray().Select(e => (string)e!).ToArray();
        Assert.Contains(errors, e => e.Contains("arms[0].version '9' is not a served version", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("arms[1].weight 0 must be positive", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("shadows[0].endpoint 'not a url'", StringComparison.Ordinal));

        var response = await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest("card-1"));
        Assert.Equal("a", ExperimentAdmin.Arm(response));
        Assert.Equal("2", response.ModelVersion);
        Assert.Contains("\"version\": \"2\"", (await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Get, "twin")).Body);

        var malformed = await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Put, "twin", """{"arms": [], "salt": "s", "typo": 1}""");
        Assert.Equal(HttpStatusCode.BadRequest, malformed.Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await ExperimentAdmin.SendAsync(gateway.Admin, HttpMethod.Put, "nope", """{"arms": [{"name": "a", "version": "1", "weight": 1}], "salt": "s"}""")).Status);
    }

    [Theory]
    [InlineData("PUT")]
    [InlineData("GET")]
    [InlineData("DELETE")]
    public async Task AdminExperiments_MissingOrWrongToken_Unauthorized(string method)
    {
        var json = method == "PUT" ? """{"arms": [{"name": "a", "version": "1", "weight": 1}], "salt": "s"}""" : null;
        var missing = await ExperimentAdmin.SendAsync(gateway.Admin, new HttpMethod(method), "twin", json, token: null);
        var wrong = await ExperimentAdmin.SendAsync(gateway.Admin, new HttpMethod(method), "twin", json, token: ExperimentGatewayFixture.Token + "x");
        Assert.Equal(HttpStatusCode.Unauthorized, missing.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
    }

    [Fact]
    public async Task ExperimentsFile_Edited_AppliesWithoutRestartAndAnInvalidEditKeepsTheLastGood()
    {
        await ExperimentAdmin.PutOkAsync(gateway.Admin, "twin", """{"arms": [{"name": "a", "version": "1", "weight": 1}], "salt": "s"}""");
        var file = JsonNode.Parse(File.ReadAllText(gateway.ExperimentsFile))!.AsObject();
        file["twin"] = JsonNode.Parse("""{"arms": [{"name": "edited", "version": "2", "weight": 1}], "salt": "s"}""");
        File.WriteAllText(gateway.ExperimentsFile, file.ToJsonString());

        await Eventually(async () => ExperimentAdmin.Arm(await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest("card-2"))) == "edited", "the edit applies");

        file["twin"] = JsonNode.Parse("""{"arms": [{"name": "broken", "version": "42", "weight": 1}], "salt": "s"}""");
        File.WriteAllText(gateway.ExperimentsFile, file.ToJsonString());
        await ExperimentAdmin.WaitForAsync(gateway.Admin, s => ExperimentAdmin.Sum(s, "gateway_experiment_rejected_total", ("model", "twin"), ("source", "file")) >= 1, "the invalid edit is rejected");

        var response = await ExperimentAdmin.InferAsync(gateway.Channel, ExperimentAdmin.TwinRequest("card-2"));
        Assert.Equal("edited", ExperimentAdmin.Arm(response));
        Assert.Equal("2", response.ModelVersion);
    }

    private static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var until = DateTime.UtcNow + ExperimentAdmin.Timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, "timed out waiting until " + what);
            await Task.Delay(50);
        }
    }
}
