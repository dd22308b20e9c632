using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Health.V1;
using InferenceGateway.Contracts.Inference;
using InferenceGateway.Core.Models;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Grpc.Tests.Infrastructure;
using InferenceGateway.Server.Services.Wire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace InferenceGateway.Server.Tests;

/// <summary>
/// Seeded wire-level fuzzing of the gRPC front end against a real gateway over HTTP/2: mutated protobuf, lying frame
/// prefixes, bad flags, truncated and padded bodies, odd encodings, content types and timeouts, bodies split over
/// several DATA frames and bodies abandoned half way (RST_STREAM). Every answered call must end, within a bound, with
/// the status its defect calls for (never UNKNOWN, which means an unhandled exception), and afterwards no model
/// lease, queued request or error-level log may be left. <c>make test</c> runs a fixed seed; <c>make fuzz</c> runs
/// for minutes with a fresh seed (IG_FUZZ_SEED, IG_FUZZ_CASES, IG_FUZZ_SECONDS).
/// </summary>
[Collection(nameof(WireFuzzTests))]
public sealed class WireFuzzTests(ITestOutputHelper output)
{
    private const string Infer = "/inference.GRPCInferenceService/ModelInfer";
    private const int Workers = 4;
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task MutatedCalls_EndWithTheStatusTheirDefectCallsFor_AndLeaveNothingBehind()
    {
        var seed = EnvInt("IG_FUZZ_SEED") ?? 20261201;
        var cases = EnvInt("IG_FUZZ_CASES") ?? 3000;
        var seconds = EnvInt("IG_FUZZ_SECONDS");
        var only = Environment.GetEnvironmentVariable("IG_FUZZ_KINDS")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var logs = new LevelCapturingLoggerProvider();
        var app = await LoggedGateway.StartAsync(logs);
        await using (app)
        {
            try
            {
                var repository = app.Services.GetRequiredService<ModelRepository>();
                using var active = new ActiveRequests(app.Services.GetRequiredService<IMeterFactory>());
                var port = LoggedGateway.GrpcPort(app);
                using var client = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
                {
                    BaseAddress = new Uri($"http://127.0.0.1:{port}"),
                    Timeout = Timeout.InfiniteTimeSpan,
                };

                var bases = Bases();
                var failures = new ConcurrentQueue<string>();
                var kinds = new ConcurrentDictionary<string, int>();
                var statuses = new ConcurrentDictionary<string, int>();
                var next = -1;
                var clock = Stopwatch.StartNew();
                long heapAtThird = 0;
                var third = cases / 3;
                var snapshot = seconds is { } total
                    ? Task.Delay(TimeSpan.FromSeconds(total / 3.0)).ContinueWith(_ => Interlocked.Exchange(ref heapAtThird, GC.GetTotalMemory(forceFullCollection: true)), TaskScheduler.Default)
                    : Task.CompletedTask;

                // Workers share one case counter; case i is generated from (seed, i) alone, so a failure names a case
                // that replays on its own.
                async Task Worker()
                {
                    while (true)
                    {
                        var index = Interlocked.Increment(ref next);
                        var more = seconds is { } s ? clock.Elapsed < TimeSpan.FromSeconds(s) : index < cases;
                        if (!more || failures.Count >= 20)
                        {
                            return;
                        }

                        if (seconds is null && index == third)
                        {
                            Interlocked.Exchange(ref heapAtThird, GC.GetTotalMemory(forceFullCollection: true));
                        }

                        var fuzzCase = FuzzCase.Generate(new Random(HashCode.Combine(seed, index)), bases);
                        if (only is not null && !only.Contains(fuzzCase.Kind))
                        {
                            continue;
                        }

                        kinds.AddOrUpdate(fuzzCase.Kind, 1, (_, n) => n + 1);
                        var verdict = await RunAsync(client, fuzzCase);
                        statuses.AddOrUpdate(verdict.Outcome, 1, (_, n) => n + 1);
                        if (verdict.Failure is { } failure)
                        {
                            failures.Enqueue($"case {index} (seed {seed}) {fuzzCase}: {failure}");
                        }
                    }
                }

                await Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(Worker)));
                await snapshot;
                var ran = Math.Min(Volatile.Read(ref next), seconds is null ? cases : int.MaxValue);

                // Nothing may be left behind: every lease given back, every queue empty.
                var leftovers = "";
                var settleUntil = DateTime.UtcNow.AddSeconds(10);
                do
                {
                    leftovers = Leftovers.Describe(repository);
                    if (leftovers.Length > 0)
                    {
                        await Task.Delay(50);
                    }
                }
                while ((leftovers.Length > 0 || active.Count != 0) && DateTime.UtcNow < settleUntil);

                var heapAtEnd = GC.GetTotalMemory(forceFullCollection: true);
                output.WriteLine($"seed {seed}: {ran} cases in {clock.Elapsed.TotalSeconds:F1} s; managed heap {heapAtThird / 1e6:F1} MB after a third, {heapAtEnd / 1e6:F1} MB at the end");
                output.WriteLine($"requests in the gateway: at most {active.Peak} at once, {active.Count} after the run");
                output.WriteLine("kinds: " + string.Join(", ", kinds.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}")));
                output.WriteLine("outcomes: " + string.Join(", ", statuses.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}")));

                Assert.True(failures.IsEmpty, string.Join("\n", failures));
                Assert.True(leftovers.Length == 0, "left behind after the fuzz run: " + leftovers);
                Assert.True(active.Peak > 0, "the gateway's active-request count never moved: the leak check below would prove nothing");
                Assert.True(active.Count == 0, $"{active.Count} request(s) still running in the gateway 10 s after the last call ended");
                var errors = logs.Entries.Where(e => e.Level >= LogLevel.Error).Take(5).ToArray();
                Assert.True(errors.Length == 0, "error-level logs: " + string.Join("\n", errors.Select(e => $"{e.Category}: {e.Message}")));
                if (seconds is not null)
                {
                    // Long runs only: a steady state must not keep growing (a third of the run is warm enough).
                    Assert.True(heapAtEnd - heapAtThird < 64_000_000, $"managed heap grew from {heapAtThird / 1e6:F1} MB to {heapAtEnd / 1e6:F1} MB");
                }

                // And the gateway still answers a valid call exactly.
                var data = TestData.Load("fraud", "1");
                var check = await RunAsync(client, FuzzCase.Valid(bases[0]));
                Assert.Null(check.Failure);
                Assert.Equal("OK", check.Outcome);
                Assert.Equal(data.Output.Length * sizeof(float), check.RawOutputBytes);
            }
            finally
            {
                await app.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
        }
    }

    private static int? EnvInt(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var value) ? value : null;

    /// <summary>Valid calls the mutations start from.</summary>
    private static Base[] Bases()
    {
        var fraud = TestData.Load("fraud", "1");
        var mlp = TestData.Load("bench_mlp", "1");
        var typed = new ModelInferRequest { ModelName = "fraud", ModelVersion = "1" };
        var typedInput = new ModelInferRequest.Types.InferInputTensor { Name = fraud.InputName, Datatype = "FP32", Contents = new InferTensorContents() };
        typedInput.Shape.AddRange(fraud.InputShape);
        typedInput.Contents.Fp32Contents.AddRange(fraud.Input);
        typed.Inputs.Add(typedInput);
        typed.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = fraud.OutputName });
        // An empty version routes to the latest, fraud 2, which takes other features.
        var latest = TestData.Load("fraud", "2");
        var routed = KServeTests.RawRequest("fraud", "", latest.InputName, latest.InputShape, latest.Input);
        routed.Id = "fuzz";
        return
        [
            new("fraud-raw", Infer, KServeTests.RawRequest("fraud", "1", fraud.InputName, fraud.InputShape, fraud.Input).ToByteArray(), ModelInferRequest.Parser, ModelInferResponse.Parser),
            new("fraud-typed", Infer, typed.ToByteArray(), ModelInferRequest.Parser, ModelInferResponse.Parser),
            new("fraud-routed", Infer, routed.ToByteArray(), ModelInferRequest.Parser, ModelInferResponse.Parser),
            new("bench_mlp-raw", Infer, KServeTests.RawRequest("bench_mlp", "1", mlp.InputName, mlp.InputShape, mlp.Input).ToByteArray(), ModelInferRequest.Parser, ModelInferResponse.Parser),
            new("server-live", "/inference.GRPCInferenceService/ServerLive", [], ServerLiveRequest.Parser, ServerLiveResponse.Parser),
            new("model-metadata", "/inference.GRPCInferenceService/ModelMetadata", new ModelMetadataRequest { Name = "fraud" }.ToByteArray(), ModelMetadataRequest.Parser, ModelMetadataResponse.Parser),
            new("health-check", "/grpc.health.v1.Health/Check", new HealthCheckRequest { Service = "" }.ToByteArray(), HealthCheckRequest.Parser, HealthCheckResponse.Parser),
        ];
    }

    private static async Task<Verdict> RunAsync(HttpClient client, FuzzCase fuzzCase)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, fuzzCase.Path)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ChunkedContent(fuzzCase.Body, fuzzCase.Chunks, fuzzCase.AbandonAfter),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(fuzzCase.ContentType);
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (fuzzCase.Encoding is { } encoding)
        {
            request.Headers.TryAddWithoutValidation("grpc-encoding", encoding);
        }

        if (fuzzCase.Timeout is { } timeout)
        {
            request.Headers.TryAddWithoutValidation("grpc-timeout", timeout);
        }

        using var bound = new CancellationTokenSource(CallBound);
        if (fuzzCase.AbandonAfter is not null)
        {
            // The client gives up half way through its body; only the leak check judges what the server did.
            using var abandon = CancellationTokenSource.CreateLinkedTokenSource(bound.Token);
            abandon.CancelAfter(TimeSpan.FromMilliseconds(20));
            try
            {
                using var abandoned = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, abandon.Token);
                await abandoned.Content.CopyToAsync(Stream.Null, abandon.Token);
            }
            catch (OperationCanceledException) when (!bound.IsCancellationRequested)
            {
            }
            catch (HttpRequestException)
            {
            }

            return bound.IsCancellationRequested ? new Verdict("hang", $"no end within {CallBound.TotalSeconds} s") : new Verdict("abandoned", null);
        }

        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, bound.Token);
            var body = await response.Content.ReadAsByteArrayAsync(bound.Token);
            return Judge(fuzzCase, response, body);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            return new Verdict("hang", $"no response within {CallBound.TotalSeconds} s");
        }
        catch (HttpRequestException ex) when (fuzzCase.Kind == "timeout-tiny" && fuzzCase.Chunks.Length > 0 && ex.HttpRequestError == HttpRequestError.HttpProtocolError && ex.Message.Contains("'CANCEL'", StringComparison.Ordinal))
        {
            // Grpc.AspNetCore's deadline: DEADLINE_EXCEEDED in the trailers, then RST_STREAM(CANCEL) to stop a request body
            // still being uploaded; HttpClient then fails the whole send (docs/grpc.md, "Differences").
            return new Verdict("deadline-reset", null);
        }
        catch (HttpRequestException ex)
        {
            return new Verdict("reset", $"the stream failed instead of ending with a status: {ex.Message} {ex.InnerException?.Message}");
        }
    }

    private static Verdict Judge(FuzzCase fuzzCase, HttpResponseMessage response, byte[] body)
    {
        if (fuzzCase.Expect.HttpStatus is { } httpStatus)
        {
            return (int)response.StatusCode == httpStatus
                ? new Verdict($"HTTP {httpStatus}", null)
                : new Verdict($"HTTP {(int)response.StatusCode}", $"expected HTTP {httpStatus}, got {(int)response.StatusCode}");
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            return new Verdict($"HTTP {(int)response.StatusCode}", $"expected HTTP 200 with a grpc-status, got {(int)response.StatusCode}");
        }

        var statusText = HeaderValue(response, "grpc-status");
        if (!int.TryParse(statusText, out var code))
        {
            return new Verdict("no status", $"no grpc-status in headers or trailers ('{statusText}')");
        }

        var status = (StatusCode)code;
        var message = HeaderValue(response, "grpc-message");
        var outcome = status.ToString();
        if (!fuzzCase.Expect.Allowed.Contains(status))
        {
            return new Verdict(outcome, $"expected {string.Join(" or ", fuzzCase.Expect.Allowed)}, got {status} '{Uri.UnescapeDataString(message ?? "")}'");
        }

        if (status != StatusCode.OK)
        {
            return string.IsNullOrWhiteSpace(message)
                ? new Verdict(outcome, $"{status} without a grpc-message")
                : new Verdict(outcome, null);
        }

        // An OK call carries exactly one uncompressed frame that its response type parses.
        if (body.Length < 5 || body[0] != 0 || BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(1)) != body.Length - 5)
        {
            return new Verdict(outcome, $"OK, but the body is not one uncompressed frame ({body.Length} bytes)");
        }

        try
        {
            var parsed = fuzzCase.ResponseParser.ParseFrom(body.AsSpan(5).ToArray());
            var rawBytes = parsed is ModelInferResponse infer ? infer.RawOutputContents.Sum(c => c.Length) : 0;
            return new Verdict(outcome, null, rawBytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            return new Verdict(outcome, "OK, but the response does not parse: " + ex.Message);
        }
    }

    private static string? HeaderValue(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.TrailingHeaders.TryGetValues(name, out values)
            ? string.Join(",", values)
            : null;

    private sealed record Base(string Name, string Path, byte[] Payload, MessageParser RequestParser, MessageParser ResponseParser);

    private sealed record Expectation(StatusCode[] Allowed, int? HttpStatus = null)
    {
        public static Expectation Ok { get; } = new([StatusCode.OK]);

        public static Expectation Of(params StatusCode[] allowed) => new(allowed);
    }

    private sealed record Verdict(string Outcome, string? Failure, int RawOutputBytes = 0);

    /// <summary>One request: what is sent, how, and what must come back.</summary>
    private sealed record FuzzCase(string Kind, Base Base, byte[] Body, Expectation Expect)
    {
        private static readonly string[] GrpcContentTypes = ["application/grpc", "application/grpc+proto", "application/grpc; charset=utf-8"];
        private static readonly string[] OtherContentTypes = ["application/json", "text/plain", "application/grpc-web", "application/grpc-web-text", "application/octet-stream"];
        private static readonly string[] UnsupportedEncodings = ["deflate", "br", "snappy", "zstd", "x-fuzz"];
        private static readonly string[] IgnoredTimeouts = ["abc", "1", "S", "-1S", "1.5S", "1x", "123456789S", "5 S"];
        private static readonly string[] LongTimeouts = ["30S", "1M", "1H", "99999999m", "99999999S"];

        public string Path => Base.Path;

        public string ContentType { get; init; } = "application/grpc";

        public string? Encoding { get; init; }

        public string? Timeout { get; init; }

        /// <summary>Body cut points; each chunk goes out as its own write, a moment after the last.</summary>
        public int[] Chunks { get; init; } = [];

        /// <summary>Send this many bytes, then stall until the client gives up (RST_STREAM).</summary>
        public int? AbandonAfter { get; init; }

        public MessageParser ResponseParser => Base.ResponseParser;

        /// <summary>What the generator already knows about the case, for the failure message.</summary>
        public string? Note { get; init; }

        public static FuzzCase Valid(Base b) => new("valid", b, Frame(b.Payload), Expectation.Ok);

        public static FuzzCase Generate(Random random, Base[] bases)
        {
            var b = bases[random.Next(bases.Length)];
            var payload = b.Payload;
            var fuzzCase = random.Next(14) switch
            {
                0 or 1 or 2 => Protobuf(random, b),
                3 => LengthShort(random, b),
                4 => new FuzzCase("length-long", b, Reframe(Frame(payload), (uint)payload.Length + (uint)random.Next(1, 1000)), Expectation.Of(StatusCode.Internal)),
                5 => new FuzzCase("length-huge", b, Reframe(Frame(payload), (uint)random.NextInt64(4 * 1024 * 1024 + 1, uint.MaxValue + 1L)), Expectation.Of(StatusCode.ResourceExhausted)),
                6 => Flag(random, b),
                7 => Truncated(random, b),
                8 => new FuzzCase("trailing-bytes", b, [.. Frame(payload), .. RandomBytes(random, random.Next(1, 24))], Expectation.Of(StatusCode.Internal)),
                9 => Encoded(random, b),
                10 => ContentTypeCase(random, b),
                11 => TimeoutCase(random, b),
                12 => new FuzzCase("abandoned", b, Frame(payload), Expectation.Ok) { AbandonAfter = random.Next(0, 5 + payload.Length) },
                _ => Valid(b),
            };

            // A third of the cases arrive in several DATA frames (not the abandoned ones: they stall by design).
            if (fuzzCase.AbandonAfter is null && fuzzCase.Body.Length > 1 && random.Next(3) == 0)
            {
                var cuts = Enumerable.Range(0, random.Next(1, 4)).Select(_ => random.Next(1, fuzzCase.Body.Length)).Distinct().Order().ToArray();
                fuzzCase = fuzzCase with { Chunks = cuts };
            }

            return fuzzCase;
        }

        public override string ToString() =>
            $"{Kind} on {Base.Name} ({Body.Length} B body{(Chunks.Length > 0 ? $" in {Chunks.Length + 1} writes" : "")}" +
            $"{(ContentType != "application/grpc" ? $", content-type '{ContentType}'" : "")}{(Encoding is null ? "" : $", grpc-encoding '{Encoding}'")}" +
            $"{(Timeout is null ? "" : $", grpc-timeout '{Timeout}'")}{(AbandonAfter is null ? "" : $", abandoned after {AbandonAfter} B")})" +
            (Note is null ? "" : $" [{Note}]");

        private static FuzzCase Protobuf(Random random, Base b)
        {
            var bytes = b.Payload.ToList();
            for (var edits = random.Next(1, 5); edits > 0; edits--)
            {
                var at = bytes.Count == 0 ? 0 : random.Next(bytes.Count);
                switch (bytes.Count == 0 ? 2 : random.Next(3))
                {
                    case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                    case 1: bytes.RemoveAt(at); break;
                    default: bytes.Insert(at, (byte)random.Next(256)); break;
                }
            }

            var mutated = bytes.ToArray();

            // Google.Protobuf decides what is well formed. Other methods parse with it: broken is INTERNAL ("failed to
            // deserialize"), well formed is answered on its merits. ModelInfer's codec is a lazy view: it checks what
            // the gateway reads and skips what it does not use, so a defect only in a
            // skipped field is served, and one inside typed contents is INVALID_ARGUMENT against that input. It must
            // never reject what Google.Protobuf accepts (then the answer below would be INTERNAL, which fails). Like
            // Google.Protobuf for C#, neither rejects invalid UTF-8 while parsing; the executor answers INVALID_ARGUMENT
            // for a model name, version or id that is not UTF-8, and tensor names that are not text match no input.
            var parses = Parses(b.RequestParser, mutated);
            Expectation expect;
            if (b.Path != Infer)
            {
                expect = parses ? Expectation.Of(StatusCode.OK, StatusCode.NotFound) : Expectation.Of(StatusCode.Internal);
            }
            else if (parses || CodecAccepts(mutated))
            {
                expect = Expectation.Of(StatusCode.OK, StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.Unimplemented, StatusCode.ResourceExhausted);
            }
            else
            {
                expect = Expectation.Of(StatusCode.Internal);
            }

            return new FuzzCase(parses ? "protobuf-valid" : "protobuf-broken", b, Frame(mutated), expect)
            {
                Note = parses && b.Path == Infer && CodecError(mutated) is { } error ? $"the codec says: {error}; payload {Convert.ToHexString(mutated)}" : null,
            };
        }

        private static bool Parses(MessageParser parser, byte[] payload)
        {
            try
            {
                parser.ParseFrom(payload);
                return true;
            }
            catch (InvalidProtocolBufferException)
            {
                return false;
            }
        }

        private static bool CodecAccepts(byte[] payload) => CodecError(payload) is null;

        private static string? CodecError(byte[] payload)
        {
            try
            {
                ModelInferCodec.Parse(new ReadOnlySequence<byte>(payload)).Return();
                return null;
            }
            catch (ProtoFormatException ex)
            {
                return ex.Message;
            }
        }

        private static FuzzCase LengthShort(Random random, Base b)
        {
            if (b.Payload.Length == 0)
            {
                return new FuzzCase("trailing-bytes", b, [.. Frame(b.Payload), 0], Expectation.Of(StatusCode.Internal));
            }

            // Declares fewer bytes than follow: whatever the short message is, the rest is data a unary call must refuse.
            var declared = (uint)random.Next(0, b.Payload.Length);
            return new FuzzCase("length-short", b, Reframe(Frame(b.Payload), declared), Expectation.Of(StatusCode.Internal));
        }

        private static FuzzCase Flag(Random random, Base b)
        {
            var body = Frame(b.Payload);
            body[0] = (byte)random.Next(1, 256);
            return new FuzzCase("flag", b, body, Expectation.Of(StatusCode.Internal));
        }

        private static FuzzCase Truncated(Random random, Base b)
        {
            var frame = Frame(b.Payload);
            var keep = random.Next(0, frame.Length);
            if (keep == 5 && b.Payload.Length == 0)
            {
                keep = 4;
            }

            return new FuzzCase("truncated", b, frame[..keep], Expectation.Of(StatusCode.Internal));
        }

        private static FuzzCase Encoded(Random random, Base b)
        {
            switch (random.Next(3))
            {
                case 0:
                    using (var compressed = new MemoryStream())
                    {
                        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
                        {
                            gzip.Write(b.Payload);
                        }

                        return new FuzzCase("gzip", b, Frame(compressed.ToArray(), flag: 1), Expectation.Ok) { Encoding = "gzip" };
                    }

                case 1:
                    // Not gzip at all (the magic bytes are missing), yet flagged compressed.
                    var notGzip = b.Payload.Length >= 2 && b.Payload[0] != 0x1f ? b.Payload : [0x00, .. RandomBytes(random, 8)];
                    return new FuzzCase("gzip-corrupt", b, Frame(notGzip, flag: 1), Expectation.Of(StatusCode.Internal)) { Encoding = "gzip" };
                default:
                    return new FuzzCase("encoding-unsupported", b, Frame(b.Payload, flag: 1), Expectation.Of(StatusCode.Unimplemented))
                    {
                        Encoding = UnsupportedEncodings[random.Next(UnsupportedEncodings.Length)],
                    };
            }
        }

        private static FuzzCase ContentTypeCase(Random random, Base b) => random.Next(2) == 0
            ? new FuzzCase("content-type-grpc", b, Frame(b.Payload), Expectation.Ok) { ContentType = GrpcContentTypes[random.Next(GrpcContentTypes.Length)] }
            : new FuzzCase("content-type-other", b, Frame(b.Payload), new Expectation([], HttpStatus: 415)) { ContentType = OtherContentTypes[random.Next(OtherContentTypes.Length)] };

        private static FuzzCase TimeoutCase(Random random, Base b) => random.Next(3) switch
        {
            // Spec: an unparsable grpc-timeout is ignored (grpc-dotnet does the same).
            0 => new FuzzCase("timeout-ignored", b, Frame(b.Payload), Expectation.Ok) { Timeout = IgnoredTimeouts[random.Next(IgnoredTimeouts.Length)] },
            1 => new FuzzCase("timeout-long", b, Frame(b.Payload), Expectation.Ok) { Timeout = LongTimeouts[random.Next(LongTimeouts.Length)] },
            // RESOURCE_EXHAUSTED too: the queue-time admission refuses at once a call whose deadline is nearer than the
            // work queued ahead of it ("deadline too near", docs/batching.md), which depends on what else is queued then.
            _ => new FuzzCase("timeout-tiny", b, Frame(b.Payload), Expectation.Of(StatusCode.OK, StatusCode.DeadlineExceeded, StatusCode.ResourceExhausted))
            {
                Timeout = random.Next(4) switch { 0 => "0S", 1 => "1n", 2 => $"{random.Next(1, 500)}u", _ => $"{random.Next(1, 3)}m" },
            },
        };

        private static byte[] Frame(byte[] payload, byte flag = 0) => RawGrpc.Frame(payload, flag);

        private static byte[] Reframe(byte[] frame, uint declaredLength)
        {
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), declaredLength);
            return frame;
        }

        private static byte[] RandomBytes(Random random, int count)
        {
            var bytes = new byte[count];
            random.NextBytes(bytes);
            return bytes;
        }
    }

    /// <summary>Writes the body in pieces (each flushed, so each is its own DATA frame), or stalls part way.</summary>
    private sealed class ChunkedContent(byte[] body, int[] cuts, int? abandonAfter) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            if (abandonAfter is { } sent)
            {
                await stream.WriteAsync(body.AsMemory(0, Math.Min(sent, body.Length)), cancellationToken);
                await stream.FlushAsync(cancellationToken);
                await Task.Delay(Timeout.Infinite, cancellationToken);
                return;
            }

            var start = 0;
            try
            {
                foreach (var cut in cuts.Append(body.Length))
                {
                    await stream.WriteAsync(body.AsMemory(start, cut - start), cancellationToken);
                    await stream.FlushAsync(cancellationToken);
                    start = cut;
                    if (cut < body.Length)
                    {
                        await Task.Delay(1, cancellationToken);
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // The server answered and closed the stream before the whole body went out (an early error): stop
                // sending and let the client read that answer.
            }
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    /// <summary>The gateway's own count of requests in progress (ASP.NET Core's http.server.active_requests).</summary>
    private sealed class ActiveRequests : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _count;
        private long _peak;

        public ActiveRequests(IMeterFactory gatewayMeters)
        {
            // Scoped to this gateway's meter factory: other test classes run gateways in the same process.
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == gatewayMeters && instrument.Name == "http.server.active_requests")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) =>
            {
                var now = Interlocked.Add(ref _count, value);
                for (var peak = Volatile.Read(ref _peak); now > peak; peak = Volatile.Read(ref _peak))
                {
                    Interlocked.CompareExchange(ref _peak, now, peak);
                }
            });
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        /// <summary>The most requests seen in progress at once: proof the count was live.</summary>
        public long Peak => Interlocked.Read(ref _peak);

        public void Dispose() => _listener.Dispose();
    }

    private sealed class LevelCapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(LevelCapturingLoggerProvider owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Entries.Enqueue((logLevel, category, formatter(state, exception) + (exception is null ? "" : " " + exception)));
        }
    }
}

/// <summary>Runs the fuzz test on its own: its burst of load would skew the timing-tolerant tests running beside it.</summary>
[CollectionDefinition(nameof(WireFuzzTests), DisableParallelization = true)]
public sealed class WireFuzzCollection;
