using System.Buffers;
using System.Text;
using InferenceGateway.Core.Models;
using Microsoft.Extensions.ObjectPool;

namespace InferenceGateway.Server.Services.Wire;

/// <summary>
/// One ModelInfer call on the server, pooled: the request's bytes (one pooled copy of the message), a parsed view of
/// them (names, shapes and tensor contents as slices of those bytes, so raw inputs reach the batcher without a copy),
/// and the response's outputs (pooled buffers) until they are written. Replaces the generated ModelInferRequest /
/// ModelInferResponse objects on the server's hot path, which allocated 1-3 KB per call (perf/RESULTS.md, codec).
/// </summary>
/// <remarks>
/// Lifetime: rented by the request deserializer (<see cref="ModelInferCodec"/>), handed to the handler, and returned to
/// the pool by the response serializer after writing, or by the handler when the call fails. Nothing may keep a slice
/// of <see cref="Payload"/> past that point.
/// </remarks>
internal sealed partial class ModelInferCall
{
    // A call keeps its byte buffers between uses when they are at most this size (the pool then holds at most
    // MaxPooled x a few of them); larger ones go back to ArrayPool.Shared on return. Entry arrays that grew beyond
    // MaxRetainedEntries are dropped with their call, so one huge request does not pin memory in the pool.
    private const int MaxRetainedBytes = 16 * 1024;
    private const int MaxRetainedEntries = 256;

    // Enough for every call in flight at high concurrency (the saturation benchmark keeps 256 in flight): a pool of
    // 128 churned there, allocating a fresh call and fresh buffers for each miss.
    private static readonly int MaxPooled = Math.Max(1024, Environment.ProcessorCount * 64);

    private static readonly ObjectPool<ModelInferCall> s_pool =
        new DefaultObjectPool<ModelInferCall>(new DefaultPooledObjectPolicy<ModelInferCall>(), MaxPooled);

    private byte[][] _buffers = new byte[4][];
    private int _buffersUsed;
    private byte[] _payload = [];

    /// <summary>The request message's bytes: <c>Payload[..PayloadLength]</c>.</summary>
    public byte[] Payload => _payload;

    public int PayloadLength { get; private set; }

    public ReadOnlySpan<byte> PayloadSpan => _payload.AsSpan(0, PayloadLength);

    // Request view (field numbers of grpc_service.proto's ModelInferRequest).
    public Slice ModelName;
    public Slice ModelVersion;
    public Slice Id;

    /// <summary>The request parameter <c>binary_data_output</c> is a true bool_param.</summary>
    public bool BinaryDataOutput;

    /// <summary>The request's <c>parameters</c> map entries, unparsed (the sticky key of an experiment may be one).</summary>
    public Slice[] Parameters = new Slice[4];
    public int ParameterCount;

    public InputTensor[] Inputs = new InputTensor[4];
    public int InputCount;
    public RequestedOutput[] Outputs = new RequestedOutput[4];
    public int OutputCount;

    /// <summary>Shape dimensions of all inputs; an input's are <c>Dims[ShapeStart..+ShapeCount]</c>.</summary>
    public long[] Dims = new long[16];
    public int DimCount;

    /// <summary>Occurrences of each input's <c>contents</c> message (normally one; protobuf merges repeats).</summary>
    public Slice[] ContentSlices = new Slice[4];
    public int ContentSliceCount;

    /// <summary><c>raw_input_contents</c>, in order.</summary>
    public Slice[] Raw = new Slice[4];
    public int RawCount;

    // Response state, set by the executor and written by ModelInferCodec.
    public string ResponseModelName = "";
    public string ResponseModelVersion = "";

    /// <summary>The experiment arm that served the call, written as the response parameter <c>arm</c>; empty: none.</summary>
    public string ResponseArm = "";

    /// <summary>The experiment that routed the call, if any (its shadows get a copy once the call has run).</summary>
    public InferenceGateway.Core.Routing.Experiment? Experiment;

