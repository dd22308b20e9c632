using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.OnnxRuntime.Tests;

internal static class TestModels
{
    public static string Path(string fileName) => System.IO.Path.Combine(AppContext.BaseDirectory, "TestModels", fileName);

    public static OnnxRuntimeEnvironment Env => OnnxRuntimeEnvironment.Shared;

    /// <summary>One intra-op thread: the tests run on a 2-core shared machine and the models are tiny.</summary>
    public static OrtSessionConfig Config { get; } = new() { IntraOpThreads = 1, InterOpThreads = 1 };

    public static InferenceSession Open(string fileName, ILogger? logger = null) =>
        InferenceSession.Create(Env, Path(fileName), Config, logger);
}

internal sealed record LogEntry(LogLevel Level, EventId EventId, string Message);

/// <summary>An ILogger that keeps every entry so tests can assert on EventName and message.</summary>
internal sealed class CapturingLogger : ILogger
{
    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue(new LogEntry(logLevel, eventId, formatter(state, exception)));
}
