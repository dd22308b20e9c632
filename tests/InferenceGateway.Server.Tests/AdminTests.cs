using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace InferenceGateway.Server.Tests;

/// <summary>A gateway with an admin token configured.</summary>
public sealed class TokenGatewayFixture() : GatewayFixture(["--Gateway:Admin:Token=" + AdminTests.Token]);

public sealed class AdminTests(TokenGatewayFixture gateway) : IClassFixture<TokenGatewayFixture>
{
    internal const string Token = "s3cret-admin-token-0123456789";

    [Fact]
    public async Task Reload_WithoutToken_Unauthorized()
    {
        using var response = await gateway.Admin.PostAsync("/admin/models/reload", null).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task Reload_WrongToken_Unauthorized()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/admin/models/reload");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token + "x");
        using var response = await gateway.Admin.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Reload_RightToken_RescansAndStaysReady()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/admin/models/reload");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var response = await gateway.Admin.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // Nothing changed on disk: the scan says so, and counts what is served (fraud 1 and 2, bench_mlp 1).
        using var report = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Empty(report.RootElement.GetProperty("loaded").EnumerateArray());
        Assert.Empty(report.RootElement.GetProperty("reloaded").EnumerateArray());
        Assert.Empty(report.RootElement.GetProperty("unloaded").EnumerateArray());
        Assert.Empty(report.RootElement.GetProperty("failed").EnumerateObject());
        Assert.Equal(3, report.RootElement.GetProperty("serving").GetInt32());
        using var ready = await gateway.Admin.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task PrintConfig_ShowsEffectiveValuesAndRedactsToken()
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "InferenceGateway.Server.dll"));
        info.ArgumentList.Add("--print-config");
        info.ArgumentList.Add("--Gateway:GrpcPort=6001");
        info.ArgumentList.Add("--Gateway:Admin:Token=" + Token);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, process.ExitCode);
        var text = await stdout;
        Assert.Contains("\"GrpcPort\": 6001", text);
        Assert.Contains("\"AdminPort\": 8080", text);
        Assert.Contains("redacted", text);
        Assert.DoesNotContain(Token, text);
    }
}

public sealed class AdminWithoutTokenTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Reload_NoTokenConfigured_Forbidden()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/admin/models/reload");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "anything-at-all-here");
        using var response = await gateway.Admin.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}

/// <summary>
/// The reload endpoint on a scratch repository with the poll loop off, so each reload is the scan that finds the change,
/// and its answer says what that scan did.
/// </summary>
public sealed class AdminReloadReportTests : ScratchGateway
{
    protected override string[] GatewayArgs => ["--Gateway:Admin:Token=" + AdminTests.Token];

    protected override void Populate(ScratchRepository repository)
    {
        repository.WriteConfig("scale", 8, ("x", "FP32", 4), ("y", "FP32", 4));
        repository.PlaceModel("scale", "1", "scale2.onnx");
    }

    [Fact]
    public async Task Reload_AddReplaceCorruptRemove_ReportsWhatEachScanDid()
    {
        Repository.PlaceModel("scale", "2", "scale2.onnx");
        var added = await ReloadAsync();
        Assert.Equal(["scale:2"], Strings(added, "loaded"));
        Assert.Empty(Strings(added, "reloaded"));
        Assert.Equal(2, added.GetProperty("serving").GetInt32());

        Repository.PlaceModel("scale", "2", "scale3.onnx");
        var replaced = await ReloadAsync();
        Assert.Empty(Strings(replaced, "loaded"));
        Assert.Equal(["scale:2"], Strings(replaced, "reloaded"));
        Assert.Empty(Strings(replaced, "unloaded"));

        var corrupt = Repository.CorruptModel("scale", "1");
        var failed = await ReloadAsync();
        Assert.Empty(Strings(failed, "reloaded"));
        Assert.Contains(corrupt, failed.GetProperty("failed").GetProperty(corrupt).GetString(), StringComparison.Ordinal);
        Assert.Equal(2, failed.GetProperty("serving").GetInt32()); // version 1 keeps serving its old file

        // Unchanged since: not tried again, so not "failed" in this scan, but still an error.
        var again = await ReloadAsync();
        Assert.Empty(again.GetProperty("failed").EnumerateObject());
        Assert.True(again.GetProperty("errors").TryGetProperty(corrupt, out _));

        Repository.DeleteVersion("scale", "2");
        var removed = await ReloadAsync();
        Assert.Equal(["scale:2"], Strings(removed, "unloaded"));
        Assert.Equal(1, removed.GetProperty("serving").GetInt32());
    }

    private async Task<System.Text.Json.JsonElement> ReloadAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/admin/models/reload");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminTests.Token);
        using var response = await Gateway.Admin.SendAsync(request).WaitAsync(TestGateway.Timeout);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    private static string[] Strings(System.Text.Json.JsonElement report, string name) =>
        [.. report.GetProperty(name).EnumerateArray().Select(e => e.GetString()!)];
}
