namespace InferenceGateway.Core.Batching;

// BatchingOptions.RunOnCallerWhenIdle: a request that would run at once on an idle instance runs on the calling
// thread with that instance's runner and buffers, skipping two thread hand-offs.
public sealed partial class DynamicBatcher
{
    /// <summary>
    /// Unlocked hint: false when every instance is running or held, so a busy batcher does not take the queue lock
    /// twice per request (once to try the caller path, once to queue). A stale answer only costs that extra lock.
    /// </summary>
    private bool MayHaveIdleInstance()
    {
        foreach (var instance in _instances)
        {
            if (!instance.Running && !instance.ClaimedByCaller)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Under the queue lock: if nothing is queued and an instance is idle, reserves that instance for the caller
    /// and marks <paramref name="request"/> taken. Returns null when the request must queue.
    /// </summary>
    private Instance? TryClaimIdleInstance(BatchRequest request)
    {
        lock (_gate)
        {
            if (_stopping || _queue.Count != 0)
            {
                return null;
            }

            if (!_fixedDelay && _waitTicks > 0 && !Fills(request.Rows) && AnotherInstanceBusy(null))
            {
                return null; // The adaptive wait applies: another instance runs, so this one waits for company.
            }

            foreach (var instance in _instances)
            {
                if (!instance.Running && !instance.ClaimedByCaller)
                {
                    instance.ClaimedByCaller = true;
                    if (instance.IdleWaiting)
                    {
                        // Its thread sleeps; keep wake-ups meant for idle instances away from it while it is held.
                        instance.CountedClaimedIdle = true;
                        _claimedIdle++;
                    }

                    request.State = BatchRequest.StateTaken;
                    return instance;
                }
            }

            return null;
        }
    }

    /// <summary>
    /// Runs <paramref name="request"/> as a batch of one on the calling thread with an instance reserved by
    /// <see cref="TryClaimIdleInstance"/>, then runs what queued meanwhile for up to <see cref="CallerDrainBudget"/>
    /// (no thread hand-off for a burst on a small model), then hands the instance back. The returned task is already
    /// complete.
    /// </summary>
    private ValueTask<BatchResult> RunOnCaller(Instance instance, BatchRequest request)
    {
        var version = request.Version;
        var members = instance.Members;
        var budgetEnd = _time.GetTimestamp() + _callerDrainTicks;
        members[0] = request;
        var count = 1;
        var rows = request.Rows;
        try
        {
            while (true)
            {
                Execute(instance, count, rows);
                BatchRequest? expired = null;
                count = 0;
                lock (_gate)
                {
                    FoldRunCost(instance);
                    var now = _time.GetTimestamp();
                    if (!_stopping && _queue.Count > 0 && now < budgetEnd)
                    {
                        count = TryFormBatch(instance, now, members, ref expired, out rows, out _);
                    }

                    if (count == 0)
                    {
                        ReleaseClaim(instance);
                    }
                }

                FailChain(expired, BatchFailureReason.DeadlineExceeded, DeadlineMessage);
                if (count == 0)
                {
                    break;
                }
            }
        }
        catch
        {
            // Execute catches runner failures; only a bug gets here. Never leave the instance held.
            lock (_gate)
            {
                if (instance.ClaimedByCaller)
                {
                    ReleaseClaim(instance);
                }
            }

            throw;
        }

        return new ValueTask<BatchResult>(request, version);
    }

    /// <summary>Under the queue lock: gives a caller-held instance back to its thread.</summary>
    private void ReleaseClaim(Instance instance)
    {
        instance.ClaimedByCaller = false;
        if (instance.CountedClaimedIdle)
        {
            instance.CountedClaimedIdle = false;
            _claimedIdle--;
        }

        // Its thread waits for the caller (Parked), or work is left that a sleeping instance must judge (run it now,
        // or arm the delay timer for it).
        if (instance.Parked || (_queue.Count > 0 && _waiting > 0))
        {
            Monitor.PulseAll(_gate);
        }

        if (_queue.Count > 0)
        {
            WakeTimekeeper(); // It may be this very instance, claimed while it slept for a batch since cancelled.
        }
    }
}
