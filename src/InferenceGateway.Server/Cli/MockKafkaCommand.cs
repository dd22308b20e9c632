using System.Globalization;
using System.Runtime.InteropServices;

namespace InferenceGateway.Server.Cli;

/// <summary>
/// <c>mock-kafka</c>: librdkafka's mock cluster (the one <c>test.mock.num.brokers</c> starts) as a process of its own,
/// with topics created at the partition counts asked for, so that tests and <c>make cluster</c> get a Kafka bootstrap
/// list without a broker installed. Prints <c>bootstrap: LIST</c> once the topics exist and serves until SIGTERM or
/// SIGINT. The mock's brokers listen on 127.0.0.1 only.
/// </summary>
/// <remarks>
/// Topics go through librdkafka's C mock API rather than Confluent.Kafka's AdminClient: CreateTopics against the mock
/// cluster does not complete, and a topic created on first use gets the mock's default of 4 partitions.
/// </remarks>
internal static class MockKafkaCommand
{
    public const string Usage = """
        usage: InferenceGateway.Server mock-kafka [--brokers N] [--topic NAME:PARTITIONS ...] [--bootstrap-file PATH]
          --brokers         mock brokers, each on its own 127.0.0.1 port (default 3, at most 32)
          --topic           a topic and its partition count (1 to 10000); repeat for more topics. Replication factor:
                            the broker count, at most 3. Topics not created here are made on first use with 4 partitions
          --bootstrap-file  also write the bootstrap list to this file (written whole: a temp file renamed into place)
        Prints "bootstrap: HOST:PORT,..." on stdout when ready; serves until SIGTERM or SIGINT.
        """;

    private const int MaxBrokers = 32;
    private const int MaxPartitions = 10_000;

