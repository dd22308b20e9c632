using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Contracts.Gateway;
using InferenceGateway.LoadTest.Engine;
using InferenceGateway.LoadTest.Histogram;
using InferenceGateway.LoadTest.Targets;

namespace InferenceGateway.LoadTest.Freshness;

/// <summary>How the probe asks whether an event is visible yet.</summary>
public enum FreshnessQuery
{
    /// <summary><c>GetFeatures(entity, [feature], as_of = event time + 1 ms)</c>.</summary>
    GetFeatures,

    /// <summary><c>Predict</c> of the model version with <c>return_features</c>, event time = event time + 1 ms.</summary>
    Predict,
}

/// <summary>Settings of <see cref="FreshnessProbe"/>.</summary>
public sealed record FreshnessOptions
{
    /// <summary>Server address.</summary>
    public Uri Url { get; init; } = new("http://127.0.0.1:50051");

    /// <summary>Permit a non-loopback address.</summary>
    public bool AllowRemote { get; init; }

    /// <summary>Measured trials (one event for a fresh entity each).</summary>
    public int Trials { get; init; } = 1000;

    /// <summary>Trials before those, not recorded (JIT, connections, pools).</summary>
    public int WarmupTrials { get; init; } = 20;

    /// <summary>How visibility is polled.</summary>
    public FreshnessQuery Query { get; init; } = FreshnessQuery.GetFeatures;

    /// <summary>
    /// False (default): every event goes over one long-lived IngestEvents stream. True: each event is its own
    /// IngestEvents call, so its acknowledgement can be timed too.
    /// </summary>
    public bool CallPerEvent { get; init; }

    /// <summary>Stream of the events.</summary>
    public string Stream { get; init; } = TargetSettings.DefaultStream;

    /// <summary>A windowed aggregation over <see cref="Stream"/>: defaulted for an entity without events, not once one is in its window.</summary>
    public string Feature { get; init; } = "txn_count_10m";

    /// <summary>Predict polling: model.</summary>
    public string Model { get; init; } = "fraud";

    /// <summary>Predict polling: version (it must list <see cref="Feature"/>).</summary>
    public string Version { get; init; } = "2";

    /// <summary>CSV whose first row is the template of every event (its fields; entity and time are replaced).</summary>
    public string EventsFile { get; init; } = Path.Combine("models", "data", "transactions.csv.gz");

    /// <summary>Entity and time columns of <see cref="EventsFile"/>.</summary>
    public EventColumns EventColumns { get; init; } = new();

    /// <summary>Entity id prefix; null picks <c>fresh-</c> and a random run id, so repeated runs never reuse an entity.</summary>
    public string? EntityPrefix { get; init; }

    /// <summary>A trial whose event is not visible after this long is counted as not visible and the probe moves on.</summary>
    public TimeSpan TrialTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Pause between trials.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.Zero;

    /// <summary>The whole probe stops after this long, whatever is left.</summary>
    public TimeSpan MaxDuration { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Checks ranges; throws <see cref="ArgumentException"/> naming the setting.</summary>
    public void Validate()
    {
        if (Trials < 1)
        {
            throw new ArgumentException("trials must be at least 1");
        }

        if (WarmupTrials < 0)
        {
            throw new ArgumentException("warmup-trials must not be negative");
        }

        if (TrialTimeout <= TimeSpan.Zero || MaxDuration <= TimeSpan.Zero || Interval < TimeSpan.Zero)
        {
            throw new ArgumentException("timeout and max-duration must be positive, interval not negative");
        }

        if (string.IsNullOrEmpty(Feature) || string.IsNullOrEmpty(Stream))
        {
            throw new ArgumentException("feature and stream must not be empty");
        }
    }
}

/// <summary>What <see cref="FreshnessProbe"/> measured; latencies in nanoseconds.</summary>
public sealed class FreshnessResult
{
    /// <summary>The settings of the run.</summary>
    public required FreshnessOptions Options { get; init; }

    /// <summary>From just before the event was handed to the client library to the first poll answer that showed it.</summary>
    public LatencyHistogram SendToVisible { get; } = new();

    /// <summary>Call per event only: from the send to the IngestSummary's arrival.</summary>
    public LatencyHistogram? SendToAcknowledged { get; init; }

    /// <summary>Call per event only: from the IngestSummary's arrival to the first poll answer that showed the event.</summary>
    public LatencyHistogram? AcknowledgedToVisible { get; init; }

    /// <summary>Round trip of every measured poll (the resolution of the figures above).</summary>
    public LatencyHistogram PollRoundTrip { get; } = new();

    /// <summary>Measured trials whose event became visible.</summary>
    public long Visible { get; set; }

    /// <summary>Measured trials whose event was not visible within the trial timeout.</summary>
    public long NotVisible { get; set; }

    /// <summary>Polls of measured trials after the event was sent.</summary>
    public long Polls { get; set; }

