using InferenceGateway.Core.Features;

namespace InferenceGateway.Core.Tests.Features;

public sealed class FeatureRepositoryTests
{
    [Fact]
    public void LoadDirectory_BundledFeatures_DefinesFraudV2InputsOnTheTransactionsStream()
    {
        var repository = FeatureTestData.Bundled;
        Assert.True(repository.TryGetStream("transactions", out var stream));
        Assert.Equal("card_id", stream.EntityKey);
        Assert.Equal("event_time_unix_ms", stream.EventTimeField);
        Assert.Equal(2, stream.FindField("amount")!.Decimals);
        Assert.Equal(FieldType.String, stream.FindField("merchant_id")!.Type);
        foreach (var name in FeatureTestData.FraudV2)
        {
            Assert.True(repository.TryGetFeature(name, out _), name);
        }

        Assert.True(repository.TryGetFeature("seconds_since_last_txn", out var gap));
        Assert.Equal(2_592_000, gap.Default);
        var ratio = Assert.IsType<ExpressionFeatureDefinition>(repository.Features.Single(f => f.Name == "amount_to_avg_30d"));
        Assert.Equal(["amount", "amount_avg_30d"], ratio.References);
    }

    [Fact]
    public void Parse_ManyProblems_ListsEveryOneWithFileAndPath()
    {
        var ex = Assert.Throws<FeatureDefinitionException>(() => FeatureRepository.Parse(
        [
            ("a.json", """
                {
                  "streams": [
                    { "name": "tx", "entity_key": "card", "event_time": "t", "allowed_lateness": "5 minutes",
                      "fields": [ { "name": "amount", "type": "decimal" }, { "name": "m", "type": "string", "decimals": 2 } ] }
                  ],
                  "aggregations": [
                    { "name": "c", "stream": "tx", "function": "count", "window": "10x" },
                    { "name": "s", "stream": "nope", "function": "sum", "field": "amount", "window": "1h" },
                    { "name": "m_sum", "stream": "tx", "function": "sum", "field": "m", "window": "1h" },
                    { "name": "median", "stream": "tx", "function": "median", "field": "amount", "window": "1h" },
                    { "name": "no_field", "stream": "tx", "function": "max", "window": "1h" },
                    { "name": "zero", "stream": "tx", "function": "count", "window": "0s", "colour": "red" }
                  ]
                }
                """),
            ("b.json", """
                {
                  "request_features": [ { "name": "c", "input": "x" }, { "name": "both", "input": "x", "event_time": "hour_of_day" }, { "name": "9lives", "input": "y" } ],
                  "expressions": [
                    { "name": "r", "expression": "amount / (c + " },
                    { "name": "u", "expression": "ghost * 2" },
                    { "name": "p", "expression": "q + 1" },
                    { "name": "q", "expression": "p - 1" },
                    { "name": "f", "expression": "sqrt(c)" }
                  ]
                }
                """),
            ("c.json", "{ not json"),
        ]));

        string[] expected =
        [
            "a.json: $.streams[0].allowed_lateness: \"5 minutes\" is not a duration",
            "a.json: $.streams[0].fields[0].type: 'decimal' is not a field type",
            "a.json: $.streams[0].fields[1].decimals: applies to number fields only",
            "a.json: $.aggregations[0].window: \"10x\" is not a duration",
            "a.json: $.aggregations[3].function: 'median' is not an aggregation",
            "a.json: $.aggregations[4].field: is required for max",
            "a.json: $.aggregations[5].colour: unknown member",
            "a.json: $.aggregations[5].window: must be from 1ms",
            "b.json: $.request_features[0].name: feature 'c' is already declared at a.json: $.aggregations[0]",
            "b.json: $.request_features[1]: needs exactly one of input",
            "b.json: $.request_features[2].name: '9lives' is not a name",
            "b.json: $.expressions[0].expression: expected a number, a feature name or '('",
            "b.json: $.expressions[4].expression: unknown function 'sqrt'",
            "c.json: invalid JSON",
            "a.json: $.aggregations[1].stream: unknown stream 'nope'",
            "a.json: $.aggregations[2].function: sum needs a number field; 'm' is a string",
            "b.json: $.expressions[1].expression: unknown feature 'ghost'",
            "b.json: $.expressions[2].expression: cycle p -> q -> p",
        ];
        foreach (var prefix in expected)
        {
            Assert.True(ex.Errors.Any(e => e.StartsWith(prefix, StringComparison.Ordinal)), $"no error starts with: {prefix}\n{ex.Message}");
        }

        Assert.Equal(expected.Length, ex.Errors.Count);
        Assert.Contains("a.json: $.aggregations[3].function", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadDirectory_MissingFolder_ReportsIt()
    {
        var ex = Assert.Throws<FeatureDefinitionException>(() => FeatureRepository.LoadDirectory("/nonexistent/features"));
        Assert.Contains("does not exist", Assert.Single(ex.Errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("10s", 10_000)]
    [InlineData("5m", 300_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("30d", 2_592_000_000)]
    public void TryParseDuration_UnitSuffixes_Milliseconds(string text, long milliseconds)
    {
        Assert.True(FeatureRepository.TryParseDuration(text, out var duration));
        Assert.Equal(milliseconds, (long)duration.TotalMilliseconds);
    }

    [Theory]
    [InlineData("")]
    [InlineData("10")]
    [InlineData("1.5h")]
    [InlineData("-1s")]
    [InlineData("1w")]
    [InlineData("99999999999999999999d")]
    public void TryParseDuration_Malformed_False(string text) => Assert.False(FeatureRepository.TryParseDuration(text, out _));

    [Fact]
    public void Parse_AggregationOnOptionalField_Rejected()
    {
        var ex = Assert.Throws<FeatureDefinitionException>(() => FeatureTestData.Parse("""
            { "streams": [ { "name": "s", "entity_key": "id", "event_time": "t", "fields": [ { "name": "v", "type": "number", "required": false } ] } ],
              "aggregations": [ { "name": "v_sum", "stream": "s", "function": "sum", "field": "v", "window": "1h" } ] }
            """));
        Assert.Contains(ex.Errors, e => e.Contains("$.aggregations[0].field: 'v' is optional", StringComparison.Ordinal));
    }
}
