using System.Diagnostics;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using InferenceGateway.Grpc.Tests.Infrastructure;
using InferenceGateway.Grpc.Tests.Protos;
using InferenceGateway.Tests.Interop;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace InferenceGateway.Grpc.Tests;

/// <summary>Debian's python3-grpcio (an independent implementation) against our server.</summary>
public sealed class PythonInteropTests : IClassFixture<GrpcServerFixture>
{
    private const string Python = "/usr/bin/python3";
    private readonly GrpcServerFixture _server;

    public PythonInteropTests(GrpcServerFixture server) => _server = server;

    [Fact]
    public async Task PythonGrpcio_HealthEchoErrorsDeadlineStreamReflection_AllAsSpecified()
    {
        Assert.True(File.Exists(Python), $"{Python} is missing: run `make deps` (scripts/install-deps.sh).");
        _server.Health.SetStatus("interop.Known", ServingStatus.Serving);
        var descriptors = Path.Combine(Path.GetTempPath(), $"ig-grpc-interop-{Guid.NewGuid():N}.pb");
        try
        {
            DescriptorSets.Write(descriptors, HealthReflection.Descriptor, ReflectionReflection.Descriptor, GrpcTestReflection.Descriptor);
            var script = Path.Combine(AppContext.BaseDirectory, "interop", "interop_client.py");
            var (exitCode, stdout, stderr) = await RunAsync(Python, [script, "--target", $"127.0.0.1:{_server.Port}", "--descriptors", descriptors]);
            Assert.True(exitCode == 0, $"python exited {exitCode}: {stderr}");

            using var json = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
            var root = json.RootElement;
            Assert.Equal("SERVING", root.GetProperty("check").GetString());
            Assert.Equal("NOT_FOUND", root.GetProperty("check_unknown").GetString());
            Assert.Equal(new[] { "SERVING", "SERVICE_UNKNOWN" }, root.GetProperty("watch_first").EnumerateArray().Select(e => e.GetString() ?? "").ToArray());
            Assert.Equal("héllo", root.GetProperty("echo_text").GetString());
            Assert.True(root.GetProperty("echo_payload_ok").GetBoolean());
            Assert.Equal("gzip", root.GetProperty("gzip_request_encoding").GetString());
            Assert.True(root.GetProperty("gzip_payload_ok").GetBoolean());
            Assert.Equal("INVALID_ARGUMENT", root.GetProperty("throw_code").GetString());
            Assert.Equal("Text is invalid: ünïcode 100%", root.GetProperty("throw_details").GetString());
            Assert.Equal("bad-text", root.GetProperty("throw_trailer").GetString());
            Assert.Equal("UNIMPLEMENTED", root.GetProperty("missing_code").GetString());
            Assert.Equal("DEADLINE_EXCEEDED", root.GetProperty("deadline_code").GetString());
            Assert.Equal([0, 1, 2], root.GetProperty("stream_indexes").EnumerateArray().Select(e => e.GetInt32()).ToArray());
            Assert.Contains("igtest.v1.TestService", root.GetProperty("services").EnumerateArray().Select(e => e.GetString()));

            // grpcio sent grpc-timeout; the server's deadline (or the client's RST_STREAM) fired the handler's token.
            await _server.State.TokenFired("py-deadline").Task.WithTimeout();
        }
        finally
        {
            File.Delete(descriptors);
        }
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string fileName, string[] arguments)
    {
        var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
