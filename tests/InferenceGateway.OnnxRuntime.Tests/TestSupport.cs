using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using InferenceGateway.Core.Batching;
using InferenceGateway.Core.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace InferenceGateway.OnnxRuntime.Tests;

internal static class TestModels
{
    public static string Path(string fileName) => System.IO.Path.Combine(AppContext.BaseDirectory, "TestModels", fileName);

    /// <summary>One intra-op thread: the tests run on a 2-core shared machine and the models are tiny.</summary>
    public static OrtSessionConfig Config { get; } = new() { IntraOpThreads = 1, InterOpThreads = 1 };

    public static OnnxSession Open(string fileName, ILogger? logger = null) => OnnxSession.Create(Path(fileName), Config, logger);

    /// <summary>Loads a test model through the backend, as the model repository does (a batch dimension when <paramref name="maxBatchSize"/> > 0).</summary>
    public static ILoadedModel Load(string fileName, int maxBatchSize, ILoggerFactory? loggers = null) =>
        new OnnxModelBackend(Config, new Dictionary<string, ModelOverrides>(), loggers ?? NullLoggerFactory.Instance)
            .Load(System.IO.Path.GetFileNameWithoutExtension(fileName), "1", Path(fileName), new ModelConfig { MaxBatchSize = maxBatchSize });

    /// <summary>Walks up from the test binaries to the folder holding InferenceGateway.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "InferenceGateway.sln")))
            {
                return dir.FullName;
            }
        }

        Assert.Fail($"No InferenceGateway.sln above {AppContext.BaseDirectory}; cannot locate models/.");
        return string.Empty;
    }
}

/// <summary>
/// The ORT runner behind a real <see cref="DynamicBatcher"/>, so it sees the batcher's own pinned buffers. The
/// <see cref="BatchRun"/> of each instance is kept: with the batcher idle, a test may run the runner on it again
/// directly (steady-state allocation, zero-copy checks) exactly as the instance thread would.
/// </summary>
internal sealed class RunnerHarness : IAsyncDisposable
{
    private readonly CapturingRunner?[] _runners;

    public RunnerHarness(ILoadedModel model, BatchTensorSpec[] inputs, BatchTensorSpec[] outputs, int maxBatchSize, int instances = 1)
    {
        _runners = new CapturingRunner?[instances];
        Inputs = inputs;
        Outputs = outputs;
        Batcher = new DynamicBatcher(
            "test",
            "1",
            new BatchingOptions { MaxBatchSize = maxBatchSize, InstanceCount = instances, MaxQueueDelay = TimeSpan.Zero },
            inputs,
            outputs,
            instance => _runners[instance] = new CapturingRunner((OnnxBatchRunner)model.CreateRunner(instance, inputs, outputs)),
            TimeProvider.System,
            NullLogger.Instance);
    }

    public DynamicBatcher Batcher { get; }

    public BatchTensorSpec[] Inputs { get; }

    public BatchTensorSpec[] Outputs { get; }

    public OnnxBatchRunner Runner(int instance = 0) => _runners[instance]?.Inner ?? throw new InvalidOperationException($"instance {instance} has not been created");

    public BatchRun LastRun(int instance = 0) => _runners[instance]?.Last ?? throw new InvalidOperationException($"instance {instance} has not run");

    /// <summary>One request of <paramref name="rows"/> rows with one input and one output.</summary>
    public async Task<BatchResult> InferAsync<TIn, TOut>(int rows, TIn[] input, TOut[] output)
        where TIn : unmanaged
        where TOut : unmanaged
    {
        var request = Batcher.RentRequest();
        request.Rows = rows;
        request.SetInput(0, MemoryMarshal.AsBytes(input.AsSpan()).ToArray());
        var bytes = new byte[output.Length * Marshal.SizeOf<TOut>()];
        request.SetOutput(0, bytes);
        var result = await Batcher.EnqueueAsync(request).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Batcher.ReturnRequest(request);
        MemoryMarshal.Cast<byte, TOut>(bytes).CopyTo(output);
        return result;
    }

    public ValueTask DisposeAsync() => Batcher.DisposeAsync();

    private sealed class CapturingRunner(OnnxBatchRunner inner) : IBatchRunner, IDisposable
    {
        public OnnxBatchRunner Inner { get; } = inner;

        public BatchRun? Last { get; private set; }

        public void Run(BatchRun run)
        {
            Last = run;
            Inner.Run(run);
        }

        public void Dispose() => Inner.Dispose();
    }
}

internal sealed record LogEntry(LogLevel Level, EventId EventId, string Message);

/// <summary>An ILogger that keeps every entry so tests can assert on EventName and message.</summary>
internal sealed class CapturingLogger : ILogger, ILoggerFactory
{
    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue(new LogEntry(logLevel, eventId, formatter(state, exception)));

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }
}
