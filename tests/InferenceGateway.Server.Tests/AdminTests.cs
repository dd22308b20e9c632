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
        Assert.Contains("\"reloaded\": true", await response.Content.ReadAsStringAsync());
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