    /// <summary>A shadow's copy: not counted as a request, not mirrored again.</summary>
    public bool IsShadow;

    /// <summary>When the call was received, in Unix milliseconds (for prediction records).</summary>
    public long ReceivedUnixMs;

    /// <summary>
    /// The request id the prediction log knows a call without <c>id</c> by: a UUIDv7 made when its primary is recorded
    /// and handed to its shadow copies, so that a shadow's record joins its primary's. Empty until then.
    /// </summary>
    public Guid LogRequestId;

    /// <summary>The served version's outputs; <see cref="ResponseOutput.ConfigIndex"/> indexes it. Null until a response is set.</summary>
    public List<TensorConfig>? ResponseOutputConfigs;
    public bool RawOutput;
    public ResponseOutput[] ResponseOutputs = new ResponseOutput[4];
    public int ResponseOutputCount;
    public long[] ResponseDims = new long[16];
    public int ResponseDimCount;

    /// <summary>Takes a call from the pool and copies <paramref name="payload"/> into its buffer.</summary>
    public static ModelInferCall Rent(in ReadOnlySequence<byte> payload)
    {
        var call = s_pool.Get();
        var length = checked((int)payload.Length);
        if (call._payload.Length < length)
        {
            ReturnToArrayPool(call._payload);
            call._payload = ArrayPool<byte>.Shared.Rent(Math.Max(length, 256));
        }

        payload.CopyTo(call._payload);
        call.PayloadLength = length;
        return call;
    }

    /// <summary>
    /// A buffer of at least <paramref name="length"/> bytes that the call owns until <see cref="Return"/> (typed
    /// inputs converted for the batcher, outputs for the response). Reused by the next call that takes this one.
    /// </summary>
    public byte[] RentBuffer(int length)
    {
        if (_buffersUsed == _buffers.Length)
        {
            Array.Resize(ref _buffers, _buffers.Length * 2);
        }

        ref var slot = ref _buffers[_buffersUsed++];
        if (slot is null || slot.Length < length)
        {
            ReturnToArrayPool(slot);
            slot = ArrayPool<byte>.Shared.Rent(Math.Max(length, 64));
        }

        return slot;
    }

    /// <summary>Gives up the buffers and returns the call to the pool. Call exactly once.</summary>
    public void Return()
    {
        for (var i = 0; i < _buffersUsed; i++)
        {
            if (_buffers[i].Length > MaxRetainedBytes)
            {
                ReturnToArrayPool(_buffers[i]);
                _buffers[i] = null!;
            }
        }

        if (_payload.Length > MaxRetainedBytes)
        {
            ReturnToArrayPool(_payload);
            _payload = [];
        }

        Array.Clear(ResponseOutputs, 0, ResponseOutputCount);
        ModelName = ModelVersion = Id = default;
        BinaryDataOutput = false;
        InputCount = OutputCount = DimCount = ContentSliceCount = RawCount = 0;
        ResponseModelName = ResponseModelVersion = ResponseArm = "";
        Experiment = null;
        IsShadow = false;
        ReceivedUnixMs = 0;
        LogRequestId = Guid.Empty;
        ParameterCount = 0;
        ResponseOutputConfigs = null;
        RawOutput = false;
        ResponseOutputCount = ResponseDimCount = _buffersUsed = 0;
        PayloadLength = 0;
        if (Inputs.Length > MaxRetainedEntries || Outputs.Length > MaxRetainedEntries || Dims.Length > MaxRetainedEntries * 4
            || ContentSlices.Length > MaxRetainedEntries || Raw.Length > MaxRetainedEntries || ResponseOutputs.Length > MaxRetainedEntries
            || ResponseDims.Length > MaxRetainedEntries * 4 || _buffers.Length > MaxRetainedEntries || Parameters.Length > MaxRetainedEntries)
        {
            return; // dropped: the pool makes a fresh one when it runs short
        }

        s_pool.Return(this);
    }

