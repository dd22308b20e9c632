namespace InferenceGateway.Grpc.Tests;

public sealed class GrpcProtocolTests
{
    [Theory]
    [InlineData("1H", 36_000_000_000L)]
    [InlineData("2M", 1_200_000_000L)]
    [InlineData("3S", 30_000_000L)]
    [InlineData("250m", 2_500_000L)]
    [InlineData("15u", 150L)]
    [InlineData("1000n", 10L)]
    [InlineData("0m", 0L)]
    [InlineData("99999999S", 999_999_990_000_000L)]
    public void TryParseTimeout_ValidValue_ParsesTicks(string value, long ticks)
    {
        Assert.True(GrpcProtocol.TryParseTimeout(value, out var timeout));
        Assert.Equal(ticks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("10s")]
    [InlineData("10x")]
    [InlineData("-1S")]
    [InlineData("123456789S")]
    [InlineData("1.5S")]
    [InlineData(" 1S")]
    public void TryParseTimeout_InvalidValue_ReturnsFalse(string value) =>
        Assert.False(GrpcProtocol.TryParseTimeout(value, out _));

    [Theory]
    [InlineData(1L, "100n")]
    [InlineData(10_000L, "1000000n")]
    [InlineData(20_000_000L, "2000000u")]
    [InlineData(3_600_000_000_000L, "360000S")]
    [InlineData(TimeSpan.TicksPerDay * 365 * 100, "52560000M")]
    public void FormatTimeout_Value_FinestUnitThatFits(long ticks, string expected) =>
        Assert.Equal(expected, GrpcProtocol.FormatTimeout(TimeSpan.FromTicks(ticks)));

    [Fact]
    public void FormatTimeout_RoundTrip_NeverShorter()
    {
        foreach (var ms in new[] { 1, 999, 1000, 123_456, 86_400_000 })
        {
            var timeout = TimeSpan.FromMilliseconds(ms) + TimeSpan.FromTicks(3);
            var text = GrpcProtocol.FormatTimeout(timeout);
            Assert.True(text.Length <= 9, text);
            Assert.True(GrpcProtocol.TryParseTimeout(text, out var parsed));
            Assert.True(parsed >= timeout, $"{text} parsed to {parsed}, shorter than {timeout}");
        }
    }

    [Fact]
    public void FormatTimeout_NonPositive_Zero() => Assert.Equal("0n", GrpcProtocol.FormatTimeout(TimeSpan.FromSeconds(-1)));

    [Theory]
    [InlineData("plain ascii", "plain ascii")]
    [InlineData("100%", "100%25")]
    [InlineData("line\nbreak", "line%0Abreak")]
    [InlineData("ü", "%C3%BC")]
    [InlineData("\u20AC", "%E2%82%AC")]
    [InlineData("tab\t~", "tab%09~")]
    public void PercentEncode_Value_EncodesPerSpec(string value, string expected) =>
        Assert.Equal(expected, GrpcProtocol.PercentEncode(value));

    [Theory]
    [InlineData("100%25", "100%")]
    [InlineData("%C3%BC%e2%82%ac", "ü€")]
    [InlineData("bad %zz escape", "bad %zz escape")]
    [InlineData("trailing %4", "trailing %4")]
    [InlineData("%", "%")]
    public void PercentDecode_Value_DecodesLeniently(string value, string expected) =>
        Assert.Equal(expected, GrpcProtocol.PercentDecode(value));

    [Fact]
    public void PercentEncode_UnicodeRoundTrip_Identity()
    {
        const string text = "détail: 💥 50% \r\n done";
        Assert.Equal(text, GrpcProtocol.PercentDecode(GrpcProtocol.PercentEncode(text)));
    }

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/grpc;charset=utf-8", true)]
    [InlineData("APPLICATION/GRPC", true)]
    [InlineData("application/grpcx", false)]
    [InlineData("application/json", false)]
    [InlineData(null, false)]
    public void IsGrpcContentType_Value_Classifies(string? value, bool expected) =>
        Assert.Equal(expected, GrpcProtocol.IsGrpcContentType(value));

    [Fact]
    public void Metadata_BinaryKey_RequiresBytes()
    {
        var metadata = new Metadata { { "x-data-bin", new byte[] { 1, 2 } }, { "X-Name", "v" } };
        Assert.Equal(new byte[] { 1, 2 }, metadata.GetValueBytes("x-data-bin"));
        Assert.Equal("x-name", metadata[1].Key);
        Assert.Throws<ArgumentException>(() => metadata.Add("x-data-bin", "text"));
        Assert.Throws<ArgumentException>(() => metadata.Add("bad key", "v"));
    }
}
