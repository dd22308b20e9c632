using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using InferenceGateway.Core.Models;
using InferenceGateway.OnnxRuntime;
using Microsoft.ML.OnnxRuntime;

namespace InferenceGateway.LoadTest.Ort;

/// <summary>Settings of one in-process ONNX Runtime ceiling run.</summary>
public sealed record OrtCeilingOptions
{
    /// <summary>The .onnx file.</summary>
    public required string ModelPath { get; init; }

    /// <summary>Rows per run, along each input's leading (batch) dimension.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>ORT intra-op threads; 0 = one per core (<see cref="Environment.ProcessorCount"/>), as the gateway's default.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Runs before measuring, not counted.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Measured time.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>Seed of the uniform [-1, 1) input values.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>
    /// Sessions run side by side, each on its own thread with its own inputs (the gateway's execution instances);
    /// rows/s is their sum over a common measured window.
    /// </summary>
    public int Parallel { get; init; } = 1;
}

/// <summary>What one ceiling run measured.</summary>
public sealed record OrtCeilingResult(string Model, int BatchSize, int IntraOpThreads, int Parallel, long Runs, double Seconds, double CpuSeconds)
{
    /// <summary>Rows per second: runs x batch size / seconds.</summary>
    public double RowsPerSecond => Runs * (double)BatchSize / Seconds;

    /// <summary>Mean wall time of one run, in milliseconds (each session's runs take turns on its own thread).</summary>
    public double MillisecondsPerRun => Seconds * 1000 * Parallel / Runs;
}

/// <summary>
/// The ceiling the gateway is measured against, taken in the same run as the gateway's figures: N ORT sessions
/// (<see cref="OrtCeilingOptions.Parallel"/>), each running whole batches back to back on its own thread (plus ORT's
/// intra-op pool), inputs and outputs pre-allocated and bound once (an <see cref="OrtIoBinding"/>, as the gateway's
/// runner does), nothing else in the process. It is the BenchmarkDotNet OrtThroughput benchmark's loop without the
/// harness, so a load script can interleave it with gateway runs and compare figures taken minutes, not a whole suite, apart.
/// </summary>
/// <remarks>Every input must be FP32 with a dynamic leading dimension and fixed others (bench_mlp's shape);
/// outputs likewise. Anything else is rejected rather than guessed.</remarks>
public static class OrtCeiling
{
    /// <summary>Loads the model, runs it for warm-up plus duration, and returns the measured part.</summary>
    public static OrtCeilingResult Run(OrtCeilingOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.BatchSize < 1 || options.Parallel < 1)
        {
            throw new ArgumentException("--batch and --parallel must be >= 1");
        }

        if (!File.Exists(options.ModelPath))
        {
            throw new FileNotFoundException($"no model at {options.ModelPath}", options.ModelPath);
        }

