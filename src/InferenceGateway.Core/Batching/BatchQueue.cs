namespace InferenceGateway.Core.Batching;

/// <summary>
/// The batcher's queue: one intrusive doubly linked list per priority level (index 0 is served first), threaded
/// through <see cref="BatchRequest.Previous"/> and <see cref="BatchRequest.Next"/>, so cancellation and expiry unlink
/// in O(1) and queueing allocates nothing. Not thread-safe: the batcher's queue lock guards every member except
/// <see cref="VolatileCount"/>.
/// </summary>
internal sealed class BatchQueue
{
    private readonly BatchRequest?[] _heads;
    private readonly BatchRequest?[] _tails;
    private readonly int[] _levelRows;
    private int _count;

    public BatchQueue(int levels)
    {
        _heads = new BatchRequest?[levels];
        _tails = new BatchRequest?[levels];
        _levelRows = new int[levels];
    }

    /// <summary>Number of priority levels.</summary>
    public int Levels => _heads.Length;

    /// <summary>Requests queued, all levels.</summary>
    public int Count => _count;

    /// <summary><see cref="Count"/> read without the lock: a hint, or a metric.</summary>
    public int VolatileCount => Volatile.Read(ref _count);

    /// <summary>Rows of the queued requests, all levels.</summary>
    public int Rows { get; private set; }

    /// <summary>Rows queued at <paramref name="level"/> and the levels served before it: the work ahead of a request queued there.</summary>
    public int RowsAhead(int level)
    {
        var rows = 0;
        for (var l = 0; l <= level; l++)
        {
            rows += _levelRows[l];
        }

        return rows;
    }

    /// <summary>Oldest request of <paramref name="level"/>, or null.</summary>
    public BatchRequest? Head(int level) => _heads[level];

    /// <summary>Queues <paramref name="request"/> at the tail of its <see cref="BatchRequest.Level"/>.</summary>
    public void Append(BatchRequest request)
    {
        var level = request.Level;
        request.State = BatchRequest.StateQueued;
        request.Next = null;
        request.Previous = _tails[level];
        if (_tails[level] is { } tail)
        {
            tail.Next = request;
        }
        else
        {
            _heads[level] = request;
        }

        _tails[level] = request;
        _count++;
        Rows += request.Rows;
        _levelRows[level] += request.Rows;
    }

    /// <summary>Unlinks a queued request and marks it taken.</summary>
    public void Remove(BatchRequest request)
    {
        var level = request.Level;
        if (request.Previous is { } previous)
        {
            previous.Next = request.Next;
        }
        else
        {
            _heads[level] = request.Next;
        }

        if (request.Next is { } next)
        {
            next.Previous = request.Previous;
        }
        else
        {
            _tails[level] = request.Previous;
        }

        request.Previous = null;
        request.Next = null;
        request.State = BatchRequest.StateTaken;
        _count--;
        Rows -= request.Rows;
        _levelRows[level] -= request.Rows;
    }

    /// <summary>
    /// Unlinks every request whose deadline is at or before <paramref name="now"/> onto <paramref name="chain"/>
    /// (through <see cref="BatchRequest.ChainNext"/>) and returns the chain; <paramref name="nextDeadline"/> is the
    /// earliest deadline left (<see cref="long.MaxValue"/> when none).
    /// </summary>
    public BatchRequest? RemoveExpired(long now, BatchRequest? chain, out long nextDeadline)
    {
        nextDeadline = long.MaxValue;
        for (var level = 0; level < _heads.Length; level++)
        {
            for (var request = _heads[level]; request is not null;)
            {
                var following = request.Next;
                if (request.DeadlineAt <= now)
                {
                    Remove(request);
                    request.ChainNext = chain;
                    chain = request;
                }
                else if (request.DeadlineAt < nextDeadline)
                {
                    nextDeadline = request.DeadlineAt;
                }

                request = following;
            }
        }

        return chain;
    }

    /// <summary>Unlinks every request onto <paramref name="chain"/> and returns the chain.</summary>
    public BatchRequest? RemoveAll(BatchRequest? chain)
    {
        for (var level = 0; level < _heads.Length; level++)
        {
            while (_heads[level] is { } request)
            {
                Remove(request);
                request.ChainNext = chain;
                chain = request;
            }
        }

        return chain;
    }
}
