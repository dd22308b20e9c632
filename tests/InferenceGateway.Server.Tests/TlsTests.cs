using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using InferenceGateway.Contracts.Inference;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Server.Services;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// A gateway with <c>Gateway:Tls</c> set: a self-signed certificate for localhost and 127.0.0.1, made for this run and
/// written as PEM files, as an operator would configure it.
/// </summary>
public sealed class TlsGatewayFixture : GatewayFixture
{
    public TlsGatewayFixture()
        : this(TlsFiles.Create())
    {
    }

    private TlsGatewayFixture(TlsFiles files)
        : base(["--Gateway:Tls:CertificatePath=" + files.CertificatePath, "--Gateway:Tls:KeyPath=" + files.KeyPath])
    {
        Files = files;
    }

    public TlsFiles Files { get; }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(Files.Directory, recursive: true);
    }
}

/// <summary>The PEM certificate and key of one run, in a scratch folder.</summary>
public sealed record TlsFiles(string Directory, string CertificatePath, string KeyPath)
{
    public static TlsFiles Create()
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("ig-tls-").FullName;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false)); // server auth
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
        var files = new TlsFiles(directory, Path.Combine(directory, "gateway.crt"), Path.Combine(directory, "gateway.key"));
        File.WriteAllText(files.CertificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(files.KeyPath, key.ExportPkcs8PrivateKeyPem());
        return files;
    }
}

public sealed class TlsTests(TlsGatewayFixture gateway) : IClassFixture<TlsGatewayFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task GrpcNetClient_ModelInferOverTls_TrustingOnlyTheConfiguredCertificate_MatchesReference()
    {
        // 127.0.0.1, not localhost (which may resolve to ::1 first): the certificate names both.
        using var trusted = X509Certificate2.CreateFromPem(File.ReadAllText(gateway.Files.CertificatePath));
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust,
                    CustomTrustStore = { trusted },
                    RevocationMode = X509RevocationMode.NoCheck,
                },
            },
        };
        using var channel = GrpcChannel.ForAddress($"https://127.0.0.1:{gateway.GrpcPort}", new GrpcChannelOptions { HttpHandler = handler });
        var data = TestData.Load("fraud", "1");
        var width = (int)data.InputShape[1];
        var request = KServeTests.RawRequest("fraud", "1", data.InputName, [1, width], data.Input.AsSpan(0, width).ToArray());

        var response = await channel.CreateCallInvoker()
            .AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), request)
            .ResponseAsync.WaitAsync(Timeout);

        var value = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Assert.Single(response.RawOutputContents).Span)[0];
        Assert.InRange(value, data.Output[0] - 1e-4f, data.Output[0] + 1e-4f);
    }

    [Fact]
    public async Task GrpcNetClient_UntrustedCertificate_FailsTheHandshake()
    {
        // The system trust store does not hold the run's certificate: the handshake must fail, not fall back.
        using var channel = GrpcChannel.ForAddress($"https://127.0.0.1:{gateway.GrpcPort}");

        var ex = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker()
            .AsyncUnaryCall(ServerLive, null, new CallOptions(deadline: DateTime.UtcNow + Timeout), new ServerLiveRequest())
            .ResponseAsync.WaitAsync(Timeout));

        // Grpc.Net.Client reports a failed handshake as INTERNAL with the TLS error (our own client said UNAVAILABLE).
        Assert.Equal(StatusCode.Internal, ex.StatusCode);
        Assert.Contains("SSL connection could not be established", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PythonGrpcio_SecureChannelIsServed_AndCleartextIsRefused()
    {
        // grpc-core negotiates h2 by ALPN and checks the certificate against the given root and the name.
        const string Script = """
            import sys, grpc
            port, cert = sys.argv[1], sys.argv[2]
            path = "/inference.GRPCInferenceService/ServerLive"
            def live(channel):
                return channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)(b"", timeout=20)
            creds = grpc.ssl_channel_credentials(root_certificates=open(cert, "rb").read())
            # The gateway listens on 127.0.0.1 only; the name checked against the certificate is still "localhost".
            with grpc.secure_channel("127.0.0.1:" + port, creds, options=[("grpc.ssl_target_name_override", "localhost")]) as channel:
                print("secure", live(channel).hex())
            with grpc.insecure_channel("127.0.0.1:" + port) as channel:
                try:
                    live(channel)
                    print("cleartext OK")
                except grpc.RpcError as e:
                    print("cleartext", e.code().name)
            """;

        var run = await InteropRun.RunProcessAsync("/usr/bin/python3", ["-c", Script, gateway.GrpcPort.ToString(), gateway.Files.CertificatePath], TimeSpan.FromSeconds(90));

        Assert.True(run.ExitCode == 0 && !run.TimedOut, $"python exited {run.ExitCode} (timed out: {run.TimedOut}): {run.Stderr}");
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(["secure 0801", "cleartext UNAVAILABLE"], lines); // ServerLiveResponse { live: true }
    }

    private static readonly Method<ServerLiveRequest, ServerLiveResponse> ServerLive = new(
        MethodType.Unary, "inference.GRPCInferenceService", "ServerLive", ProtobufMarshaller.For(ServerLiveRequest.Parser), ProtobufMarshaller.For(ServerLiveResponse.Parser));
}
