using System.Diagnostics;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using InferenceGateway.Core.Features.Internal;

namespace InferenceGateway.Core.Features;

/// <summary>
/// Snapshot format, version 1 (little-endian; "varint" is .NET's 7-bit encoding, strings are varint-length UTF-8):
/// <code>
/// "IGFEATSN" | int32 version | int64 written_unix_ms | int32 streams
/// per stream: string name | int64 watermark | int32 columns | per column: string field, byte kind (0 fixed, 1 float, 2 string), byte decimals (255: none)
///             then per entity: byte 1 | string id | varint n | int64 first time | n-1 varint time deltas
///                              | per column: fixed: n zigzag varints (scaled values) | float: n float64
///                                            string: varint slots, per slot byte present (+ string), then n varint ids
///             byte 0 | int64 entities
/// SHA-256 of everything above (32 bytes)
/// </code>
/// Written to a temporary file, flushed to disk and renamed over the old one, so a crash mid-write leaves the previous
/// snapshot. Restoring checks the checksum over the whole file before parsing anything, then every count and order,
/// and installs nothing unless all of it is sound.
/// </summary>
public sealed partial class FeatureEngine
{
    private const int SnapshotVersion = 1;
    private const int ChecksumBytes = 32;
    private const byte NoDecimals = 255;
    private static readonly byte[] s_magic = "IGFEATSN"u8.ToArray();

