using InferenceGateway.Testing;

namespace InferenceGateway.Observability.Tests;

public sealed class PrometheusTextParserTests
{
    private const string ValidHistogram =
        "# TYPE d_seconds histogram\n" +
        "d_seconds_bucket{le=\"0.1\"} 1\n" +
        "d_seconds_bucket{le=\"1\"} 3\n" +
        "d_seconds_bucket{le=\"+Inf\"} 4\n" +
        "d_seconds_sum 7.5\n" +
        "d_seconds_count 4\n";

    [Fact]
    public void Parse_ValidExposition_FamiliesSamplesAndValues()
    {
        const string Text =
            "# A free comment\n" +
            "# HELP requests_total Requests\\nwith a \\\\ backslash\n" +
            "# TYPE requests_total counter\n" +
            "requests_total{model=\"fraud\",path=\"C:\\\\x \\\"q\\\"\\n\",} 12 1700000000000\n" +
            "requests_total{model=\"bench\"} 3e2\n" +
            "\n" +
            "# TYPE temperature gauge\n" +
            "temperature +Inf\n" +
            "# TYPE delta gauge\n" +
            "delta{a=\"1\"} -Inf\n" +
            "delta{a=\"2\"} NaN\n" +
            "delta{a=\"3\"} -0.5\n" +
            ValidHistogram;

        var scrape = PrometheusTextParser.Parse(Text);

        Assert.Equal(["requests_total", "temperature", "delta", "d_seconds"], scrape.Families.Select(f => f.Name));
        Assert.Equal("Requests\nwith a \\ backslash", scrape.Family("requests_total").Help);
        var first = scrape.Family("requests_total").Samples[0];
        Assert.Equal("C:\\x \"q\"\n", first.Labels["path"]);
        Assert.Equal(1700000000000, first.TimestampMs);
        Assert.Equal(12, scrape.Value("requests_total", ("model", "fraud"), ("path", "C:\\x \"q\"\n")));
        Assert.Equal(300, scrape.Value("requests_total", ("model", "bench")));
        Assert.Equal(double.PositiveInfinity, scrape.Value("temperature"));
        Assert.Equal(double.NegativeInfinity, scrape.Value("delta", ("a", "1")));
        Assert.True(double.IsNaN(scrape.Value("delta", ("a", "2"))));
        Assert.Equal([(0.1, 1.0), (1.0, 3.0), (double.PositiveInfinity, 4.0)], scrape.Buckets("d_seconds"));
    }

    [Fact]
    public void Parse_Empty_NoFamilies()
    {
        Assert.Empty(PrometheusTextParser.Parse(string.Empty).Families);
    }

    [Theory]
    [InlineData("non-cumulative buckets", "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 4\nh_bucket{le=\"+Inf\"} 5\nh_sum 1\nh_count 5\n")]
    [InlineData("no +Inf bucket", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n")]
    [InlineData("+Inf differs from _count", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n")]
    [InlineData("le not ascending", "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")]
    [InlineData("missing _sum", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n")]
    [InlineData("missing _count", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n")]
    [InlineData("bucket without le", "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n")]
    [InlineData("bare histogram sample", "# TYPE h histogram\nh 1\n")]
    [InlineData("fractional bucket count", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1.5\nh_sum 1\nh_count 1.5\n")]
    [InlineData("missing TYPE", "some_metric 1\n")]
    [InlineData("TYPE after samples", "# TYPE g gauge\ng 1\n# TYPE g gauge\n")]
    [InlineData("second TYPE", "# TYPE g gauge\n# TYPE g gauge\ng 1\n")]
    [InlineData("second HELP", "# HELP g a\n# HELP g b\n# TYPE g gauge\ng 1\n")]
    [InlineData("unknown type", "# TYPE g meter\ng 1\n")]
    [InlineData("metric name starts with digit", "# TYPE 1abc gauge\n1abc 1\n")]
    [InlineData("metric name with dash", "# TYPE a-b gauge\na-b 1\n")]
    [InlineData("metric name with dot", "# TYPE g gauge\ng.x 1\n")]
    [InlineData("label name with dot", "# TYPE g gauge\ng{a.b=\"1\"} 1\n")]
    [InlineData("label name starts with digit", "# TYPE g gauge\ng{1a=\"1\"} 1\n")]
    [InlineData("reserved label name", "# TYPE g gauge\ng{__name__=\"x\"} 1\n")]
    [InlineData("invalid escape", "# TYPE g gauge\ng{a=\"x\\ty\"} 1\n")]
    [InlineData("unterminated label value", "# TYPE g gauge\ng{a=\"x} 1\n")]
    [InlineData("unquoted label value", "# TYPE g gauge\ng{a=x} 1\n")]
    [InlineData("space inside braces", "# TYPE g gauge\ng{a=\"1\", b=\"2\"} 1\n")]
    [InlineData("duplicate label", "# TYPE g gauge\ng{a=\"1\",a=\"2\"} 1\n")]
    [InlineData("duplicate series", "# TYPE g gauge\ng{a=\"1\",b=\"2\"} 1\ng{b=\"2\",a=\"1\"} 2\n")]
    [InlineData("families interleaved", "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"1\"} 1\n")]
    [InlineData("counter without _total", "# TYPE requests counter\nrequests 1\n")]
    [InlineData("negative counter", "# TYPE r_total counter\nr_total -1\n")]
    [InlineData("sample name differs from gauge family", "# TYPE g gauge\ng_total 1\n")]
    [InlineData("invalid value", "# TYPE g gauge\ng abc\n")]
    [InlineData("comma decimal", "# TYPE g gauge\ng 1,5\n")]
    [InlineData("hex value", "# TYPE g gauge\ng 0x10\n")]
    [InlineData("no value", "# TYPE g gauge\ng\n")]
    [InlineData("too many fields", "# TYPE g gauge\ng 1 2 3\n")]
    [InlineData("invalid timestamp", "# TYPE g gauge\ng 1 1.5\n")]
    [InlineData("trailing whitespace", "# TYPE g gauge\ng 1 \n")]
    [InlineData("no final newline", "# TYPE g gauge\ng 1")]
    [InlineData("carriage return", "# TYPE g gauge\r\ng 1\r\n")]
    [InlineData("invalid HELP escape", "# HELP g a\\tb\n# TYPE g gauge\ng 1\n")]
    public void Parse_Malformed_Throws(string reason, string text)
    {
        var exception = Assert.Throws<FormatException>(() => PrometheusTextParser.Parse(text));
        Assert.False(string.IsNullOrEmpty(exception.Message), reason);
    }

    [Fact]
    public void Parse_ValidHistogramAlone_Accepted()
    {
        // The counterpart of the histogram rejections above: the same shape, correct, parses.
        var scrape = PrometheusTextParser.Parse(ValidHistogram);
        Assert.Equal(4, scrape.Value("d_seconds_count"));
    }

    [Fact]
    public void Value_MissingSample_ThrowsWithCandidates()
    {
        var scrape = PrometheusTextParser.Parse("# TYPE g gauge\ng{a=\"1\"} 1\n");
        var exception = Assert.Throws<KeyNotFoundException>(() => scrape.Value("g", ("a", "2")));
        Assert.Contains("a=\"1\"", exception.Message, StringComparison.Ordinal);
    }
}
