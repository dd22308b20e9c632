using System.Runtime.InteropServices;
using InferenceGateway.OnnxRuntime.Native;

namespace InferenceGateway.OnnxRuntime;

/// <summary>
/// Loads the ONNX Runtime native library once per process and binds its C API function table.
/// </summary>
/// <remarks>
/// Resolution order: the explicit path (<see cref="OrtOptions.LibraryPath"/>), then the environment variable
/// <see cref="LibraryPathEnvironmentVariable"/>, then <see cref="LibraryFileName"/> next to the application
/// (<see cref="AppContext.BaseDirectory"/>), then the platform's default probing. An explicit path or the
/// environment variable, when given, must load: we never silently fall through to a different build (a GPU host
/// pointing at the CUDA build must not end up on the CPU one unnoticed).
/// </remarks>
public static unsafe class OrtLibrary
{
    /// <summary>Environment variable naming the library file to load.</summary>
    public const string LibraryPathEnvironmentVariable = "ORT_LIBRARY_PATH";

    /// <summary>The file name the build copies next to every binary.</summary>
    public const string LibraryFileName = "libonnxruntime.so.1";

    /// <summary><c>ORT_API_VERSION</c> of the ONNX Runtime 1.30 headers this binding was written against.</summary>
    public const uint PreferredApiVersion = 30;

    /// <summary>The oldest API version that has every function this binding calls (the CUDA V2 options and
    /// <c>UpdateEnvWithCustomLogLevel</c> arrived in API 13); used when an older runtime rejects 30.</summary>
    public const uint MinimumApiVersion = 13;

    private static readonly Lock s_lock = new();
    private static nint s_library;
    private static string? s_loadedFrom;
    private static string? s_version;
    private static uint s_apiVersion;
    private static nint s_defaultAllocator;
    private static OrtMemoryInfoHandle? s_cpuMemoryInfo;

    /// <summary>True once the library is loaded and its API table bound.</summary>
    public static bool IsLoaded => s_library != 0;

    /// <summary>The path (or probing name) the library was loaded from.</summary>
    public static string LoadedFrom => s_loadedFrom ?? throw NotLoaded();

    /// <summary>The runtime's own version string, e.g. "1.30.0".</summary>
    public static string Version => s_version ?? throw NotLoaded();

    /// <summary>The API version negotiated with <c>GetApi</c>.</summary>
    public static uint ApiVersion => s_apiVersion != 0 ? s_apiVersion : throw NotLoaded();

    /// <summary>The default ORT CPU allocator (process-wide, owned by ORT).</summary>
    internal static nint DefaultAllocator => s_defaultAllocator != 0 ? s_defaultAllocator : throw NotLoaded();

    /// <summary>CPU memory info used for every tensor created over caller memory.</summary>
    internal static OrtMemoryInfoHandle CpuMemoryInfo => s_cpuMemoryInfo ?? throw NotLoaded();

    /// <summary>
    /// Loads and binds the library if that has not happened yet. Calling again with no path, or with the path
    /// already loaded, is a no-op; asking for a different path once loaded throws (one runtime per process).
    /// </summary>
    /// <exception cref="DllNotFoundException">No candidate could be loaded; the message lists what was tried.</exception>
    public static void EnsureLoaded(string? libraryPath = null)
    {
        lock (s_lock)
        {
            if (s_library != 0)
            {
                if (!string.IsNullOrEmpty(libraryPath) && !SamePath(libraryPath, s_loadedFrom!))
                {
                    throw new InvalidOperationException(
                        $"ONNX Runtime is already loaded from '{s_loadedFrom}'; cannot load '{libraryPath}' as well (one runtime per process).");
                }

                return;
            }

            var candidates = GetCandidates(
                libraryPath,
                Environment.GetEnvironmentVariable(LibraryPathEnvironmentVariable),
                AppContext.BaseDirectory,
                File.Exists);
            var (library, loadedFrom) = LoadFirst(candidates);
            try
            {
                Bind(library);
            }
            catch
            {
                NativeLibrary.Free(library);
                throw;
            }

            s_loadedFrom = loadedFrom;
            s_library = library;
        }
    }