    /// <summary>
    /// Writes the state to <paramref name="path"/> (atomically: temporary file, flush, rename). Each entity is copied
    /// under its lock, so ingest and lookups go on meanwhile; the snapshot is consistent per entity, not across them.
    /// </summary>
    /// <exception cref="IOException">The file could not be written (the previous snapshot, if any, is left intact).</exception>
    /// <exception cref="UnauthorizedAccessException">The folder or file may not be written (likewise).</exception>
    public SnapshotWriteResult SaveSnapshot(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var started = Stopwatch.GetTimestamp();
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + ".tmp";
        long entities = 0, events = 0, fileBytes;
        try
        {
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                using var output = new HashingStream(file, hash);
                using var writer = new BinaryWriter(output, Encoding.UTF8, leaveOpen: true);
                using var buffer = new MemoryStream();
                using var entityWriter = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true);
                writer.Write(s_magic);
                writer.Write(SnapshotVersion);
                writer.Write(_time.GetUtcNow().ToUnixTimeMilliseconds());
                writer.Write(_streams.Length);
                foreach (var stream in _streams)
                {
                    writer.Write(stream.Name);
                    writer.Write(stream.Watermark);
                    writer.Write(stream.Columns.Length);
                    foreach (var column in stream.Columns)
                    {
                        writer.Write(column.Name);
                        writer.Write((byte)column.Kind);
                        writer.Write(column.Field.Decimals is { } d ? (byte)d : NoDecimals);
                    }

                    long streamEntities = 0;
                    foreach (var pair in stream.Entities)
                    {
                        var entity = pair.Value;
                        buffer.SetLength(0);
                        lock (_stripes[entity.Stripe])
                        {
                            if (entity.Removed || entity.Count == 0)
                            {
                                continue;
                            }

                            WriteEntity(entityWriter, stream, entity);
                            events += entity.Count;
                        }

                        // The file write happens outside the lock.
                        entityWriter.Flush();
                        writer.Write((byte)1);
                        writer.Flush();
                        buffer.WriteTo(output);
                        streamEntities++;
                    }

                    writer.Write((byte)0);
                    writer.Write(streamEntities);
                    entities += streamEntities;
                }

                writer.Flush();
                file.Write(hash.GetHashAndReset());
                file.Flush(flushToDisk: true);
                fileBytes = file.Length;
            }

            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        _metrics?.SnapshotDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("operation", "write"));
        return new SnapshotWriteResult(full, entities, events, fileBytes, elapsed);
    }

    /// <summary>
    /// Loads a snapshot into this engine (meant for start-up, before ingest begins). Never throws for the file's
    /// content or I/O: a missing, truncated, corrupt, unreadable or other-version file gives a status and a message and
    /// leaves the engine as it was. Streams the definitions no longer have, or whose stored fields changed, are skipped
    /// and listed; events behind the horizon go at the next maintenance.
    /// </summary>
    public SnapshotRestoreResult RestoreSnapshot(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var started = Stopwatch.GetTimestamp();
        SnapshotRestoreResult Result(SnapshotRestoreStatus status, string? message, long entities = 0, long events = 0, IReadOnlyList<string>? skipped = null) =>
            new(status, path, message, entities, events, skipped ?? [], Stopwatch.GetElapsedTime(started));

        if (!File.Exists(path))
        {
            return Result(SnapshotRestoreStatus.NotFound, "no snapshot file");
        }

        List<(StreamRuntime Stream, long Watermark, List<EntityState> Entities)> staged;
        var skipped = new List<string>();
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            var length = file.Length;
            if (length < s_magic.Length + 16 + ChecksumBytes)
            {
                return Result(SnapshotRestoreStatus.Corrupt, $"truncated: {length} bytes");
            }

            if (!ChecksumMatches(file, length))
            {
                return Result(SnapshotRestoreStatus.Corrupt, "checksum mismatch (truncated or damaged)");
            }

            file.Position = 0;
            using var reader = new BinaryReader(file, Encoding.UTF8, leaveOpen: true);
            var magic = reader.ReadBytes(s_magic.Length);
            if (!magic.AsSpan().SequenceEqual(s_magic))
            {
                return Result(SnapshotRestoreStatus.Corrupt, "not a feature state snapshot");
            }

            var version = reader.ReadInt32();
            if (version != SnapshotVersion)
            {
                return Result(SnapshotRestoreStatus.Incompatible, $"format version {version}; this build reads {SnapshotVersion}");
            }

            staged = ReadStreams(reader, length - ChecksumBytes, skipped);
            if (file.Position != length - ChecksumBytes)
            {
                return Result(SnapshotRestoreStatus.Corrupt, "trailing bytes after the last stream");
            }
        }
        catch (Exception ex) when (ex is EndOfStreamException or InvalidDataException or FormatException or OverflowException or ArgumentException or DecoderFallbackException)
        {
            return Result(SnapshotRestoreStatus.Corrupt, ex is EndOfStreamException ? "truncated" : ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Result(SnapshotRestoreStatus.Failed, ex.Message);
        }

        long restoredEntities = 0, restoredEvents = 0;
        foreach (var (stream, watermark, entities) in staged)
        {
            foreach (var entity in entities)
            {
                if (!stream.Entities.TryAdd(entity.Id, entity))
                {
                    continue; // Ingest got there first; its state wins.
                }

                Interlocked.Increment(ref stream.EntityCount);
                Interlocked.Increment(ref _totalEntities);
                lock (_stripes[entity.Stripe])
                {
                    entity.LastAccess = Interlocked.Increment(ref _accessClock);
                    UpdateBytesLocked(entity);
                }

                stream.AdvanceWatermark(entity.LastTime);
                restoredEntities++;
                restoredEvents += entity.Count;
            }

            stream.AdvanceWatermark(watermark);
        }

        var result = Result(SnapshotRestoreStatus.Restored, null, restoredEntities, restoredEvents, skipped);
        _metrics?.SnapshotDuration.Record(result.Duration.TotalSeconds, new KeyValuePair<string, object?>("operation", "restore"));
        if (IsOverCap())
        {
            EnforceCaps();
        }

        return result;
    }

    private static bool ChecksumMatches(FileStream file, long length)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        var remaining = length - ChecksumBytes;
        while (remaining > 0)
        {
            var read = file.Read(buffer, 0, (int)Math.Min(buffer.Length, remaining));
            if (read == 0)
            {
                throw new EndOfStreamException();
            }

            hash.AppendData(buffer, 0, read);
            remaining -= read;
        }

        Span<byte> stored = stackalloc byte[ChecksumBytes];
        file.ReadExactly(stored);
        return hash.GetHashAndReset().AsSpan().SequenceEqual(stored);
    }

    private static void WriteEntity(BinaryWriter writer, StreamRuntime stream, EntityState entity)
    {
        var n = entity.Count;
        var times = entity.Times;
        writer.Write(entity.Id);
        writer.Write7BitEncodedInt(n);
        writer.Write(times[0]);
        for (var i = 1; i < n; i++)
        {
            writer.Write7BitEncodedInt64(times[i] - times[i - 1]);
        }

        foreach (var column in stream.Columns)
        {
            switch (column.Kind)
            {
                case ColumnKind.Fixed:
                    for (var i = 0; i < n; i++)
                    {
                        var v = entity.FixedAt(column.Column, i);
                        writer.Write7BitEncodedInt64((v << 1) ^ (v >> 63));
                    }

                    break;
                case ColumnKind.Float:
                    for (var i = 0; i < n; i++)
                    {
                        writer.Write(entity.FloatAt(column.Column, i));
                    }

                    break;
                default:
                    var table = entity.Table(column.Column);
                    writer.Write7BitEncodedInt(table.Count);
                    for (var id = 0; id < table.Count; id++)
                    {
                        var value = table[id];
                        writer.Write(value is not null);
                        if (value is not null)
                        {
                            writer.Write(value);
                        }
                    }

                    for (var i = 0; i < n; i++)
                    {
                        writer.Write7BitEncodedInt(entity.SymbolAt(column.Column, i));
                    }

                    break;
            }
        }
    }

    private List<(StreamRuntime, long, List<EntityState>)> ReadStreams(BinaryReader reader, long end, List<string> skipped)
    {
        var stream = reader.BaseStream;
        long Remaining() => end - stream.Position;

        _ = reader.ReadInt64(); // written at
        var streamCount = reader.ReadInt32();
        if (streamCount < 0 || streamCount > Remaining())
        {
            throw new InvalidDataException($"stream count {streamCount} out of range");
        }

        var staged = new List<(StreamRuntime, long, List<EntityState>)>();
        var seenStreams = new HashSet<string>(StringComparer.Ordinal);
        for (var s = 0; s < streamCount; s++)
        {
            var name = reader.ReadString();
            if (!seenStreams.Add(name))
            {
                throw new InvalidDataException($"stream '{name}' appears twice");
            }

            var watermark = reader.ReadInt64();
            var columnCount = reader.ReadInt32();
            if (columnCount < 0 || columnCount > Remaining())
            {
                throw new InvalidDataException($"stream '{name}': column count {columnCount} out of range");
            }

            var columns = new (string Name, ColumnKind Kind, int? Decimals)[columnCount];
            for (var c = 0; c < columnCount; c++)
            {
                var field = reader.ReadString();
                var kind = reader.ReadByte();
                var decimals = reader.ReadByte();
                if (kind > (byte)ColumnKind.Symbol)
                {
                    throw new InvalidDataException($"stream '{name}': column kind {kind} unknown");
                }

                columns[c] = (field, (ColumnKind)kind, decimals == NoDecimals ? null : decimals);
            }

            // Map the current stored columns onto the snapshot's; any missing one makes the stream's state unusable.
            _streamsByName.TryGetValue(name, out var runtime);
            int[]? map = null;
            if (runtime is null)
            {
                skipped.Add($"stream '{name}' is no longer defined; its state was skipped");
            }
            else
            {
                map = new int[runtime.Columns.Length];
                foreach (var (binding, i) in runtime.Columns.Select((b, i) => (b, i)))
                {
                    map[i] = Array.FindIndex(columns, c => c.Name == binding.Name && c.Kind == binding.Kind && c.Decimals == binding.Field.Decimals);
                    if (map[i] < 0)
                    {
                        skipped.Add($"stream '{name}': stored field '{binding.Name}' ({binding.Kind}) is not in the snapshot; the stream's state was skipped");
                        map = null;
                        break;
                    }
                }
            }

            var entities = new List<EntityState>();
            var ids = new HashSet<string>(StringComparer.Ordinal);
            long count = 0;
            while (true)
            {
                var marker = reader.ReadByte();
                if (marker == 0)
                {
                    break;
                }

                if (marker != 1)
                {
                    throw new InvalidDataException($"stream '{name}': bad entity marker {marker}");
                }

                var entity = ReadEntity(reader, columns, runtime, map, Remaining);
                count++;
                if (entity is not null)
                {
                    if (!ids.Add(entity.Id))
                    {
                        throw new InvalidDataException($"stream '{name}': entity '{entity.Id}' appears twice");
                    }

                    entities.Add(entity);
                }
            }

            if (reader.ReadInt64() != count)
            {
                throw new InvalidDataException($"stream '{name}': entity count does not match");
            }

            if (runtime is not null && map is not null)
            {
                staged.Add((runtime, watermark, entities));
            }
        }

        return staged;
    }

    private EntityState? ReadEntity(
        BinaryReader reader,
        (string Name, ColumnKind Kind, int? Decimals)[] columns,
        StreamRuntime? runtime,
        int[]? map,
        Func<long> remaining)
    {
        var id = reader.ReadString();
        var n = reader.Read7BitEncodedInt();
        if (id.Length == 0 || n < 1 || n > remaining())
        {
            throw new InvalidDataException($"entity '{id}': {n} events out of range");
        }

        var times = new long[n];
        times[0] = reader.ReadInt64();
        for (var i = 1; i < n; i++)
        {
            var delta = reader.Read7BitEncodedInt64();
            if (delta < 0)
            {
                throw new InvalidDataException($"entity '{id}': event times out of order");
            }

            times[i] = checked(times[i - 1] + delta);
        }

        if (times[0] <= 0)
        {
            throw new InvalidDataException($"entity '{id}': event time {times[0]} out of range");
        }

        var fixedColumns = new long[columns.Length][];
        var floatColumns = new double[columns.Length][];
        var symbolColumns = new int[columns.Length][];
        var symbolStrings = new string?[columns.Length][];
        for (var c = 0; c < columns.Length; c++)
        {
            switch (columns[c].Kind)
            {
                case ColumnKind.Fixed:
                    var values = fixedColumns[c] = new long[n];
                    for (var i = 0; i < n; i++)
                    {
                        var z = reader.Read7BitEncodedInt64();
                        values[i] = (long)((ulong)z >> 1) ^ -(z & 1);
                    }

                    break;
                case ColumnKind.Float:
                    var floats = floatColumns[c] = new double[n];
                    for (var i = 0; i < n; i++)
                    {
                        floats[i] = reader.ReadDouble();
                        if (!double.IsFinite(floats[i]))
                        {
                            throw new InvalidDataException($"entity '{id}': non-finite value");
                        }
                    }

                    break;
                default:
                    var slots = reader.Read7BitEncodedInt();
                    if (slots < 0 || slots > remaining())
                    {
                        throw new InvalidDataException($"entity '{id}': {slots} string slots out of range");
                    }

                    var strings = symbolStrings[c] = new string?[slots];
                    for (var k = 0; k < slots; k++)
                    {
                        strings[k] = reader.ReadBoolean() ? reader.ReadString() : null;
                    }

                    var symbolIds = symbolColumns[c] = new int[n];
                    for (var i = 0; i < n; i++)
                    {
                        symbolIds[i] = reader.Read7BitEncodedInt();
                        if ((uint)symbolIds[i] >= (uint)slots || strings[symbolIds[i]] is null)
                        {
                            throw new InvalidDataException($"entity '{id}': string id out of range");
                        }
                    }

                    break;
            }
        }

        if (runtime is null || map is null)
        {
            return null;
        }

        var capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(4, n));
        var entity = new EntityState(runtime, id, (int)((uint)id.GetHashCode(StringComparison.Ordinal) & (uint)(_stripes.Length - 1)), capacity);
        var bindings = runtime.Columns;
        for (var i = 0; i < bindings.Length; i++)
        {
            if (bindings[i].Kind == ColumnKind.Symbol)
            {
                var strings = symbolStrings[map[i]]!;
                for (var k = 0; k < strings.Length; k++)
                {
                    entity.Table(bindings[i].Column).SetRestored(k, strings[k], _strings);
                }
            }
        }

        Span<long> fixedValues = stackalloc long[runtime.FixedColumns];
        Span<double> floatValues = stackalloc double[runtime.FloatColumns];
        Span<int> ids = stackalloc int[runtime.SymbolColumns];
        for (var e = 0; e < n; e++)
        {
            for (var i = 0; i < bindings.Length; i++)
            {
                var source = map[i];
                switch (bindings[i].Kind)
                {
                    case ColumnKind.Fixed:
                        fixedValues[bindings[i].Column] = fixedColumns[source][e];
                        break;
                    case ColumnKind.Float:
                        floatValues[bindings[i].Column] = floatColumns[source][e];
                        break;
                    default:
                        ids[bindings[i].Column] = symbolColumns[source][e];
                        break;
                }
            }

            if (!entity.AppendRestored(times[e], fixedValues, floatValues, ids))
            {
                throw new InvalidDataException($"entity '{id}': string id out of range");
            }
        }

        for (var i = 0; i < bindings.Length; i++)
        {
            if (bindings[i].Kind == ColumnKind.Symbol)
            {
                entity.Table(bindings[i].Column).FinishRestore();
            }
        }

        return entity;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: a stale temporary file is overwritten by the next snapshot.
        }
    }

    /// <summary>Write-only pass-through that feeds every byte to the checksum.</summary>
    private sealed class HashingStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
        }

        public override void WriteByte(byte value) => Write([value]);
    }
}