    private static void ReturnToArrayPool(byte[]? buffer)
    {
        if (buffer is { Length: > 0 })
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Field text as a string (allocates; for lookups that miss the cache, errors and logs).</summary>
    public string GetString(Slice slice) => slice.Length == 0 ? "" : Encoding.UTF8.GetString(slice.Of(PayloadSpan));

    /// <summary>True when <paramref name="slice"/> holds exactly the UTF-8 encoding of <paramref name="text"/>.</summary>
    public bool TextEquals(Slice slice, string text) => Utf8Text.Matches(slice.Of(PayloadSpan), text);

    public ReadOnlySpan<long> Shape(in InputTensor input) => Dims.AsSpan(input.ShapeStart, input.ShapeCount);

    internal static void Add<T>(ref T[] array, ref int count, T item)
    {
        if (count == array.Length)
        {
            Array.Resize(ref array, array.Length * 2);
        }

        array[count++] = item;
    }

    /// <summary>One <c>InferInputTensor</c>.</summary>
    public struct InputTensor
    {
        public Slice Name;
        public Slice Datatype;
        public int ShapeStart;
        public int ShapeCount;
        public int ContentsStart;
        public int ContentsCount;
    }

    /// <summary>One <c>InferRequestedOutputTensor</c>.</summary>
    public struct RequestedOutput
    {
        public Slice Name;

        /// <summary>The output parameter <c>binary_data</c> is a true bool_param.</summary>
        public bool BinaryData;
    }

    /// <summary>One output of the response: which config output, its bytes and its shape.</summary>
    public struct ResponseOutput
    {
        public int ConfigIndex;
        public byte[]? Buffer;
        public int Length;
        public int DimStart;
        public int DimCount;

        /// <summary>Encoded InferOutputTensor length and its packed typed field's length, noted by ResponseSize for the writer.</summary>
        public int EncodedLength;
        public int PackedContentsLength;
    }
}

/// <summary>UTF-8 comparisons and a small cache of decoded names, so that steady traffic allocates no strings.</summary>
internal static class Utf8Text
{
    private const int StackLimit = 256;

    /// <summary>True when <paramref name="utf8"/> is exactly the UTF-8 encoding of <paramref name="text"/>.</summary>
    public static bool Matches(ReadOnlySpan<byte> utf8, string text)
    {
        // Equal lengths can only match if every char is one byte, i.e. ASCII: compare without encoding (the usual case,
        // tensor names and datatypes).
        if (utf8.Length == text.Length)
        {
            return Ascii.Equals(utf8, text);
        }

        // Every char takes at least one byte and at most three (a surrogate pair, two chars, takes four).
        if (utf8.Length < text.Length || utf8.Length > text.Length * 3 || Ascii.IsValid(text))
        {
            return false;
        }

        if (utf8.Length <= StackLimit)
        {
            Span<byte> encoded = stackalloc byte[StackLimit];
            return Encoding.UTF8.TryGetBytes(text, encoded, out var written) && encoded[..written].SequenceEqual(utf8);
        }

        return Encoding.UTF8.GetBytes(text).AsSpan().SequenceEqual(utf8);
    }

    private static readonly Entry?[] s_cache = new Entry?[64];
    private static int s_next;

    /// <summary>
    /// The string for <paramref name="utf8"/>, from a bounded cache of recent ones (model names and versions repeat);
    /// a miss decodes and replaces the oldest entry, so clients sending random names cost an allocation, not memory.
    /// </summary>
    public static string Intern(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            return "";
        }

        var cache = s_cache;
        foreach (var entry in cache)
        {
            if (entry is not null && entry.Utf8.AsSpan().SequenceEqual(utf8))
            {
                return entry.Text;
            }
        }

        var text = Encoding.UTF8.GetString(utf8);
        if (utf8.Length <= 128)
        {
            var slot = (int)((uint)Interlocked.Increment(ref s_next) % (uint)cache.Length);
            Volatile.Write(ref cache[slot], new Entry(utf8.ToArray(), text));
        }

        return text;
    }

    private sealed record Entry(byte[] Utf8, string Text);
}
