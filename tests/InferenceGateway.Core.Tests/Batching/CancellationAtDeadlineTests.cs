using InferenceGateway.Core.Batching;

namespace InferenceGateway.Core.Tests.Batching;

/// <summary>
/// gRPC servers cancel a call's token when its deadline passes, from a timer on a coarse clock that may fire a few
/// milliseconds early: a queued request cancelled that close to its deadline is answered DeadlineExceeded, so the
/// caller's status does not depend on which of the two timers won; earlier it is Cancelled.
/// </summary>
public sealed class CancellationAtDeadlineTests
{
    [Theory]
    [InlineData(0.0001, BatchFailureReason.DeadlineExceeded)] // the token fires just before the batcher's own timer
    [InlineData(5, BatchFailureReason.DeadlineExceeded)] // 5 ms early: within the timer clock's slack
    [InlineData(21, BatchFailureReason.Cancelled)] // just outside the slack (20 ms)
    [InlineData(500, BatchFailureReason.Cancelled)] // the client gave up well before its deadline
    public async Task OnCancelled_TokenFiresNearTheDeadline_AnsweredAsTheDeadline(double msBeforeDeadline, BatchFailureReason expected)
    {
        using var gate = new ManualResetEventSlim();
        await using var h = new BatcherHarness(new BatchingOptions { MaxBatchSize = 1, RunOnCallerWhenIdle = false });
        h.Log.OnRun = b => { if (b.Inputs[0] == 0) { gate.Wait(BatcherHarness.Timeout); } };
        var running = h.Submit(0);
        await BatcherHarness.EventuallyAsync(() => h.Log.Started.Count == 1, "the first request running");

        using var cancel = new CancellationTokenSource();
        var deadlineIn = TimeSpan.FromSeconds(1);
        var queued = h.Submit(1, deadline: h.Batcher.GetDeadline(deadlineIn), cancellationToken: cancel.Token);
        h.Manual.Advance(deadlineIn - TimeSpan.FromMilliseconds(msBeforeDeadline));
        Assert.False(queued.Task.IsCompleted); // the batcher's own deadline timer is not due yet

        await cancel.CancelAsync();

        await queued.AssertFailedAsync(expected);
        gate.Set();
        await running.AssertSucceededAsync();
        Assert.DoesNotContain(1f, h.Log.AllInputs);
    }
}