    /// <summary>The ordered candidates to try; pure so the resolution order is unit-testable.</summary>
    internal static IReadOnlyList<LibraryCandidate> GetCandidates(
        string? explicitPath, string? environmentPath, string baseDirectory, Func<string, bool> fileExists)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath))
        {
            return [new LibraryCandidate(explicitPath, LibrarySource.Explicit)];
        }

        if (!string.IsNullOrWhiteSpace(environmentPath))
        {
            return [new LibraryCandidate(environmentPath, LibrarySource.EnvironmentVariable)];
        }

        var list = new List<LibraryCandidate>(3);
        var local = Path.Combine(baseDirectory, LibraryFileName);
        if (fileExists(local))
        {
            list.Add(new LibraryCandidate(local, LibrarySource.ApplicationDirectory));
        }

        list.Add(new LibraryCandidate(LibraryFileName, LibrarySource.DefaultProbing));
        list.Add(new LibraryCandidate("onnxruntime", LibrarySource.DefaultProbing));
        return list;
    }

    private static (nint Library, string LoadedFrom) LoadFirst(IReadOnlyList<LibraryCandidate> candidates)
    {
        var failures = new List<string>(candidates.Count);
        foreach (var candidate in candidates)
        {
            try
            {
                return (NativeLibrary.Load(candidate.PathOrName), candidate.PathOrName);
            }
            catch (DllNotFoundException ex)
            {
                failures.Add($"{candidate.Source} '{candidate.PathOrName}': {ex.Message}");
            }
            catch (BadImageFormatException ex)
            {
                failures.Add($"{candidate.Source} '{candidate.PathOrName}': {ex.Message}");
            }
        }

        throw new DllNotFoundException(
            "Could not load the ONNX Runtime native library. Set OrtOptions.LibraryPath or "
            + $"{LibraryPathEnvironmentVariable}, or place {LibraryFileName} next to the application. Tried: "
            + string.Join("; ", failures));
    }

    private static void Bind(nint library)
    {
        if (!NativeLibrary.TryGetExport(library, "OrtGetApiBase", out var getApiBaseExport))
        {
            throw new EntryPointNotFoundException("The loaded library does not export OrtGetApiBase: it is not ONNX Runtime.");
        }

        // OrtApiBase is { GetApi, GetVersionString }: two function pointers.
        var apiBase = ((delegate* unmanaged<void**>)getApiBaseExport)();
        var getApi = (delegate* unmanaged<uint, void**>)apiBase[0];
        var getVersionString = (delegate* unmanaged<byte*>)apiBase[1];
        var version = Marshal.PtrToStringUTF8((nint)getVersionString()) ?? string.Empty;

        var apiVersion = PreferredApiVersion;
        var api = getApi(apiVersion);
        if (api == null)
        {
            apiVersion = MinimumApiVersion;
            api = getApi(apiVersion);
        }

        if (api == null)
        {
            throw new NotSupportedException(
                $"ONNX Runtime {version} supports neither C API version {PreferredApiVersion} nor {MinimumApiVersion}.");
        }

        NativeMethods.Initialize(api);

        nint allocator;
        NativeMethods.ThrowIfError(NativeMethods.GetAllocatorWithDefaultOptions(&allocator), "Getting the default allocator");
        var memoryInfo = new OrtMemoryInfoHandle();
        nint info;
        NativeMethods.ThrowIfError(
            NativeMethods.CreateCpuMemoryInfo(OrtConstants.OrtArenaAllocator, OrtConstants.OrtMemTypeDefault, &info),
            "Creating CPU memory info");
        memoryInfo.Attach(info);

        s_version = version;
        s_apiVersion = apiVersion;
        s_defaultAllocator = allocator;
        s_cpuMemoryInfo = memoryInfo;
    }

    private static bool SamePath(string requested, string loaded) =>
        string.Equals(Path.GetFullPath(requested), Path.GetFullPath(loaded), StringComparison.Ordinal)
        || string.Equals(requested, loaded, StringComparison.Ordinal);

    private static InvalidOperationException NotLoaded() =>
        new("ONNX Runtime is not loaded yet: create an OnnxRuntimeEnvironment (or call OrtLibrary.EnsureLoaded) first.");
}

/// <summary>Where a library candidate came from.</summary>
internal enum LibrarySource
{
    Explicit,
    EnvironmentVariable,
    ApplicationDirectory,
    DefaultProbing,
}

/// <summary>One path or name to try loading.</summary>
internal readonly record struct LibraryCandidate(string PathOrName, LibrarySource Source);
