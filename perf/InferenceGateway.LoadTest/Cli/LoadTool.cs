using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Google.Protobuf;
using InferenceGateway.LoadTest.Echo;
using InferenceGateway.LoadTest.Engine;
using InferenceGateway.LoadTest.Freshness;
using InferenceGateway.LoadTest.Ort;
using InferenceGateway.LoadTest.Output;
using InferenceGateway.LoadTest.Targets;

namespace InferenceGateway.LoadTest.Cli;

/// <summary>The <c>ig-load</c> command line: run, freshness, echo-server, payload, plot, ort.</summary>
public static class LoadTool
{
    /// <summary>Usage text.</summary>
    public const string Usage = """
        ig-load: load generator for Open Inference Protocol (KServe v2) gRPC endpoints.

        ig-load run [options]            send load, print a table, optionally --json/--csv
          --target kserve|predict|raw|ingest  request kind (default kserve)
          --url URL                      server (default http://127.0.0.1:50051); loopback only unless --allow-remote
          --model NAME --version V       model (default fraud / 1)
          --shape 1x512 [--input-name N] [--distinct 16] [--seed 42]   random FP32 tensors
          --data FILE | --models-dir DIR  rows of test_data.json (default models/<model>/<version>/test_data.json)
          --rows-per-request N           rows of test data per request (default 1)
          --contents raw|typed           raw_input_contents or fp32_contents (default raw)
          --feature name=value ...       predict: request-time features (default: test data rows named by
                                         models/<model>/config.json); --entities N distinct entity ids
          --events FILE                  ingest: events CSV (default <models-dir>/data/transactions.csv.gz);
                                         predict: one request per row (numbers as features, strings as
                                         attributes, event time now) instead of test data
          --entity-column card_id --time-column event_time_unix_ms --ignore-columns label
                                         columns of the events CSV (numeric columns -> numbers, others -> strings)
          --stream transactions          ingest: the events' stream
          --events-per-call 100          ingest: events per IngestEvents call (h2: one body of that many frames);
                                         event times rebased into the minute before the run; with --entities N
                                         row i goes to entity-(i mod N); a call whose IngestSummary does not
                                         accept all its events counts as an error; events/s = calls/s x N
          --passes 1                     ingest: lay the file out P times, one pass after the other in event time
                                         (within the same minute), so up to P passes append to each entity's history
                                         instead of landing inside it; memory: P payloads
          --payload FILE --path P        raw: a pre-built gRPC frame and the method path
          --mode closed|open             closed loop (workers) or open loop (arrival rate); default closed
          --concurrency 1,4,16,64        closed-loop workers; a list sweeps
          --rate 100,500                 open-loop requests/s; a list sweeps
          --arrival constant|poisson     open-loop arrivals (default constant)
          --max-in-flight N              open-loop bound; requests due beyond it count as "dropped" (default 1024)
          --precise-timer                open loop: spin for sub-millisecond send times
          --warmup 2s --duration 10s     per step; or --requests N (per step) with --max-duration 10m
          --timeout 10s --connections 1  per-request deadline; HTTP/2 connections
          --client h2|http               h2 (default): ig-load's own HTTP/2 connections, cheapest on the client's
                                         CPU; http: HttpClient (our gRPC library; raw: SocketsHttpHandler)
          --label NAME --json FILE --csv FILE --quiet
        ig-load freshness [--url URL] [--trials 1000] [--warmup-trials 20] [--query getfeatures|predict]
                    [--per-call] [--feature txn_count_10m] [--model fraud --version 2] [--stream transactions]
                    [--events FILE] [--entity-prefix P] [--timeout 5s] [--interval 0ms] [--max-duration 10m]
                    [--json FILE] [--quiet]
                                         send -> visible latency: per trial one event for a new entity over one
                                         long-lived IngestEvents stream (--per-call: a call per event, which times
                                         the acknowledgement too), then GetFeatures (or Predict) back to back until
                                         the feature is no longer defaulted
        ig-load echo-server --port N [--response-bytes 64] [--lifetime 1h]
        ig-load payload [--target kserve|predict|ingest] [model options] --out FILE
        ig-load plot --csv a.csv [--csv b.csv ...] --out chart.svg [--title T]
        ig-load ort --model-file models/bench_mlp/1/model.onnx [--batch 64] [--intra-op-threads 0]
                    [--parallel 1] [--warmup 2s] [--duration 8s] [--json FILE]
                                         in-process ONNX Runtime ceiling (no gateway); --parallel N runs N
                                         sessions on N threads, like N execution instances
        ig-load side-by-side --model-file models/bench_mlp/1/model.onnx --model bench_mlp [--version 1]
                    [--url URL] [--rows-per-request 1] [--intra-op-threads 0] [--block 250ms] [--settle 50ms]
                    [--pairs 40] [--warmup 3s] [--with-transport] [--json FILE]
                                         ORT's own runs (batch = --rows-per-request) in this process against one
                                         caller's ModelInfer calls to the gateway, in alternating blocks; per pair
                                         the gateway's p50 above ORT's, and the median over pairs; --with-transport
                                         adds blocks of "ServerLive call, then ORT's run": the least a server pays
        """;