    /// <summary>Measured trials whose first poll after the send already showed the event.</summary>
    public long VisibleOnFirstPoll { get; set; }

    /// <summary>The IngestSummary counts over all events sent (warm-up included).</summary>
    public long Accepted { get; set; }

    /// <summary>Events dropped as late, per the summaries.</summary>
    public long DroppedLate { get; set; }

    /// <summary>Events rejected, per the summaries.</summary>
    public long Rejected { get; set; }

    /// <summary>The first rejection's reason, if any.</summary>
    public string FirstRejection { get; set; } = string.Empty;

    /// <summary>Events sent (warm-up included).</summary>
    public long Sent { get; set; }

    /// <summary>Wall time of the whole probe.</summary>
    public TimeSpan Elapsed { get; set; }

    /// <summary>Whether the run stopped early (max duration or cancellation).</summary>
    public bool Stopped { get; set; }
}

/// <summary>
/// Freshness over gRPC: how soon an ingested event is visible to a lookup. Each trial sends one event for an entity
/// never seen before and polls, back to back, until the lookup shows it (the feature is no longer defaulted).
/// <para>
/// IngestEvents acknowledges only when the client ends the call, while the gateway applies each event as soon as it
/// reads it off the stream. So over one long-lived stream (the default, what a producer feeding the gateway does)
/// there is no per-event acknowledgement, and what is measured is <b>send to visible</b>: from just before the event
/// is handed to the client library to the arrival of the first poll answer that shows it. That covers the client's
/// write, loopback, the server reading and applying the event, and the poll that finds it; it overstates the true
/// send-to-applied time by up to about one poll round trip (polls run back to back, and the one that sees the event
/// started after it was applied), which is reported beside it. With <see cref="FreshnessOptions.CallPerEvent"/> each
/// event is its own call and the acknowledgement is timed too; it arrives after the event was applied, so
/// acknowledged-to-visible is one poll, never negative.
/// </para>
/// Events and polls travel on separate HTTP/2 connections (two channels), as a producer and a scoring service would.
/// </summary>
public static class FreshnessProbe
{
    /// <summary>Runs the trials; <paramref name="progress"/> gets a line about once a second.</summary>
    public static async Task<FreshnessResult> RunAsync(FreshnessOptions options, Action<string>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        TargetFactory.EnsureAllowed(options.Url, options.AllowRemote);
        EventTable template = EventTable.Load(options.EventsFile, options.EventColumns, maxRows: 1_000);
        string prefix = options.EntityPrefix ?? "fresh-" + Guid.NewGuid().ToString("N")[..8] + "-";
        var result = new FreshnessResult
        {
            Options = options,
            SendToAcknowledged = options.CallPerEvent ? new LatencyHistogram() : null,
            AcknowledgedToVisible = options.CallPerEvent ? new LatencyHistogram() : null,
        };

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(options.MaxDuration);
        using GrpcChannel ingestChannel = GrpcChannel.ForAddress(options.Url);
        using GrpcChannel queryChannel = GrpcChannel.ForAddress(options.Url);
        var ingest = new Gateway.GatewayClient(ingestChannel);
        var poller = new Poller(new Gateway.GatewayClient(queryChannel), options, template);
        long started = Stopwatch.GetTimestamp();
        long nextProgress = started + Stopwatch.Frequency;

        AsyncClientStreamingCall<Event, IngestSummary>? stream = options.CallPerEvent ? null : ingest.IngestEvents(cancellationToken: stop.Token);
        try
        {
            int total = options.WarmupTrials + options.Trials;
            for (int i = 0; i < total && !stop.IsCancellationRequested; i++)
            {
                bool measured = i >= options.WarmupTrials;
                string entity = prefix + i.ToString(CultureInfo.InvariantCulture);
                long eventTime = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

                // Before the event: the entity must show nothing, or the feature cannot tell us anything.
                if ((await poller.PollAsync(entity, eventTime + 1, stop.Token).ConfigureAwait(false)).Visible)
                {
                    throw new InvalidOperationException(
                        $"'{options.Feature}' of the new entity '{entity}' is not defaulted before any event: pick a windowed aggregation over stream '{options.Stream}'");
                }

                Event e = EventPayloads.CreateEvent(template, 0, options.Stream, entity, eventTime);
                long sent = Stopwatch.GetTimestamp();
                long acknowledged = 0;
                result.Sent++;
                if (stream is not null)
                {
                    await stream.RequestStream.WriteAsync(e, stop.Token).ConfigureAwait(false);
                }
                else
                {
                    using AsyncClientStreamingCall<Event, IngestSummary> call = ingest.IngestEvents(deadline: DateTime.UtcNow + options.TrialTimeout, cancellationToken: stop.Token);
                    await call.RequestStream.WriteAsync(e, stop.Token).ConfigureAwait(false);
                    await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                    Count(result, await call.ResponseAsync.ConfigureAwait(false));
                    acknowledged = Stopwatch.GetTimestamp();
                }

                long giveUp = sent + (long)(options.TrialTimeout.TotalSeconds * Stopwatch.Frequency);
                int polls = 0;
                long visibleAt = 0;
                while (visibleAt == 0 && Stopwatch.GetTimestamp() < giveUp)
                {
                    long p0 = Stopwatch.GetTimestamp();
                    PollAnswer answer = await poller.PollAsync(entity, eventTime + 1, stop.Token).ConfigureAwait(false);
                    long p1 = Stopwatch.GetTimestamp();
                    polls++;
                    if (measured)
                    {
                        result.PollRoundTrip.RecordValue(Nanos(p1 - p0));
                    }

                    if (answer.Visible)
                    {
                        visibleAt = p1;
                    }
                }

                if (measured)
                {
                    result.Polls += polls;
                    if (visibleAt == 0)
                    {
                        result.NotVisible++;
                    }
                    else
                    {
                        result.Visible++;
                        result.VisibleOnFirstPoll += polls == 1 ? 1 : 0;
                        result.SendToVisible.RecordValue(Nanos(visibleAt - sent));
                        if (acknowledged != 0)
                        {
                            result.SendToAcknowledged!.RecordValue(Nanos(acknowledged - sent));
                            result.AcknowledgedToVisible!.RecordValue(Nanos(visibleAt - acknowledged));
                        }
                    }
                }

                long now = Stopwatch.GetTimestamp();
                if (progress is not null && now >= nextProgress)
                {
                    nextProgress = now + Stopwatch.Frequency;
                    progress(string.Create(CultureInfo.InvariantCulture, $"freshness {(measured ? "measure" : "warmup")} trial {i + 1}/{total}: visible {result.Visible}, not visible {result.NotVisible}"));
                }

                if (options.Interval > TimeSpan.Zero)
                {
                    await Task.Delay(options.Interval, stop.Token).ConfigureAwait(false);
                }
            }

            if (stream is not null)
            {
                await stream.RequestStream.CompleteAsync().ConfigureAwait(false);
                Count(result, await stream.ResponseAsync.WaitAsync(options.TrialTimeout, stop.Token).ConfigureAwait(false));
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            result.Stopped = true;
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && stop.IsCancellationRequested)
        {
            result.Stopped = true;
        }
        finally
        {
            stream?.Dispose();
            result.Elapsed = Stopwatch.GetElapsedTime(started);
        }

        return result;
    }

    private static void Count(FreshnessResult result, IngestSummary summary)
    {
        result.Accepted += summary.Accepted;
        result.DroppedLate += summary.DroppedLate;
        result.Rejected += summary.Rejected;
        if (result.FirstRejection.Length == 0)
        {
            result.FirstRejection = summary.FirstRejection;
        }
    }

    private static long Nanos(long ticks) => LoadEngine.TicksToNanos(ticks);

    private readonly record struct PollAnswer(bool Visible);

    /// <summary>One lookup of the probed feature for an entity, through GetFeatures or Predict.</summary>
    private sealed class Poller
    {
        private readonly Gateway.GatewayClient _client;
        private readonly FreshnessOptions _options;
        private readonly EventTable _template;

        public Poller(Gateway.GatewayClient client, FreshnessOptions options, EventTable template)
        {
            _client = client;
            _options = options;
            _template = template;
        }

        public async Task<PollAnswer> PollAsync(string entity, long asOfUnixMs, CancellationToken cancellationToken)
        {
            DateTime deadline = DateTime.UtcNow + _options.TrialTimeout;
            if (_options.Query == FreshnessQuery.GetFeatures)
            {
                var request = new GetFeaturesRequest { EntityId = entity, AsOfUnixMs = asOfUnixMs };
                request.Names.Add(_options.Feature);
                GetFeaturesResponse response = await _client.GetFeaturesAsync(request, deadline: deadline, cancellationToken: cancellationToken).ConfigureAwait(false);
                return new PollAnswer(response.Features.Count == 1 && !response.Features[0].Defaulted);
            }

            // The template row's fields as request-time inputs, as the ingest target's predict requests carry them.
            Event fields = EventPayloads.CreateEvent(_template, 0, _options.Stream, entity, asOfUnixMs);
            var predict = new PredictRequest
            {
                Model = _options.Model,
                Version = _options.Version,
                EntityId = entity,
                EventTimeUnixMs = asOfUnixMs,
                ReturnFeatures = true,
            };
            predict.Features.Add(fields.Numbers);
            predict.Attributes.Add(fields.Strings);
            PredictResponse answer = await _client.PredictAsync(predict, deadline: deadline, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (Contracts.Gateway.FeatureValue f in answer.Features)
            {
                if (f.Name == _options.Feature)
                {
                    return new PollAnswer(!f.Defaulted);
                }
            }

            throw new InvalidOperationException($"{_options.Model}/{_options.Version} does not list feature '{_options.Feature}'");
        }
    }
}
