namespace InferenceGateway.Server.Transport;

/// <summary>
/// A token bucket refilled from the clock on each call: it admits <c>burst</c> calls at once and <c>permitsPerSecond</c>
/// on average, with no timer and no replenishment period to round the rate to.
/// </summary>
/// <remarks>
/// System.Threading.RateLimiting's TokenBucketRateLimiter adds its tokens once per period, capped at the bucket size;
/// with a one-second period and a bucket smaller than the rate it admitted only <c>burst</c> calls a second.
/// </remarks>
internal sealed class TokenBucket
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly double _capacity;
    private readonly double _tokensPerTick;
    private double _tokens;
    private long _refilledAt;

    /// <summary>Starts full: a client may send <paramref name="burst"/> calls right away.</summary>
    public TokenBucket(int permitsPerSecond, int burst, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(permitsPerSecond);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burst);
        _time = time;
        _capacity = burst;
        _tokensPerTick = permitsPerSecond / (double)time.TimestampFrequency;
        _tokens = burst;
        _refilledAt = time.GetTimestamp();
    }

    /// <summary>Takes one token if there is one.</summary>
    public bool TryTake()
    {
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            if (now > _refilledAt)
            {
                _tokens = Math.Min(_capacity, _tokens + ((now - _refilledAt) * _tokensPerTick));
                _refilledAt = now;
            }

            if (_tokens < 1)
            {
                return false;
            }

            _tokens -= 1;
            return true;
        }
    }
}
