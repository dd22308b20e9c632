using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.Collections;
using InferenceGateway.Contracts.Gateway;

namespace InferenceGateway.LoadTest.Targets;

/// <summary>
/// IngestEvents calls built before a run, in send order: each call's events either as one request body of consecutive
/// gRPC frames (<see cref="Bodies"/>, what the h2 client sends) or as separate serialized messages (<see cref="Messages"/>,
/// what a gRPC library writes one by one).
/// </summary>
/// <param name="EventsPerCall">Events in each call.</param>
/// <param name="Rows">Rows of the file the events come from.</param>
/// <param name="Passes">Times the file is laid out, one pass after the other in event time.</param>
/// <param name="Entities">Distinct entity ids the events carry.</param>
/// <param name="FirstTime">Earliest event time sent (Unix ms, after rebasing).</param>
/// <param name="LastTime">Latest event time sent (Unix ms, after rebasing).</param>
public sealed record IngestCalls(int EventsPerCall, int Rows, int Passes, int Entities, long FirstTime, long LastTime)
{
    /// <summary>Per call, one body of <see cref="EventsPerCall"/> framed messages; null when built as messages.</summary>
    public IReadOnlyList<byte[]>? Bodies { get; init; }

    /// <summary>Per call, its serialized messages without frame prefix; null when built as bodies.</summary>
    public IReadOnlyList<byte[][]>? Messages { get; init; }

    /// <summary>Number of calls.</summary>
    public int Count => Bodies?.Count ?? Messages?.Count ?? 0;
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
    /// IngestEvents calls of <paramref name="eventsPerCall"/> events each: the rows in file order, <paramref name="passes"/>
    /// times over, the last call wrapping round to the first rows so every call is the same size (events/s is calls/s
    /// times the size). Event times are rebased into the minute before <paramref name="nowUnixMs"/>, each pass into its
    /// own slice of it in order (<see cref="EventTable.RebasedTimes"/>), so that a run sending up to every pass finds
    /// each entity's events arriving after the ones it holds, as live traffic does, instead of landing inside its
    /// history. With <paramref name="spreadEntities"/> &gt; 0 row <c>i</c> goes to entity <c>entity-(i mod spreadEntities)</c>,
    /// otherwise to the file's own entity id. <paramref name="framed"/> builds <see cref="IngestCalls.Bodies"/>, else
    /// <see cref="IngestCalls.Messages"/>; a pass's messages are kept only while its calls are built.
    /// </summary>
    public static IngestCalls BuildIngestCalls(EventTable table, string stream, int eventsPerCall, int spreadEntities, long nowUnixMs, int passes = 1, bool framed = false)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(eventsPerCall, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(passes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(passes, (int)(RebaseWindowMs / 2));
        long slice = RebaseWindowMs / passes;
        long total = (long)table.Count * passes;
        long callCount = (total + eventsPerCall - 1) / eventsPerCall;
        if (callCount > int.MaxValue / 2)
        {
            throw new ArgumentException($"{passes} passes of {table.Count} rows are too many calls", nameof(passes));
        }

        long[] PassTimes(int pass) => table.RebasedTimes(nowUnixMs - ((passes - 1 - pass) * slice), slice);
        byte[] Build(int row, long[] times) =>
            CreateEvent(table, row, stream, EntityOf(table, row, spreadEntities), times[row]).ToByteArray();

        var bodies = framed ? new List<byte[]>((int)callCount) : null;
        var messages = framed ? null : new List<byte[][]>((int)callCount);
        int cachedPass = -1;
        byte[][] cache = new byte[table.Count][];
        long[] cacheTimes = [];
        long first = long.MaxValue;
        var call = new byte[eventsPerCall][];
        for (long c = 0; c < callCount; c++)
        {
            for (int j = 0; j < eventsPerCall; j++)
            {
                long g = ((c * eventsPerCall) + j) % total;
                int pass = (int)(g / table.Count);
                int row = (int)(g % table.Count);
                if (pass != cachedPass)
                {
                    // One pass's messages at a time: a call that wraps round to the start rebuilds its few events.
                    cachedPass = pass;
                    cacheTimes = PassTimes(pass);
                    Array.Clear(cache);
                    first = Math.Min(first, cacheTimes.Min());
                }

                call[j] = cache[row] ??= Build(row, cacheTimes);
            }

            if (framed)
            {
                bodies!.Add(Frame(call));
            }
            else
            {
                messages!.Add((byte[][])call.Clone());
            }
        }

        int entities = spreadEntities > 0 ? Math.Min(spreadEntities, table.Count) : table.DistinctEntities;
        return new IngestCalls(eventsPerCall, table.Count, passes, entities, first, nowUnixMs - 1) { Bodies = bodies, Messages = messages };
    }

    /// <summary>Serialized messages as one request body of consecutive uncompressed gRPC frames.</summary>
    public static byte[] Frame(IReadOnlyList<byte[]> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        int length = 0;
        foreach (byte[] message in messages)
        {
            length += GrpcFrame.HeaderLength + message.Length;
        }

        var body = new byte[length];
        int at = 0;
        foreach (byte[] message in messages)
        {
            body[at] = 0;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(at + 1), (uint)message.Length);
            message.CopyTo(body, at + GrpcFrame.HeaderLength);
            at += GrpcFrame.HeaderLength + message.Length;
        }

        return body;
    }

    /// <summary>One event of <paramref name="stream"/> from row <paramref name="row"/>: its numeric cells as numbers, the others as strings (empty cells left out).</summary>
    public static Event CreateEvent(EventTable table, int row, string stream, string entityId, long eventTimeUnixMs)
    {
        ArgumentNullException.ThrowIfNull(table);
        var e = new Event { Stream = stream, EntityId = entityId, EventTimeUnixMs = eventTimeUnixMs };
        CopyRow(table, row, e.Numbers, e.Strings);
        return e;
    }

    // A row's numeric cells into numbers, its other cells into strings (empty cells left out).
    private static void CopyRow(EventTable table, int row, MapField<string, double> numbers, MapField<string, string> strings)
    {
        for (int c = 0; c < table.NumberNames.Count; c++)
        {
            double v = table.Numbers[c][row];
            if (!double.IsNaN(v))
            {
                numbers[table.NumberNames[c]] = v;
            }
        }

        for (int c = 0; c < table.StringNames.Count; c++)
        {
            if (table.Strings[c][row] is { } s)
            {
                strings[table.StringNames[c]] = s;
            }
        }
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
            CopyRow(table, r, request.Features, request.Attributes);
            list.Add(request);
        }

        return list;
    }

    private static string EntityOf(EventTable table, int row, int spreadEntities) =>
        spreadEntities > 0 ? SpreadPrefix + (row % spreadEntities).ToString(CultureInfo.InvariantCulture) : table.Entities[row];
}
