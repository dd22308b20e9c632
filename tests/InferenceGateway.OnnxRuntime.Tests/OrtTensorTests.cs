namespace InferenceGateway.OnnxRuntime.Tests;

public class OrtTensorTests
{
    public OrtTensorTests() => _ = OnnxRuntimeEnvironment.Shared;

    [Fact]
    public void CreateOver_FloatMemory_SharesCallersMemory()
    {
        var data = new float[] { 1, 2, 3, 4, 5, 6 };
        using var tensor = OrtTensor.CreateOver(data.AsMemory(), [2, 3]);

        data[4] = 50;

        Assert.Equal(TensorElementType.Float, tensor.ElementType);
        Assert.Equal(6, tensor.ElementCount);
        Assert.Equal(24, tensor.ByteLength);
        Assert.True(tensor.IsOverCallerMemory);
        Assert.Equal(50, tensor.GetTensorData<float>()[4]);
    }

    [Fact]
    public void CreateOver_UnsupportedClrType_ThrowsNamingTheType()
    {
        var ex = Assert.Throws<NotSupportedException>(() => OrtTensor.CreateOver(new Half[4].AsMemory(), [4]));

        Assert.Contains("System.Half", ex.Message);
    }

    [Theory]
    [InlineData(TensorElementType.UInt8)]
    [InlineData(TensorElementType.Float16)]
    [InlineData(TensorElementType.String)]
    public unsafe void CreateOver_UnsupportedElementType_ThrowsNamingTheType(TensorElementType type)
    {
        var buffer = new byte[64];
        fixed (byte* p = buffer)
        {
            var address = (nint)p;
            var ex = Assert.Throws<NotSupportedException>(() => OrtTensor.CreateOver(address, buffer.Length, type, [4]));
            Assert.Contains(type.ToString(), ex.Message);
        }
    }

    [Fact]
    public unsafe void CreateOver_BufferTooSmall_ThrowsWithNeededBytes()
    {
        var buffer = new float[3];
        fixed (float* p = buffer)
        {
            var address = (nint)p;
            var ex = Assert.Throws<ArgumentException>(() => OrtTensor.CreateOver(address, 12, TensorElementType.Float, [2, 2]));
            Assert.Contains("needs 16 bytes but only 12", ex.Message);
        }
    }

    [Fact]
    public void CreateOver_NegativeDim_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => OrtTensor.CreateOver(new float[4].AsMemory(), [-1, 4]));

        Assert.Contains("negative", ex.Message);
    }

    [Fact]
    public void CreateOver_IntDoubleBool_ReportTheirElementTypes()
    {
        using var i = OrtTensor.CreateOver(new int[2].AsMemory(), [2]);
        using var d = OrtTensor.CreateOver(new double[2].AsMemory(), [2]);
        using var b = OrtTensor.CreateOver(new bool[2].AsMemory(), [2]);

        Assert.Equal(TensorElementType.Int32, i.ElementType);
        Assert.Equal(TensorElementType.Double, d.ElementType);
        Assert.Equal(TensorElementType.Bool, b.ElementType);
    }

    [Fact]
    public void GetTensorData_WrongClrType_Throws()
    {
        using var tensor = OrtTensor.CreateOver(new float[2].AsMemory(), [2]);

        var ex = Assert.Throws<InvalidOperationException>(() => tensor.GetTensorData<long>().ToArray());

        Assert.Contains("tensor(float)", ex.Message);
    }

    [Fact]
    public void Allocate_Float_IsWritableAndOwnedByOrt()
    {
        using var tensor = OrtTensor.Allocate(TensorElementType.Float, [3]);
        tensor.GetTensorMutableData<float>().Fill(2.5f);

        Assert.False(tensor.IsOverCallerMemory);
        Assert.Equal(new float[] { 2.5f, 2.5f, 2.5f }, tensor.GetTensorData<float>().ToArray());
    }

    [Fact]
    public void CreateStrings_CountMismatch_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => OrtTensor.CreateStrings(["a", "b"], [3]));

        Assert.Contains("holds 3 strings but 2 were given", ex.Message);
    }

    [Fact]
    public void CreateStrings_RoundTrip_PreservesUtf8()
    {
        string[] values = ["", "ascii", "ünïcødé", "日本"];
        using var tensor = OrtTensor.CreateStrings(values, [2, 2]);

        Assert.Equal(values, tensor.GetStrings());
        Assert.Equal([2L, 2L], tensor.Shape.ToArray());
    }

    [Fact]
    public void Dispose_Twice_IsHarmless()
    {
        var tensor = OrtTensor.CreateOver(new float[1].AsMemory(), [1]);
        tensor.Dispose();
        tensor.Dispose();

        Assert.Throws<ObjectDisposedException>(() => tensor.GetTensorData<float>().ToArray());
    }
}
