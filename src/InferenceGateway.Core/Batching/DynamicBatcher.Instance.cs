namespace InferenceGateway.Core.Batching;

public sealed partial class DynamicBatcher
{
    /// <summary>One execution instance: its runner, buffers, batch slots and thread.</summary>
    private sealed class Instance(int index, IBatchRunner runner, BatchRun run, int maxRows)
    {
        public int Index { get; } = index;

        public IBatchRunner Runner { get; } = runner;

        public BatchRun Run { get; } = run;

        public BatchRequest?[] Members { get; } = new BatchRequest?[maxRows];

        public DynamicBatcher? Owner { get; set; }

        /// <summary>Its thread's precise sleep, when waits are kept precisely.</summary>
        public PreciseSleeper? Sleeper { get; init; }

        /// <summary>Its sleep as timekeeper was ended early and the wake-up is not consumed yet (queue lock to write).</summary>
        public bool WakePending;

        public Thread? Thread { get; set; }

        /// <summary>Its thread is running a batch (under the queue lock).</summary>
        public bool Running { get; set; }

        /// <summary>A caller is running a request on it (under the queue lock); see RunOnCaller.</summary>
        public bool ClaimedByCaller { get; set; }

        /// <summary>Its thread waits for the caller holding it to finish (under the queue lock).</summary>
        public bool Parked { get; set; }

        /// <summary>Its thread sleeps waiting for work (under the queue lock).</summary>
        public bool IdleWaiting { get; set; }

        /// <summary>Run time (timestamp ticks) and rows of the batch it ran last, until folded into the cost averages under the queue lock.</summary>
        public long LastRunTicks;

        /// <summary>See <see cref="LastRunTicks"/>; 0 once folded.</summary>
        public int LastRunRows;

        /// <summary>Counted in the batcher's claimed-while-idle count (under the queue lock).</summary>
        public bool CountedClaimedIdle { get; set; }
    }
}
