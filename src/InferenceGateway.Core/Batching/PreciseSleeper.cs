using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace InferenceGateway.Core.Batching;

/// <summary>
/// A sleep counted in nanoseconds that another thread can end early: how a batcher instance waits for a batch's due
/// time. .NET's own timed waits count whole milliseconds, and its timers fire on a shared timer thread and then hop to
/// the thread pool (a <see cref="TimeProvider.System"/> timer due in 1 ms fired 2-4 ms late on our 2-core VMs); a
/// batch must leave within 100 us of its due time. Linux only: an eventfd polled by <c>ppoll</c> with a nanosecond
/// timeout, from a thread whose timer slack is 1 ns (<see cref="UseFineTimerSlack"/>; the kernel adds its default
/// 50 us slack to every timed sleep otherwise). Elsewhere <see cref="IsSupported"/> is false and the batcher keeps
/// using timers.
/// </summary>
/// <remarks>
/// Nothing spins: a sleeping thread uses no CPU, and a <see cref="Wake"/> before the <see cref="Sleep"/> is not lost
/// (the eventfd stays readable until <see cref="Reset"/>).
/// </remarks>
internal sealed unsafe partial class PreciseSleeper : IDisposable
{
    private const int EfdNonblock = 0x800;   // O_NONBLOCK
    private const int EfdCloexec = 0x80000;  // O_CLOEXEC
    private const short PollIn = 0x1;
    private const int PrSetTimerslack = 29;
    private const long NanosecondsPerSecond = 1_000_000_000;

    private readonly SafeFileHandle _eventFd;

    private PreciseSleeper(SafeFileHandle eventFd) => _eventFd = eventFd;

    /// <summary>True where precise sleeps work (Linux, with an eventfd available).</summary>
    public static bool IsSupported { get; } = Probe();

    /// <summary>Creates a sleeper (one eventfd).</summary>
    /// <exception cref="IOException">The eventfd could not be created (the message carries the OS error).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux.</exception>
    public static PreciseSleeper Create()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("Precise batcher waits need Linux's eventfd.");
        }

        var fd = Native.EventFd(0, EfdNonblock | EfdCloexec);
        if (fd < 0)
        {
            throw new IOException($"eventfd failed: {Marshal.GetLastPInvokeErrorMessage()}");
        }

        return new PreciseSleeper(new SafeFileHandle(fd, ownsHandle: true));
    }

    /// <summary>
    /// Sets the calling thread's timer slack to 1 ns (Linux), so its timed sleeps end when asked instead of up to the
    /// default 50 us later. Affects only that thread.
    /// </summary>
    public static void UseFineTimerSlack()
    {
        if (OperatingSystem.IsLinux())
        {
            _ = Native.Prctl(PrSetTimerslack, 1, 0, 0, 0); // Best effort: a failure only costs precision.
        }
    }

    /// <summary>
    /// Sleeps up to <paramref name="nanoseconds"/>, or less after a <see cref="Wake"/> (also one made before the call)
    /// or a signal; the caller reads its clock afterwards to know which.
    /// </summary>
    public void Sleep(long nanoseconds)
    {
        var added = false;
        _eventFd.DangerousAddRef(ref added);
        try
        {
            var poll = new PollFd { Fd = (int)_eventFd.DangerousGetHandle(), Events = PollIn };
            var timeout = new Timespec { Seconds = nanoseconds / NanosecondsPerSecond, Nanoseconds = nanoseconds % NanosecondsPerSecond };
            _ = Native.Ppoll(&poll, 1, &timeout, null); // A timeout, a wake-up or EINTR: the caller re-reads the clock.
        }
        finally
        {
            if (added)
            {
                _eventFd.DangerousRelease();
            }
        }
    }

    /// <summary>Ends the current <see cref="Sleep"/>, or the next one if none is under way.</summary>
    public void Wake()
    {
        ulong one = 1;
        _ = Native.Write(_eventFd, &one, sizeof(ulong)); // Cannot fail short of the counter overflowing.
    }

    /// <summary>Consumes the wake-ups made so far, so the next <see cref="Sleep"/> sleeps.</summary>
    public void Reset()
    {
        ulong count;
        _ = Native.Read(_eventFd, &count, sizeof(ulong)); // EAGAIN when there was none: nothing to consume.
    }

    /// <summary>Closes the eventfd.</summary>
    public void Dispose() => _eventFd.Dispose();

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            using var sleeper = Create();
            sleeper.Wake();
            sleeper.Sleep(0);
            sleeper.Reset();
            return true;
        }
        catch (Exception ex) when (ex is IOException or DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private static partial class Native
    {
        private const string Libc = "libc";

        [LibraryImport(Libc, EntryPoint = "eventfd", SetLastError = true)]
        public static partial int EventFd(uint initialValue, int flags);

        [LibraryImport(Libc, EntryPoint = "ppoll", SetLastError = true)]
        public static partial int Ppoll(PollFd* fds, nuint count, Timespec* timeout, void* signalMask);

        [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
        public static partial nint Write(SafeFileHandle fd, void* buffer, nuint count);

        [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
        public static partial nint Read(SafeFileHandle fd, void* buffer, nuint count);

        // prctl is variadic in C; the five-argument form is how the kernel takes it on x64 and arm64.
        [LibraryImport(Libc, EntryPoint = "prctl", SetLastError = true)]
        public static partial int Prctl(int option, nuint argument2, nuint argument3, nuint argument4, nuint argument5);
    }
}
