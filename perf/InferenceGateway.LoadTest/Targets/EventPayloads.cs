using System.Globalization;
using Google.Protobuf;
using InferenceGateway.Contracts.Gateway;

namespace InferenceGateway.LoadTest.Targets;

/// <summary>IngestEvents calls built before a run: each call's serialized <see cref="Event"/> messages, in send order.</summary>
/// <param name="Calls">Per call, its messages (no frame prefix); every call holds <paramref name="EventsPerCall"/> events.</param>
/// <param name="EventsPerCall">Events in each call.</param>
/// <param name="Rows">Rows of the file the events come from (the calls cover each at least once).</param>
/// <param name="Entities">Distinct entity ids the events carry.</param>
/// <param name="FirstTime">Earliest event time sent (Unix ms, after rebasing).</param>
/// <param name="LastTime">Latest event time sent (Unix ms, after rebasing).</param>
public sealed record IngestCalls(IReadOnlyList<byte[][]> Calls, int EventsPerCall, int Rows, int Entities, long FirstTime, long LastTime)
{
    /// <summary>Each call as one request body: its events as consecutive gRPC frames (what a client-streaming call sends).</summary>
    public List<byte[]> FramedBodies()
    {
        var bodies = new List<byte[]>(Calls.Count);
        foreach (byte[][] call in Calls)
        {
            int length = 0;
            foreach (byte[] message in call)
            {
                length += GrpcFrame.HeaderLength + message.Length;
            }

            var body = new byte[length];
            int at = 0;
            foreach (byte[] message in call)
            {
                GrpcFrame.Encode(message).CopyTo(body, at);
                at += GrpcFrame.HeaderLength + message.Length;
            }

            bodies.Add(body);
        }

        return bodies;
    }
}

/// <summary>
/// Requests built from the rows of an events CSV (<see cref="EventTable"/>): IngestEvents calls of a stream's events,
/// and Predict requests that carry the same fields as request-time inputs.
/// </summary>
public static class EventPayloads
{
    /// <summary>Where a row's events land when spread: <c>entity-</c> plus the row index modulo the count (as the predict target names entities).</summary>
    public const string SpreadPrefix = "entity-";

    /// <summary>How far before the run the rebased event times start: well inside a stream's allowed lateness (5 min for the bundled one).</summary>
    public const long RebaseWindowMs = 60_000;

    /// <summary>
    /// IngestEvents calls of <paramref name="eventsPerCall"/> events each, the rows in file order (the last call wraps
    /// round to the first rows, so every call is the same size and events/s is calls/s times the size). Event times are
    /// rebased into the minute before <paramref name="nowUnixMs"/> (<see cref="EventTable.RebasedTimes"/>); with
    /// <paramref name="spreadEntities"/> &gt; 0 row <c>i</c> goes to entity <c>entity-(i mod spreadEntities)</c>,
    /// otherwise to the file's own entity id.
    /// </summary>
    public static IngestCalls BuildIngestCalls(EventTable table, string stream, int eventsPerCall, int spreadEntities, long nowUnixMs)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(eventsPerCall, 1);
        long[] times = table.RebasedTimes(nowUnixMs, RebaseWindowMs);
        var messages = new byte[table.Count][];
        for (int r = 0; r < table.Count; r++)
        {
            messages[r] = CreateEvent(table, r, stream, EntityOf(table, r, spreadEntities), times[r]).ToByteArray();
        }

        int calls = (int)((table.Count + (long)eventsPerCall - 1) / eventsPerCall);
        var list = new List<byte[][]>(calls);
        for (int c = 0; c < calls; c++)
        {
            var call = new byte[eventsPerCall][];
            for (int j = 0; j < eventsPerCall; j++)
            {
                call[j] = messages[(int)((((long)c * eventsPerCall) + j) % table.Count)];
            }

            list.Add(call);
        }

        int entities = spreadEntities > 0 ? Math.Min(spreadEntities, table.Count) : table.DistinctEntities;
        return new IngestCalls(list, eventsPerCall, table.Count, entities, times.Min(), times.Max());
    }

    /// <summary>One event of <paramref name="stream"/> from row <paramref name="row"/>: its numeric cells as numbers, the others as strings (empty cells left out).</summary>
    public static Event CreateEvent(EventTable table, int row, string stream, string entityId, long eventTimeUnixMs)
    {
        ArgumentNullException.ThrowIfNull(table);
        var e = new Event { Stream = stream, EntityId = entityId, EventTimeUnixMs = eventTimeUnixMs };
        for (int c = 0; c < table.NumberNames.Count; c++)
        {
            double v = table.Numbers[c][row];
            if (!double.IsNaN(v))
            {
                e.Numbers[table.NumberNames[c]] = v;
            }
        }

        for (int c = 0; c < table.StringNames.Count; c++)
        {
            if (table.Strings[c][row] is { } s)
            {
                e.Strings[table.StringNames[c]] = s;
            }
        }

        return e;
    }

    /// <summary>
    /// One Predict request per row: the row's numeric cells as <c>features</c>, its strings as <c>attributes</c>, the
    /// entity as for <see cref="IngestCalls"/>, and event time 0 (the gateway's now), so the streaming features are
    /// computed over whatever the entity's state holds when the request arrives.
    /// </summary>
    public static List<PredictRequest> PredictRequests(EventTable table, string model, string version, int spreadEntities)
    {
        ArgumentNullException.ThrowIfNull(table);
        var list = new List<PredictRequest>(table.Count);
        for (int r = 0; r < table.Count; r++)
        {
            var request = new PredictRequest { Model = model, Version = version ?? string.Empty, EntityId = EntityOf(table, r, spreadEntities) };
            for (int c = 0; c < table.NumberNames.Count; c++)
            {
                double v = table.Numbers[c][r];
                if (!double.IsNaN(v))
                {
                    request.Features[table.NumberNames[c]] = v;
                }
            }

            for (int c = 0; c < table.StringNames.Count; c++)
            {
                if (table.Strings[c][r] is { } s)
                {
                    request.Attributes[table.StringNames[c]] = s;
                }
            }

            list.Add(request);
        }

        return list;
    }

    private static string EntityOf(EventTable table, int row, int spreadEntities) =>
        spreadEntities > 0 ? SpreadPrefix + (row % spreadEntities).ToString(CultureInfo.InvariantCulture) : table.Entities[row];
}
