namespace InferenceGateway.Core.Batching;

// Running one formed batch on an instance: pack its inputs, call the runner, slice the outputs back to each request,
// and complete the requests (in arrival order with PreserveOrdering), recording the batch and request metrics.
public sealed partial class DynamicBatcher
{
    private void Execute(Instance instance, int count, int rows)
    {
        var members = instance.Members;
        var run = instance.Run;
        try
        {
            run.Prepare(rows, members[0]!);
            var admissionsAtStart = Volatile.Read(ref _admissions);
            var start = _time.GetTimestamp();
            BatchCopier.GatherInputs(run, members, count, rows);

            if (_metrics is not null)
            {
                for (var m = 0; m < count; m++)
                {
                    _metrics.QueueDuration.Record(Seconds(start - members[m]!.EnqueuedAt), _tags!.ModelVersion);
                }

                _metrics.BatchSize.Record(rows, _tags!.ModelVersion);
            }

            string? error = null;
            try
            {
                instance.Runner.Run(run);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                error = ex.Message;
                Log.BatchFailed(_logger, ex, Model, Version, instance.Index, rows, ex.Message);
            }

            var runTicks = _time.GetTimestamp() - start;
            _metrics?.ComputeDuration.Record(Seconds(runTicks), _tags!.ModelVersion);
            if (_runOnCaller)
            {
                var lone = count == 1 && Volatile.Read(ref _admissions) == admissionsAtStart;
                Volatile.Write(ref _loneRuns, lone ? Math.Min(Volatile.Read(ref _loneRuns) + 1, LoneRunsBeforeCaller) : 0);
            }

            // Racy read-modify-write across instances: a lost update only delays the average by one run.
            var average = Volatile.Read(ref _averageRunTicks);
            Volatile.Write(ref _averageRunTicks, average == 0 ? runTicks : average + ((runTicks - average) / 8));
            instance.LastRunTicks = runTicks;
            instance.LastRunRows = rows;
            for (var j = 0; error is null && j < _outputSpecs.Length; j++)
            {
                if (!run.IsOutputRowShapeKnown(j))
                {
                    error = $"runner did not set the row shape of variable output '{_outputSpecs[j].Name}'";
                }
            }

            var rowOffset = 0;
            for (var m = 0; m < count; m++)
            {
                var request = members[m]!;
                members[m] = null;
                request.QueuedTicks = start - request.EnqueuedAt;
                request.RunTicks = runTicks;
                if (error is not null)
                {
                    Complete(request, BatchFailureReason.ExecutionFailed, error, executed: true);
                    continue;
                }

                var copyError = BatchCopier.ScatterOutputs(run, request, rows, rowOffset);
                rowOffset += request.Rows;
                if (copyError is null)
                {
                    Complete(request, BatchFailureReason.None, null, executed: true);
                }
                else
                {
                    Complete(request, BatchFailureReason.ExecutionFailed, copyError, executed: true);
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Not the runner (caught above): e.g. caller memory that throws. Fail whatever is still pending.
            Log.BatchFailed(_logger, ex, Model, Version, instance.Index, rows, ex.Message);
            for (var m = 0; m < count; m++)
            {
                if (members[m] is { } request)
                {
                    members[m] = null;
                    Complete(request, BatchFailureReason.ExecutionFailed, ex.Message, executed: true);
                }
            }
        }
    }

    private int FailChain(BatchRequest? chain, BatchFailureReason reason, string message)
    {
        var count = 0;
        while (chain is not null)
        {
            var next = chain.ChainNext;
            chain.ChainNext = null;
            Complete(chain, reason, message, executed: false);
            chain = next;
            count++;
        }

        return count;
    }

    /// <summary>
    /// Completes a request taken off the queue. Executed ones honour <see cref="BatchingOptions.PreserveOrdering"/>;
    /// ones removed without running are answered at once and only release their place in the order.
    /// </summary>
    private void Complete(BatchRequest request, BatchFailureReason reason, string? message, bool executed)
    {
        // Waits for a cancellation callback running elsewhere; it sees the request is no longer queued.
        request.Registration.Dispose();
        request.Registration = default;
        RecordOutcome(reason);
        var result = new BatchResult(reason, message);
        Volatile.Write(ref request.State, BatchRequest.StateCompleted);
        if (_ordering is null || request.Sequence < 0)
        {
            request.SetResult(result);
            return;
        }

        _ordering.Complete(request, result, executed);
    }

    private void RecordOutcome(BatchFailureReason reason)
    {
        if (_metrics is null)
        {
            return;
        }

        _metrics.Requests.Add(1, _tags!.Outcome(reason));
        if (reason is BatchFailureReason.QueueFull or BatchFailureReason.Overloaded or BatchFailureReason.ShuttingDown
            or BatchFailureReason.InvalidInput or BatchFailureReason.DeadlineExceeded)
        {
            _metrics.Rejections.Add(1, _tags.Reason(reason));
        }
    }
}