    private static readonly HashSet<string> Flags = new(StringComparer.Ordinal) { "allow-remote", "precise-timer", "quiet", "help", "per-call", "with-transport" };

    /// <summary>Runs the tool; returns the process exit code (0 ok, 1 failure or errors seen, 2 usage).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            await stdout.WriteLineAsync(Usage).ConfigureAwait(false);
            return args.Length == 0 ? 2 : 0;
        }

        try
        {
            var reader = new ArgReader(args.Skip(1), Flags);
            return args[0] switch
            {
                "run" => await RunCommandAsync(reader, args, stdout, stderr, cancellationToken).ConfigureAwait(false),
                "freshness" => await FreshnessCommandAsync(reader, args, stdout, stderr, cancellationToken).ConfigureAwait(false),
                "echo-server" => await EchoServerCommandAsync(reader, stdout, cancellationToken).ConfigureAwait(false),
                "payload" => PayloadCommand(reader, stdout),
                "plot" => PlotCommand(reader, stdout),
                "ort" => OrtCommand(reader, stdout, cancellationToken),
                "side-by-side" => await SideBySideCommandAsync(reader, stdout, cancellationToken).ConfigureAwait(false),
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException ex)
        {
            await stderr.WriteLineAsync("ig-load: " + ex.Message).ConfigureAwait(false);
            await stderr.WriteLineAsync(Usage).ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (ex is InvalidOperationException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or FileNotFoundException or FormatException or NotSupportedException or ArgumentException or IOException or Grpc.Core.RpcException)
        {
            await stderr.WriteLineAsync("ig-load: " + ex.Message).ConfigureAwait(false);
            return 1;
        }
    }

    /// <summary>Reads the target options shared by run and payload.</summary>
    public static TargetSettings ReadTargetSettings(ArgReader a)
    {
        ArgumentNullException.ThrowIfNull(a);
        string kind = a.Get("target", "kserve")!;
        string? shape = a.Get("shape");
        string contents = a.Get("contents", "raw")!;
        string client = a.Get("client", "h2")!;
        int? entities = a.Get("entities") is null ? null : a.GetInt("entities", 0);
        return new TargetSettings
        {
            Kind = kind switch
            {
                "kserve" => TargetKind.KServe,
                "predict" => TargetKind.Predict,
                "raw" => TargetKind.Raw,
                "ingest" => TargetKind.Ingest,
                _ => throw new UsageException($"--target: unknown '{kind}' (kserve, predict, raw, ingest)"),
            },
            Url = new Uri(a.Get("url", "http://127.0.0.1:50051")!),
            AllowRemote = a.Flag("allow-remote"),
            Model = a.Get("model", "fraud")!,
            Version = a.Get("version", "1")!,
            Shape = shape is null ? null : RequestPayloads.ParseShape(shape),
            InputName = a.Get("input-name", "input")!,
            Distinct = a.GetInt("distinct", 16),
            Seed = a.GetInt("seed", 42),
            DataFile = a.Get("data"),
            ModelsDirectory = a.Get("models-dir", "models")!,
            RowsPerRequest = a.GetInt("rows-per-request", 1),
            Encoding = contents switch
            {
                "raw" => TensorEncoding.Raw,
                "typed" => TensorEncoding.Typed,
                _ => throw new UsageException($"--contents: unknown '{contents}' (raw, typed)"),
            },
            Features = TargetFactory.ParseFeatures(a.GetAll("feature")),
            Entities = entities ?? 64,
            SpreadEntities = entities ?? 0,
            EventsFile = a.Get("events"),
            EventColumns = ReadEventColumns(a),
            Stream = a.Get("stream", TargetSettings.DefaultStream)!,
            EventsPerCall = a.GetInt("events-per-call", 100),
            Passes = a.GetInt("passes", 1),
            Path = a.Get("path"),
            PayloadFile = a.Get("payload"),
            Client = client switch
            {
                "h2" => ClientKind.H2,
                "http" => ClientKind.Http,
                _ => throw new UsageException($"--client: unknown '{client}' (h2, http)"),
            },
            Connections = a.GetInt("connections", 1),
            Timeout = a.GetDuration("timeout", TimeSpan.FromSeconds(10)),
        };
    }

    /// <summary>Reads the columns of an events CSV: --entity-column, --time-column, --ignore-columns (comma-separated).</summary>
    public static EventColumns ReadEventColumns(ArgReader a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return new EventColumns
        {
            Entity = a.Get("entity-column", EventColumns.DefaultEntity)!,
            Time = a.Get("time-column", EventColumns.DefaultTime)!,
            Ignored = a.Get("ignore-columns", "label")!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        };
    }

    /// <summary>Reads the step options; one entry per sweep value.</summary>
    public static List<LoadStepOptions> ReadSteps(ArgReader a)
    {
        ArgumentNullException.ThrowIfNull(a);
        string mode = a.Get("mode", "closed")!;
        string arrival = a.Get("arrival", "constant")!;
        string label = a.Get("label", "run")!;
        var template = new LoadStepOptions
        {
            Mode = mode switch
            {
                "closed" => LoadMode.Closed,
                "open" => LoadMode.Open,
                _ => throw new UsageException($"--mode: unknown '{mode}' (closed, open)"),
            },
            Arrival = arrival switch
            {
                "constant" => ArrivalProcess.Constant,
                "poisson" => ArrivalProcess.Poisson,
                _ => throw new UsageException($"--arrival: unknown '{arrival}' (constant, poisson)"),
            },
            MaxInFlight = a.GetInt("max-in-flight", 1024),
            PreciseTimer = a.Flag("precise-timer"),
            Warmup = a.GetDuration("warmup", TimeSpan.FromSeconds(2)),
            Duration = a.GetDuration("duration", TimeSpan.FromSeconds(10)),
            Requests = a.GetLong("requests", 0),
            MaxDuration = a.GetDuration("max-duration", TimeSpan.FromMinutes(10)),
            Seed = a.GetInt("seed", 42),
        };

        var steps = new List<LoadStepOptions>();
        if (template.Mode == LoadMode.Closed)
        {
            _ = a.Get("rate");
            foreach (double c in a.GetNumberList("concurrency", 1))
            {
                int n = (int)c;
                steps.Add(template with { Concurrency = n, Label = label });
            }
        }
        else
        {
            _ = a.Get("concurrency");
            foreach (double r in a.GetNumberList("rate", 100))
            {
                steps.Add(template with { Rate = r, Label = label });
            }
        }

        foreach (LoadStepOptions s in steps)
        {
            try
            {
                s.Validate();
            }
            catch (ArgumentException ex)
            {
                throw new UsageException(ex.Message);
            }
        }

        return steps;
    }

    private static async Task<int> RunCommandAsync(ArgReader a, string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        TargetSettings settings = ReadTargetSettings(a);
        List<LoadStepOptions> steps = ReadSteps(a);
        string? jsonPath = a.Get("json");
        string? csvPath = a.Get("csv");
        bool quiet = a.Flag("quiet");
        a.ThrowIfUnused();

        var started = DateTimeOffset.UtcNow;
        var results = new List<StepResult>();
        ILoadTarget target = TargetFactory.Create(settings);
        await using (target.ConfigureAwait(false))
        {
            for (int i = 0; i < steps.Count; i++)
            {
                LoadStepOptions step = steps[i];
                string prefix = string.Create(CultureInfo.InvariantCulture, $"[{i + 1}/{steps.Count} {Reports.LoadText(step)}]");
                long lastOk = 0;
                Action<ProgressSnapshot>? progress = quiet ? null : snap =>
                {
                    long delta = snap.Successes - lastOk;
                    lastOk = snap.Successes;
                    stderr.WriteLine(string.Create(
                        CultureInfo.InvariantCulture,
                        $"{prefix} {snap.Phase,-7} {snap.StepElapsed.TotalSeconds,6:F1}s ok={snap.Successes} err={snap.Errors} in-flight={snap.InFlight} ~{delta} req/s"));
                };

                StepResult result = await LoadEngine.RunStepAsync(target, step, progress, ct).ConfigureAwait(false);
                results.Add(result);
                if (ct.IsCancellationRequested)
                {
                    break;
                }
            }

            var info = new RunInfo(target.Description, "ig-load " + string.Join(' ', args), started)
            {
                EventsPerCall = settings.Kind == TargetKind.Ingest ? settings.EventsPerCall : 0,
            };
            Reports.WriteTable(stdout, info, results);
            if (jsonPath is not null)
            {
                EnsureDirectory(jsonPath);
                using FileStream fs = File.Create(jsonPath);
                Reports.WriteJson(fs, info, results);
            }

            if (csvPath is not null)
            {
                EnsureDirectory(csvPath);
                using var writer = new StreamWriter(csvPath, append: false, new UTF8Encoding(false));
                Reports.WriteCsv(writer, results, info.EventsPerCall);
            }
        }

        long ok = 0;
        foreach (StepResult r in results)
        {
            ok += r.Successes;
        }

        // Nothing succeeded: the target is wrong or down; a non-zero exit stops scripts from charting garbage.
        return ok > 0 ? 0 : 1;
    }

    private static async Task<int> FreshnessCommandAsync(ArgReader a, string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        string query = a.Get("query", "getfeatures")!;
        string models = a.Get("models-dir", "models")!;
        var options = new FreshnessOptions
        {
            Url = new Uri(a.Get("url", "http://127.0.0.1:50051")!),
            AllowRemote = a.Flag("allow-remote"),
            Trials = a.GetInt("trials", 1000),
            WarmupTrials = a.GetInt("warmup-trials", 20),
            Query = query switch
            {
                "getfeatures" => FreshnessQuery.GetFeatures,
                "predict" => FreshnessQuery.Predict,
                _ => throw new UsageException($"--query: unknown '{query}' (getfeatures, predict)"),
            },
            CallPerEvent = a.Flag("per-call"),
            Stream = a.Get("stream", TargetSettings.DefaultStream)!,
            Feature = a.Get("feature", "txn_count_10m")!,
            Model = a.Get("model", "fraud")!,
            Version = a.Get("version", "2")!,
            EventsFile = a.Get("events") ?? Path.Combine(models, "data", "transactions.csv.gz"),
            EventColumns = ReadEventColumns(a),
            EntityPrefix = a.Get("entity-prefix"),
            TrialTimeout = a.GetDuration("timeout", TimeSpan.FromSeconds(5)),
            Interval = a.GetDuration("interval", TimeSpan.Zero),
            MaxDuration = a.GetDuration("max-duration", TimeSpan.FromMinutes(10)),
        };
        string? jsonPath = a.Get("json");
        bool quiet = a.Flag("quiet");
        a.ThrowIfUnused();
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message);
        }

        FreshnessResult result = await FreshnessProbe.RunAsync(options, quiet ? null : line => stderr.WriteLine(line), ct).ConfigureAwait(false);
        FreshnessReport.WriteTable(stdout, result);
        if (jsonPath is not null)
        {
            EnsureDirectory(jsonPath);
            using FileStream fs = File.Create(jsonPath);
            FreshnessReport.WriteJson(fs, result, "ig-load " + string.Join(' ', args));
        }

        // Every event must have been applied and seen; anything else means the figures describe something else.
        bool clean = result.Visible > 0 && result.NotVisible == 0 && result.Rejected == 0 && result.DroppedLate == 0 && result.Accepted == result.Sent;
        return clean ? 0 : 1;
    }

    private static async Task<int> EchoServerCommandAsync(ArgReader a, TextWriter stdout, CancellationToken ct)
    {
        int port = a.GetInt("port", 50052);
        int responseBytes = a.GetInt("response-bytes", 64);
        TimeSpan lifetime = a.GetDuration("lifetime", TimeSpan.FromHours(1));
        a.ThrowIfUnused();

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(lifetime);
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            stop.Cancel();
        });
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx =>
        {
            ctx.Cancel = true;
            stop.Cancel();
        });

        EchoServer server = await EchoServer.StartAsync(port, responseBytes, stop.Token).ConfigureAwait(false);
        await using (server.ConfigureAwait(false))
        {
            await stdout.WriteLineAsync(string.Create(
                CultureInfo.InvariantCulture,
                $"echo-server listening on http://127.0.0.1:{server.Port} (h2c, response frame {server.ResponseFrameLength} B)")).ConfigureAwait(false);
            await stdout.FlushAsync(ct).ConfigureAwait(false);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // SIGTERM, Ctrl+C or the lifetime bound.
            }
        }

        return 0;
    }

    private static int PayloadCommand(ArgReader a, TextWriter stdout)
    {
        TargetSettings settings = ReadTargetSettings(a);
        string output = a.Get("out") ?? throw new UsageException("payload needs --out FILE");
        a.ThrowIfUnused();

        if (settings.Kind == TargetKind.Ingest)
        {
            // One IngestEvents body (events-per-call frames), e.g. for h2load -d; its event times are rebased to now,
            // so it stays within the stream's allowed lateness only while no later events move the watermark on.
            IngestCalls calls = TargetFactory.IngestCalls(settings, framed: true);
            byte[] body = calls.Bodies![0];
            EnsureDirectory(output);
            File.WriteAllBytes(output, body);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {output}: {calls.EventsPerCall} gRPC frames, {body.Length} B (Event)"));
            return 0;
        }

        IMessage message = settings.Kind switch
        {
            TargetKind.KServe or TargetKind.Raw => TargetFactory.InferRequests(settings)[0],
            TargetKind.Predict => TargetFactory.PredictRequests(settings)[0],
            _ => throw new UsageException("payload supports --target kserve, predict or ingest"),
        };
        byte[] frame = GrpcFrame.Encode(message);
        EnsureDirectory(output);
        File.WriteAllBytes(output, frame);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {output}: gRPC frame of {frame.Length} B ({message.Descriptor.Name})"));
        return 0;
    }

    private static int PlotCommand(ArgReader a, TextWriter stdout)
    {
        IReadOnlyList<string> inputs = a.GetAll("csv");
        string output = a.Get("out") ?? throw new UsageException("plot needs --out FILE");
        string title = a.Get("title", "Latency vs throughput")!;
        a.ThrowIfUnused();
        if (inputs.Count == 0)
        {
            throw new UsageException("plot needs at least one --csv FILE");
        }

        var series = new List<PlotSeries>();
        foreach (string input in inputs)
        {
            series.Add(SvgPlot.ReadCsv(input));
        }

        EnsureDirectory(output);
        File.WriteAllText(output, SvgPlot.Render(series, title));
        stdout.WriteLine($"wrote {output}");
        return 0;
    }

    private static int OrtCommand(ArgReader a, TextWriter stdout, CancellationToken ct)
    {
        var options = new OrtCeilingOptions
        {
            ModelPath = a.Get("model-file") ?? throw new UsageException("ort needs --model-file PATH"),
            BatchSize = a.GetInt("batch", 64),
            IntraOpThreads = a.GetInt("intra-op-threads", 0),
            Warmup = a.GetDuration("warmup", TimeSpan.FromSeconds(2)),
            Duration = a.GetDuration("duration", TimeSpan.FromSeconds(8)),
            Seed = a.GetInt("seed", 42),
            Parallel = a.GetInt("parallel", 1),
        };
        string? jsonPath = a.Get("json");
        a.ThrowIfUnused();

        OrtCeilingResult result = OrtCeiling.Run(options, ct);
        stdout.WriteLine(OrtCeiling.Describe(result));
        if (jsonPath is not null)
        {
            EnsureDirectory(jsonPath);
            using FileStream fs = File.Create(jsonPath);
            OrtCeiling.WriteJson(fs, result);
        }

        return 0;
    }

    private static async Task<int> SideBySideCommandAsync(ArgReader a, TextWriter stdout, CancellationToken ct)
    {
        TargetSettings settings = ReadTargetSettings(a);
        if (settings.Kind != TargetKind.KServe)
        {
            throw new UsageException("side-by-side compares ModelInfer (--target kserve) with ORT's own run");
        }

        var options = new SideBySideOptions
        {
            ModelPath = a.Get("model-file") ?? throw new UsageException("side-by-side needs --model-file PATH"),
            BatchSize = settings.RowsPerRequest,
            IntraOpThreads = a.GetInt("intra-op-threads", 0),
            Block = a.GetDuration("block", TimeSpan.FromMilliseconds(250)),
            Settle = a.GetDuration("settle", TimeSpan.FromMilliseconds(50)),
            Pairs = a.GetInt("pairs", 40),
            Warmup = a.GetDuration("warmup", TimeSpan.FromSeconds(3)),
        };
        bool withTransport = a.Flag("with-transport");
        string? jsonPath = a.Get("json");
        a.ThrowIfUnused();

        ILoadTarget target = TargetFactory.Create(settings);
        await using (target.ConfigureAwait(false))
        {
            // ServerLive (an empty message): a call through the same client and server that does no work.
            ILoadTarget? transport = withTransport
                ? new H2GrpcTarget(settings.Url, "/inference.GRPCInferenceService/ServerLive", [new byte[5]], 1, settings.Timeout, "ServerLive")
                : null;
            SideBySideResult result;
            try
            {
                result = await SideBySide.RunAsync(options, target, transport, ct).ConfigureAwait(false);
            }
            finally
            {
                if (transport is not null)
                {
                    await transport.DisposeAsync().ConfigureAwait(false);
                }
            }

            stdout.WriteLine(SideBySide.Describe(result));
            if (jsonPath is not null)
            {
                EnsureDirectory(jsonPath);
                using FileStream fs = File.Create(jsonPath);
                SideBySide.WriteJson(fs, result, options);
            }

            return result.GatewayErrors == 0 ? 0 : 1;
        }
    }

    private static void EnsureDirectory(string file)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(file));
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }
    }
}
