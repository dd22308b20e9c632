using System.Globalization;
using InferenceGateway.Core.Features;

namespace InferenceGateway.Core.Tests.Features;

public sealed class FeatureBackfillTests
{
    private const long T = 1_704_067_200_000;

    [Fact]
    public void Run_EventsOutOfOrderWithinLateness_QueriesAnsweredInTheirOrderAsIfInOrder()
    {
        // Events arrive up to 4 minutes out of order (lateness 5 min); one arrives 10 minutes late and is dropped.
        var events = new StringWriter();
        events.WriteLine("event_time_unix_ms,card_id,merchant_id,merchant_category,amount,label");
        var rows = new (long Offset, string Card, string Merchant, string Amount)[]
        {
            (0, "c1", "m1", "10.00"), (240_000, "c1", "m2", "20.50"), (60_000, "c1", "m1", "1.25"), (120_000, "c2", "m3", "7.00"),
            (900_000, "c1", "m4", "99.99"), (300_000, "c1", "m9", "1000.00"), (1_200_000, "c2", "m3", "3.00"),
        };
        foreach (var (offset, card, merchant, amount) in rows)
        {
            events.WriteLine($"{T + offset},{card},{merchant},5,{amount},0");
        }

        var queries = new StringWriter();
        queries.WriteLine("card_id,event_time_unix_ms,amount,merchant_category");
        queries.WriteLine($"c1,{T + 600_000},12.5,3");
        queries.WriteLine($"c2,{T + 1_300_000},1,1");
        queries.WriteLine($"c1,{T + 250_000},2,2");
        queries.WriteLine("c1,,2,2");

        var engine = new FeatureEngine(FeatureTestData.Bundled, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan });
        var output = new StringWriter { NewLine = "\n" };
        var result = new FeatureBackfill(engine, "transactions").Run(new StringReader(events.ToString()), new StringReader(queries.ToString()), output, FeatureTestData.FraudV2);

        Assert.Equal((7L, 6L, 1L, 0L), (result.Rows, result.Accepted, result.DroppedLate, result.Rejected));
        Assert.Equal((3L, 1L), (result.Queries, result.QueriesFailed));
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("event_time_unix_ms,card_id," + string.Join(",", FeatureTestData.FraudV2), lines[0]);

        // c1 as of +10 min: events at 0, 1, 4 min (the 1,000.00 at +5 min came 10 min late and was dropped).
        Assert.Equal($"{T + 600_000},c1,12.5,0,3,3,31.75,{F(31.75 / 3)},2,360", lines[1]);
        Assert.Equal($"{T + 1_300_000},c2,1,0,1,1,10,5,1,100", lines[2]);
        Assert.Equal($"{T + 250_000},c1,2,0,2,3,31.75,{F(31.75 / 3)},2,10", lines[3]);
        Assert.Equal(4, lines.Length);
    }

    private static string F(double value) => FeatureCsv.FormatFloat((float)value);

    [Theory]
    [InlineData(0f, "0")]
    [InlineData(55.96f, "55.96")]
    [InlineData(2_592_000f, "2592000")]
    [InlineData(123456790f, "123456790")]
    [InlineData(1e-5f, "0.00001")]
    [InlineData(1.17549435E-38f, "0.000000000000000000000000000000000000011754944")]
    [InlineData(3.4028235e38f, "340282350000000000000000000000000000000")]
    [InlineData(-1.5e-7f, "-0.00000015")]
    public void FormatFloat_Values_ShortestPositionalRoundTrip(float value, string expected)
    {
        var text = FeatureCsv.FormatFloat(value);
        Assert.Equal(expected, text);
        Assert.Equal(BitConverter.SingleToInt32Bits(value), BitConverter.SingleToInt32Bits(float.Parse(text, CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Split_QuotedFields_Unescaped()
    {
        var fields = new List<string>();
        FeatureCsv.Split("a,\"b,c\",\"say \"\"hi\"\"\",", fields);
        Assert.Equal(["a", "b,c", "say \"hi\"", ""], fields);
        Assert.Equal("\"b,c\"", FeatureCsv.Quote("b,c"));
    }
}
