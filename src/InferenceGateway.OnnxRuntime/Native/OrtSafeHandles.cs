using System.Buffers;
using System.Runtime.InteropServices;

namespace InferenceGateway.OnnxRuntime.Native;

/// <summary>
/// Base for every ONNX Runtime object we own: zero is invalid, release goes through the matching <c>Release*</c>.
/// Create the handle before the native call, then <see cref="Attach"/> the pointer right after it succeeds.
/// </summary>
internal abstract class OrtSafeHandle : SafeHandle
{
    protected OrtSafeHandle()
        : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    public void Attach(nint pointer) => SetHandle(pointer);
}

internal sealed class OrtEnvHandle : OrtSafeHandle
{
    protected override bool ReleaseHandle()
    {
        NativeMethods.ReleaseEnv(handle);
        return true;
    }
}

internal sealed class OrtSessionOptionsHandle : OrtSafeHandle
{
    protected override bool ReleaseHandle()
    {
        NativeMethods.ReleaseSessionOptions(handle);
        return true;
    }
}

internal sealed class OrtCudaProviderOptionsHandle : OrtSafeHandle
{
    protected override bool ReleaseHandle()
    {
        NativeMethods.ReleaseCudaProviderOptions(handle);
        return true;
    }
}

internal sealed class OrtSessionHandle : OrtSafeHandle
{
    protected override bool ReleaseHandle()
    {
        NativeMethods.ReleaseSession(handle);
        return true;
    }
}

internal sealed class OrtTypeInfoHandle : OrtSafeHandle
{
    protected override bool ReleaseHandle()
    {
        NativeMethods.ReleaseTypeInfo(handle);
        return true;
    }
}

internal sealed class OrtTensorTypeAndShapeInfoHandle : OrtSafeHandle
{
    protected override bool ReleaseHandle()
    {
        NativeMethods.ReleaseTensorTypeAndShapeInfo(handle);
        return true;
    }
}

internal sealed class OrtMemoryInfoHandle : OrtSafeHandle
{
    protected override bool ReleaseHandle()
    {
        NativeMethods.ReleaseMemoryInfo(handle);
        return true;
    }
}

/// <summary>
/// An <c>OrtValue</c>, plus the pin on the managed memory it points at when it was created over caller memory.
/// Releasing the value before unpinning keeps ONNX Runtime from ever seeing memory the GC may move, even when
/// the owner forgot to dispose and the critical finalizer does the work.
/// </summary>
internal sealed class OrtValueHandle : OrtSafeHandle
{
    private MemoryHandle _pin;

    public void AttachPin(MemoryHandle pin) => _pin = pin;

    protected override bool ReleaseHandle()
    {
        NativeMethods.ReleaseValue(handle);
        _pin.Dispose();
        _pin = default;
        return true;
    }
}

/// <summary>A block from <see cref="NativeMemory"/> (cached UTF-8 name tables and the like).</summary>
internal sealed unsafe class NativeBufferHandle : SafeHandle
{
    public NativeBufferHandle(nuint byteCount)
        : base(0, ownsHandle: true)
    {
        SetHandle((nint)NativeMemory.AllocZeroed(byteCount));
    }

    public override bool IsInvalid => handle == 0;

    public byte* Pointer => (byte*)handle;

    protected override bool ReleaseHandle()
    {
        NativeMemory.Free((void*)handle);
        return true;
    }
}
