using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using InferenceGateway.Server.Services;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace InferenceGateway.Server.Tests;

public sealed class RequestLoggingTests
{
    [Fact]
    public async Task FailedCall_LogsCallersRequestIdWithStableEventName()
    {
        var sink = new CapturingLoggerProvider();
        var app = await LoggedGateway.StartAsync(sink, "--Logging:LogLevel:InferenceGateway.Server.Services=Debug");
        await using (app)
        {
            try
            {
                var port = LoggedGateway.GrpcPort(app);
                using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
                var request = KServeTests.RawRequest("fraud", "1", "features", [1, 4], [1f, 2f, 3f, 4f]);
                request.Id = "req-42";

                var ex = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker()
                    .AsyncUnaryCall(KServeMethods.ModelInfer, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), request)
                    .ResponseAsync.WaitAsync(TimeSpan.FromSeconds(60)));

                Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
                var entry = Assert.Single(sink.Entries, e => e.EventName == "CallFailed");
                Assert.Contains("req-42", entry.Message);
                Assert.Contains("fraud:1", entry.Message);
                Assert.Contains("InvalidArgument", entry.Message);
            }
            finally
            {
                await app.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
        }
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<(string? EventName, string Message)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Entries.Enqueue((eventId.Name, formatter(state, exception)));
        }
    }
}
