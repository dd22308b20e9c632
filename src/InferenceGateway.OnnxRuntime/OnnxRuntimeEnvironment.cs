using System.Runtime.InteropServices;
using InferenceGateway.OnnxRuntime.Native;

namespace InferenceGateway.OnnxRuntime;

/// <summary>
/// The process-wide ONNX Runtime environment (<c>OrtEnv</c>): loads the library, owns ORT's logging and is
/// needed to create every <see cref="InferenceSession"/>.
/// </summary>
/// <remarks>
/// ORT allows one environment per process, so this is a singleton: <see cref="Create"/> makes it on first call
/// and returns the same instance afterwards (applying a changed log level). It lives until the process exits;
/// it is deliberately not disposable, because sessions must never outlive it.
/// </remarks>
public sealed unsafe class OnnxRuntimeEnvironment
{
    private static readonly Lock s_lock = new();
    private static OnnxRuntimeEnvironment? s_instance;

    private readonly OrtEnvHandle _handle;

    private OnnxRuntimeEnvironment(OrtEnvHandle handle, OrtLogLevel logLevel)
    {
        _handle = handle;
        LogLevel = logLevel;
        Version = OrtLibrary.Version;
        LibraryPath = OrtLibrary.LoadedFrom;
    }

    /// <summary>The environment, created with default <see cref="OrtOptions"/> if nobody created it yet.</summary>
    public static OnnxRuntimeEnvironment Shared => Volatile.Read(ref s_instance) ?? Create(new OrtOptions());

    /// <summary>The runtime's version string, e.g. "1.30.0".</summary>
    public string Version { get; }

    /// <summary>Where the native library was loaded from.</summary>
    public string LibraryPath { get; }

    /// <summary>The minimum severity ORT logs.</summary>
    public OrtLogLevel LogLevel { get; private set; }

    internal OrtEnvHandle Handle => _handle;

    /// <summary>
    /// Creates the process-wide environment, or returns the existing one. A different <see cref="OrtOptions.LibraryPath"/>
    /// than the one already loaded throws <see cref="InvalidOperationException"/>; a different log level is applied.
    /// </summary>
    public static OnnxRuntimeEnvironment Create(OrtOptions? options = null)
    {
        options ??= new OrtOptions();
        lock (s_lock)
        {
            OrtLibrary.EnsureLoaded(options.LibraryPath);
            if (s_instance is { } existing)
            {
                if (existing.LogLevel != options.LogLevel)
                {
                    existing.SetLogLevel(options.LogLevel);
                }

                return existing;
            }

            var handle = new OrtEnvHandle();
            var logId = Marshal.StringToCoTaskMemUTF8(options.LogId);
            try
            {
                nint env;
                NativeMethods.ThrowIfError(
                    NativeMethods.CreateEnv((int)options.LogLevel, (byte*)logId, &env),
                    "Creating the ONNX Runtime environment");
                handle.Attach(env);
            }
            finally
            {
                Marshal.FreeCoTaskMem(logId);
            }

            var created = new OnnxRuntimeEnvironment(handle, options.LogLevel);
            Volatile.Write(ref s_instance, created);
            return created;
        }
    }

    /// <summary>Changes the minimum severity ORT logs, for every session.</summary>
    public void SetLogLevel(OrtLogLevel level)
    {
        NativeMethods.ThrowIfError(
            NativeMethods.UpdateEnvWithCustomLogLevel(_handle.DangerousGetHandle(), (int)level),
            "Updating the ONNX Runtime log level");
        LogLevel = level;
    }

    /// <summary>
    /// Execution providers compiled into the loaded library. Listed is not the same as usable: the CPU build
    /// from npm lists CUDA, whose provider library is not present; <see cref="InferenceSession"/> finds out.
    /// </summary>
    public IReadOnlyList<string> GetAvailableProviders()
    {
        byte** names;
        int count;
        NativeMethods.ThrowIfError(NativeMethods.GetAvailableProviders(&names, &count), "Listing execution providers");
        try
        {
            var result = new string[count];
            for (var i = 0; i < count; i++)
            {
                result[i] = Marshal.PtrToStringUTF8((nint)names[i]) ?? string.Empty;
            }

            return result;
        }
        finally
        {
            NativeMethods.ThrowIfError(NativeMethods.ReleaseAvailableProviders(names, count), "Releasing the provider list");
        }
    }
}
