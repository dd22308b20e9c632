using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace InferenceGateway.Core.PredictionLog;

/// <summary>
/// A task scheduler with one dedicated thread that the operating system runs at a lower priority than the request
/// threads (Linux: nice +10 for that thread alone), for the prediction log's writer.
/// </summary>
/// <remarks>
/// Why: the writer turns a flush interval's records into one transaction at a time, milliseconds of CPU in one burst.
/// At the normal priority that burst takes a core from requests on a small host, and Predict's p99 with the log on
/// was twice the p99 with it off at half of saturation. At nice +10 the kernel runs the writer in the gaps requests
/// leave, yet still gives it a share (about a tenth of a busy thread's) when there are none, so a saturated gateway
/// keeps writing (and counts drops when the buffer fills, as before). The writer's own awaits come back to this
/// thread; what the sink's libraries run on the thread pool (socket completions) keeps the pool's priority.
/// </remarks>
internal sealed class BackgroundThreadScheduler : TaskScheduler, IDisposable
{
    private const int Niceness = 10;
    private readonly BlockingCollection<Task> _tasks = new();
    private readonly Thread _thread;

    private readonly bool _lower;

    /// <summary>Starts the thread, named <paramref name="name"/>; at the normal priority when <paramref name="lowerPriority"/> is false.</summary>
    public BackgroundThreadScheduler(string name, bool lowerPriority = true)
    {
        _lower = lowerPriority;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>True once the thread's priority was lowered (false where the platform has no per-thread niceness).</summary>
    public bool Lowered { get; private set; }

    /// <inheritdoc />
    public override int MaximumConcurrencyLevel => 1;

    /// <summary>Stops taking tasks; the thread ends once those queued have run.</summary>
    public void Dispose() => _tasks.CompleteAdding();

    /// <inheritdoc />
    protected override void QueueTask(Task task)
    {
        if (!_tasks.TryAdd(task))
        {
            // Completed: a continuation after disposal still runs, on the thread pool.
            ThreadPool.UnsafeQueueUserWorkItem(static t => ((BackgroundThreadScheduler)t.Scheduler).TryExecuteTask(t.Task), (Scheduler: this, Task: task), preferLocal: false);
        }
    }

    /// <inheritdoc />
    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
        Thread.CurrentThread == _thread && TryExecuteTask(task);

    /// <inheritdoc />
    protected override IEnumerable<Task> GetScheduledTasks() => _tasks.ToArray();

    private void Run()
    {
        Lowered = _lower && TryLowerPriority();
        foreach (var task in _tasks.GetConsumingEnumerable())
        {
            TryExecuteTask(task);
        }
    }

    private static bool TryLowerPriority()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            // On Linux each thread has its own nice value: PRIO_PROCESS with the thread's id sets only this thread's.
            return SetPriority(0 /* PRIO_PROCESS */, GetThreadId(), Niceness) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetThreadId();

    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int priority);
}