    public static async Task<int> RunAsync(IEnumerable<string> args, TextWriter stdout, TextWriter stderr)
    {
        var line = new CommandLine(args, new HashSet<string>());
        var parseErrors = line.Errors.Count;
        var brokers = line.GetInt64("brokers", 3);
        if (line.Errors.Count == parseErrors && brokers is < 1 or > MaxBrokers)
        {
            line.Errors.Add($"--brokers {brokers} is not within 1 to {MaxBrokers}");
        }

        var topics = new List<(string Name, int Partitions)>();
        foreach (var spec in line.GetAll("topic"))
        {
            if (ParseTopic(spec, out var topic, out var error))
            {
                if (topics.Exists(t => t.Name == topic.Name))
                {
                    line.Errors.Add($"--topic '{topic.Name}' is given twice");
                }
                else
                {
                    topics.Add(topic);
                }
            }
            else
            {
                line.Errors.Add(error);
            }
        }

        var bootstrapFile = line.Get("bootstrap-file");
        line.RejectUnknown();
        if (bootstrapFile is not null && (bootstrapFile.Length == 0 || Directory.Exists(bootstrapFile)))
        {
            line.Errors.Add($"--bootstrap-file '{bootstrapFile}' is not a file path");
        }

        if (!line.ReportErrors(stderr, "mock-kafka", Usage))
        {
            return 2;
        }

        // Registered before the cluster starts: a signal that arrives while topics are being created still stops it.
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

        MockCluster cluster;
        try
        {
            cluster = MockCluster.Start((int)brokers);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or InvalidOperationException)
        {
            await stderr.WriteLineAsync($"mock-kafka: {ex.Message}").ConfigureAwait(false);
            return 1;
        }

        using (cluster)
        {
            var replication = (int)Math.Min(brokers, 3);
            foreach (var (name, partitions) in topics)
            {
                var error = cluster.CreateTopic(name, partitions, replication);
                if (error is not null)
                {
                    await stderr.WriteLineAsync($"mock-kafka: creating topic '{name}' ({partitions} partitions): {error}").ConfigureAwait(false);
                    return 1;
                }
            }

            var bootstrap = cluster.Bootstraps;
            if (bootstrapFile is not null)
            {
                try
                {
                    WriteWhole(bootstrapFile, bootstrap);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    await stderr.WriteLineAsync($"mock-kafka: --bootstrap-file '{bootstrapFile}': {ex.Message}").ConfigureAwait(false);
                    return 1;
                }
            }

            // Flushed at once: the parent reads this line from a pipe, where output is otherwise buffered.
            await stdout.WriteLineAsync("bootstrap: " + bootstrap).ConfigureAwait(false);
            await stdout.FlushAsync().ConfigureAwait(false);
            await stop.Task.ConfigureAwait(false);
        }

        return 0;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true; // exit through the cleanup above, not the runtime's default termination
            stop.TrySetResult();
        }
    }

    /// <summary>
    /// <c>NAME:PARTITIONS</c> with a name Kafka accepts (letters, digits, '.', '_', '-'; at most 249 characters).
    /// </summary>
    private static bool ParseTopic(string spec, out (string Name, int Partitions) topic, out string error)
    {
        topic = default;
        error = "";
        var colon = spec.LastIndexOf(':');
        if (colon < 0)
        {
            error = $"--topic '{spec}' is not NAME:PARTITIONS";
            return false;
        }

        var name = spec[..colon];
        var count = spec[(colon + 1)..];
        if (name.Length is 0 or > 249 || name is "." or ".." || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
        {
            error = $"--topic '{spec}': '{name}' is not a valid topic name (1 to 249 of letters, digits, '.', '_', '-'; not '.' or '..')";
            return false;
        }

        if (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var partitions) || partitions is < 1 or > MaxPartitions)
        {
            error = $"--topic '{spec}': partitions '{count}' is not an integer within 1 to {MaxPartitions}";
            return false;
        }

        topic = (name, partitions);
        return true;
    }

    /// <summary>Writes <paramref name="text"/> to a temp file beside <paramref name="path"/> and renames it into place, so a reader sees no file or all of it.</summary>
    private static void WriteWhole(string path, string text)
    {
        var full = Path.GetFullPath(path);
        var temp = full + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp";
        File.WriteAllText(temp, text + "\n");
        File.Move(temp, full, overwrite: true);
    }

    /// <summary>A librdkafka handle and the mock cluster it owns; disposing destroys the cluster, then the handle.</summary>
    private sealed unsafe class MockCluster : IDisposable
    {
        private const int ProducerType = 0; // RD_KAFKA_PRODUCER
        private nint _handle;
        private nint _cluster;

        private MockCluster(nint handle, nint cluster)
        {
            _handle = handle;
            _cluster = cluster;
        }

        /// <summary>The brokers' addresses, comma separated, as a client's <c>bootstrap.servers</c>.</summary>
        public string Bootstraps => Marshal.PtrToStringUTF8(Native.MockClusterBootstraps(_cluster)) ?? "";

        public static MockCluster Start(int brokers)
        {
            Native.Load();
            var conf = Native.ConfNew();
            var errors = stackalloc byte[512];

            // Warnings and worse only: the handle exists to own the cluster and never connects, so its notice that
            // bootstrap.servers is unset would only mislead whoever reads stderr.
            fixed (byte* name = "log_level\0"u8, value = "4\0"u8)
            {
                _ = Native.ConfSet(conf, name, value, errors, 512);
            }

            var handle = Native.New(ProducerType, conf, errors, 512);
            if (handle == 0)
            {
                Native.ConfDestroy(conf); // rd_kafka_new takes the configuration only when it succeeds
                throw new InvalidOperationException("rd_kafka_new failed: " + Marshal.PtrToStringUTF8((nint)errors));
            }

            var cluster = Native.MockClusterNew(handle, brokers);
            if (cluster == 0)
            {
                Native.Destroy(handle);
                throw new InvalidOperationException($"rd_kafka_mock_cluster_new failed for {brokers} brokers");
            }

            return new MockCluster(handle, cluster);
        }

        /// <summary>Null on success, else librdkafka's description of the error.</summary>
        public string? CreateTopic(string name, int partitions, int replicationFactor)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(name + "\0");
            int error;
            fixed (byte* topic = bytes)
            {
                error = Native.MockTopicCreate(_cluster, topic, partitions, replicationFactor);
            }

            return error == 0 ? null : $"{Marshal.PtrToStringUTF8(Native.ErrorString(error))} (error {error})";
        }

        public void Dispose()
        {
            if (_cluster != 0)
            {
                Native.MockClusterDestroy(_cluster);
                _cluster = 0;
            }

            if (_handle != 0)
            {
                Native.Destroy(_handle);
                _handle = 0;
            }
        }
    }

    /// <summary>
    /// librdkafka's C API, bound by hand: librdkafka.redist's glibc build (<c>librdkafka.so</c>) needs RHEL's
    /// <c>libsasl2.so.3</c>, which Debian does not have (it ships <c>.so.2</c>), so a plain <c>[LibraryImport]</c> fails to
    /// load there. Like Confluent.Kafka, this tries that build, then the self-contained <c>centos8-librdkafka.so</c>,
    /// without an assembly-wide import resolver (only one may exist per assembly).
    /// </summary>
    private static unsafe class Native
    {
        private static nint _library;

        public static delegate* unmanaged<nint> ConfNew { get; private set; }

        public static delegate* unmanaged<nint, void> ConfDestroy { get; private set; }

        public static delegate* unmanaged<nint, byte*, byte*, byte*, nuint, int> ConfSet { get; private set; }

        public static delegate* unmanaged<int, nint, byte*, nuint, nint> New { get; private set; }

        public static delegate* unmanaged<nint, void> Destroy { get; private set; }

        public static delegate* unmanaged<int, nint> ErrorString { get; private set; }

        public static delegate* unmanaged<nint, int, nint> MockClusterNew { get; private set; }

        public static delegate* unmanaged<nint, nint> MockClusterBootstraps { get; private set; }

        public static delegate* unmanaged<nint, byte*, int, int, int> MockTopicCreate { get; private set; }

        public static delegate* unmanaged<nint, void> MockClusterDestroy { get; private set; }

        /// <summary>Loads the library once; throws <see cref="DllNotFoundException"/> naming every path tried.</summary>
        public static void Load()
        {
            if (_library != 0)
            {
                return;
            }

            var library = Open();
            ConfNew = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "rd_kafka_conf_new");
            ConfDestroy = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(library, "rd_kafka_conf_destroy");
            ConfSet = (delegate* unmanaged<nint, byte*, byte*, byte*, nuint, int>)NativeLibrary.GetExport(library, "rd_kafka_conf_set");
            New = (delegate* unmanaged<int, nint, byte*, nuint, nint>)NativeLibrary.GetExport(library, "rd_kafka_new");
            Destroy = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(library, "rd_kafka_destroy");
            ErrorString = (delegate* unmanaged<int, nint>)NativeLibrary.GetExport(library, "rd_kafka_err2str");
            MockClusterNew = (delegate* unmanaged<nint, int, nint>)NativeLibrary.GetExport(library, "rd_kafka_mock_cluster_new");
            MockClusterBootstraps = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(library, "rd_kafka_mock_cluster_bootstraps");
            MockTopicCreate = (delegate* unmanaged<nint, byte*, int, int, int>)NativeLibrary.GetExport(library, "rd_kafka_mock_topic_create");
            MockClusterDestroy = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(library, "rd_kafka_mock_cluster_destroy");
            _library = library;
        }

        private static nint Open()
        {
            // The build copies runtimes/<rid>/native; a RID-specific publish puts the files beside the app instead.
            var rid = "linux-" + RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
            string[] folders = [Path.Combine(AppContext.BaseDirectory, "runtimes", rid, "native"), AppContext.BaseDirectory];
            var failures = new List<string>();
            foreach (var name in (string[])["librdkafka.so", "centos8-librdkafka.so"])
            {
                foreach (var folder in folders)
                {
                    var path = Path.Combine(folder, name);
                    if (!File.Exists(path))
                    {
                        continue;
                    }

                    try
                    {
                        return NativeLibrary.Load(path);
                    }
                    catch (DllNotFoundException ex)
                    {
                        failures.Add(ex.Message.Split('\n')[0].Trim() + " (" + path + ")");
                    }
                }
            }

            // Last, wherever the system keeps one (a distribution's librdkafka package).
            if (NativeLibrary.TryLoad("librdkafka.so.1", out var system))
            {
                return system;
            }

            throw new DllNotFoundException("could not load librdkafka (librdkafka.redist's runtimes/" + rid + "/native, or librdkafka.so.1): " +
                (failures.Count == 0 ? "no library file found" : string.Join("; ", failures)));
        }
    }
}