        var runners = new SessionRunner[options.Parallel];
        try
        {
            for (var i = 0; i < runners.Length; i++)
            {
                runners[i] = new SessionRunner(options, options.Seed + i);
            }

            // Every session warms up, then all start and stop measuring together (so the sum is over one window).
            using var start = new Barrier(runners.Length + 1);
            var measureTicks = (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
            var threads = new Thread[runners.Length];
            for (var i = 0; i < runners.Length; i++)
            {
                var runner = runners[i];
                threads[i] = new Thread(() => runner.WarmThenMeasure(options.Warmup, start, measureTicks, cancellationToken)) { IsBackground = true, Name = $"ort-ceiling-{i}" };
                threads[i].Start();
            }

            start.SignalAndWait(cancellationToken);
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            foreach (var thread in threads)
            {
                thread.Join();
            }

            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
            var runs = 0L;
            var seconds = 0.0;
            foreach (var runner in runners)
            {
                runner.Failure?.Throw();
                runs += runner.Runs;
                seconds = Math.Max(seconds, runner.Seconds);
            }

            var model = Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(options.ModelPath))));
            return new OrtCeilingResult(string.IsNullOrEmpty(model) ? options.ModelPath : model, options.BatchSize, options.IntraOpThreads,
                options.Parallel, runs, seconds, cpu);
        }
        finally
        {
            foreach (var runner in runners)
            {
                runner?.Dispose();
            }
        }
    }

    /// <summary>Writes <paramref name="result"/> as one JSON object (rows/s, ms per run, the settings).</summary>
    public static void WriteJson(Stream stream, OrtCeilingResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        writer.WriteStartObject();
        writer.WriteString("model", result.Model);
        writer.WriteNumber("batch_size", result.BatchSize);
        writer.WriteNumber("intra_op_threads", result.IntraOpThreads);
        writer.WriteNumber("parallel", result.Parallel);
        writer.WriteNumber("runs", result.Runs);
        writer.WriteNumber("seconds", result.Seconds);
        writer.WriteNumber("rows_per_s", result.RowsPerSecond);
        writer.WriteNumber("ms_per_run", result.MillisecondsPerRun);
        writer.WriteNumber("process_cpu_s", result.CpuSeconds);
        writer.WriteEndObject();
    }

    /// <summary>One line for the terminal.</summary>
    public static string Describe(OrtCeilingResult result) => string.Create(
        CultureInfo.InvariantCulture,
        $"{result.Model} batch {result.BatchSize} x{result.Parallel}: {result.RowsPerSecond:F0} rows/s, {result.MillisecondsPerRun:F3} ms/run ({result.Runs} runs in {result.Seconds:F1} s, process cpu {result.CpuSeconds:F1} s)");

    /// <summary>One session with its own pre-allocated inputs and outputs, run back to back on one thread.</summary>
    internal sealed class SessionRunner : IDisposable
    {
        private readonly OnnxSession _session;
        private readonly OrtValue[] _values;
        private readonly OrtIoBinding _binding;
        private readonly RunOptions _runOptions = new();

        public SessionRunner(OrtCeilingOptions options, int seed)
        {
            // 0 resolves as in the gateway: ORT's own default may count fewer cores than the process has.
            var threads = options.IntraOpThreads == 0 ? Environment.ProcessorCount : options.IntraOpThreads;
            _session = OnnxSession.Create(options.ModelPath, new OrtSessionConfig { IntraOpThreads = threads, InterOpThreads = 1 });
            var random = new Random(seed);
            var inputs = _session.Inputs;
            var outputs = _session.Outputs;
            _values = new OrtValue[inputs.Count + outputs.Count];
            _binding = _session.Session.CreateIoBinding();
            for (var i = 0; i < inputs.Count; i++)
            {
                var shape = BatchShape(inputs[i], options.BatchSize);
                var data = new float[Elements(shape)];
                for (var k = 0; k < data.Length; k++)
                {
                    data[k] = (random.NextSingle() * 2) - 1;
                }

                // Over the managed array (pinned for the value's lifetime), no copy.
                _values[i] = OrtValue.CreateTensorValueFromMemory(data, shape);
                _binding.BindInput(inputs[i].Name, _values[i]);
            }

            for (var o = 0; o < outputs.Count; o++)
            {
                var shape = BatchShape(outputs[o], options.BatchSize);
                _values[inputs.Count + o] = OrtValue.CreateTensorValueFromMemory(new float[Elements(shape)], shape);
                _binding.BindOutput(outputs[o].Name, _values[inputs.Count + o]);
            }
        }

        public long Runs { get; private set; }

        /// <summary>One run with the bound inputs and outputs (<see cref="SideBySide"/> times them one by one).</summary>
        public void RunOnce() => _session.Session.RunWithBinding(_runOptions, _binding);

        public double Seconds { get; private set; }

        public ExceptionDispatchInfo? Failure { get; private set; }

        public void WarmThenMeasure(TimeSpan warmup, Barrier start, long measureTicks, CancellationToken cancellationToken)
        {
            try
            {
                RunFor((long)(warmup.TotalSeconds * Stopwatch.Frequency), cancellationToken);
                start.SignalAndWait(cancellationToken);
                (Runs, Seconds) = RunFor(measureTicks, cancellationToken);
            }
            catch (Exception ex) when (ex is OnnxRuntimeException or OperationCanceledException)
            {
                Failure = ExceptionDispatchInfo.Capture(ex);
                start.RemoveParticipant();
            }
        }

        private (long Runs, double Seconds) RunFor(long ticks, CancellationToken cancellationToken)
        {
            var runs = 0L;
            var begin = Stopwatch.GetTimestamp();
            var end = begin + ticks;
            long now;
            do
            {
                _session.Session.RunWithBinding(_runOptions, _binding);
                runs++;
                now = Stopwatch.GetTimestamp();
            }
            while (now < end && !cancellationToken.IsCancellationRequested);

            return (runs, Stopwatch.GetElapsedTime(begin, now).TotalSeconds);
        }

        public void Dispose()
        {
            _binding.Dispose();
            foreach (var value in _values)
            {
                value?.Dispose();
            }

            _runOptions.Dispose();
            _session.Dispose();
        }
    }

    private static long[] BatchShape(TensorMetadata tensor, int batchSize)
    {
        if (tensor.DataType != TensorDataType.Fp32 || tensor.Shape.Length < 1)
        {
            throw new NotSupportedException($"{DescribeTensor(tensor)}: the ceiling run supports FP32 tensors with a leading batch dimension only");
        }

        var shape = (long[])tensor.Shape.Clone();
        for (var d = 1; d < shape.Length; d++)
        {
            if (shape[d] < 0)
            {
                throw new NotSupportedException($"{DescribeTensor(tensor)}: only the leading (batch) dimension may be dynamic");
            }
        }

        shape[0] = batchSize;
        return shape;
    }

    private static string DescribeTensor(TensorMetadata tensor) => $"{tensor.Name}: {tensor.DataType.ToProtocolName()}{tensor.ShapeText}";

    private static int Elements(long[] shape)
    {
        var n = 1L;
        foreach (var d in shape)
        {
            n *= d;
        }

        return checked((int)n);
    }
}