/// <summary>Outcome of restoring a snapshot.</summary>
public enum SnapshotRestoreStatus
{
    /// <summary>The state was loaded (possibly without some streams: see <see cref="SnapshotRestoreResult.SkippedStreams"/>).</summary>
    Restored,

    /// <summary>There is no snapshot file.</summary>
    NotFound,

    /// <summary>The file is truncated, damaged or not a snapshot; nothing was loaded.</summary>
    Corrupt,

    /// <summary>The file is a snapshot of another format version; nothing was loaded.</summary>
    Incompatible,

    /// <summary>The file could not be read (I/O or permissions); nothing was loaded.</summary>
    Failed,
}

/// <summary>What <see cref="FeatureEngine.RestoreSnapshot"/> did.</summary>
/// <param name="Status">Restored, or why not.</param>
/// <param name="Path">The file.</param>
/// <param name="Message">Why it was not restored (or null).</param>
/// <param name="Entities">Entities loaded.</param>
/// <param name="Events">Events loaded.</param>
/// <param name="SkippedStreams">A sentence per stream whose state could not be used.</param>
/// <param name="Duration">Time taken.</param>
public sealed record SnapshotRestoreResult(
    SnapshotRestoreStatus Status,
    string Path,
    string? Message,
    long Entities,
    long Events,
    IReadOnlyList<string> SkippedStreams,
    TimeSpan Duration);

/// <summary>What <see cref="FeatureEngine.SaveSnapshot"/> wrote.</summary>
/// <param name="Path">The file (full path).</param>
/// <param name="Entities">Entities written.</param>
/// <param name="Events">Events written.</param>
/// <param name="Bytes">Size of the file.</param>
/// <param name="Duration">Time taken.</param>
public sealed record SnapshotWriteResult(string Path, long Entities, long Events, long Bytes, TimeSpan Duration);
