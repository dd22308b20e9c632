using InferenceGateway.Core.Features;

namespace InferenceGateway.Core.Tests.Features;

/// <summary>On-demand expressions, evaluated through a plan over request features a, b and an aggregation n.</summary>
public sealed class FeatureExpressionTests
{
    private static FeatureVectorPlan Plan(string expression, double defaultValue = -7) => new FeatureEngine(FeatureTestData.Parse($$"""
        {
          "streams": [ { "name": "s", "entity_key": "id", "event_time": "t", "fields": [ { "name": "v", "type": "number" } ] } ],
          "request_features": [ { "name": "a", "input": "a" }, { "name": "b", "input": "b", "default": 4 } ],
          "aggregations": [ { "name": "n", "stream": "s", "function": "count", "window": "1h" } ],
          "expressions": [ { "name": "x", "expression": "{{expression}}", "default": {{defaultValue}} } ]
        }
        """)).CreatePlan(["x"]);

    private static (float Value, bool Defaulted) Evaluate(string expression, double a, double? b = null)
    {
        var numbers = new Dictionary<string, double> { ["a"] = a };
        if (b is { } bv)
        {
            numbers["b"] = bv;
        }

        var values = new float[1];
        var defaulted = new bool[1];
        Assert.True(Plan(expression).Assemble(new FeatureRequest("e", 1_000, numbers), values, defaulted).IsSuccess);
        return (values[0], defaulted[0]);
    }

    [Theory]
    [InlineData("a + b * 2", 3, 5, 13)]
    [InlineData("(a + b) * 2", 3, 5, 16)]
    [InlineData("a - b - 1", 10, 3, 6)]
    [InlineData("a / b / 2", 12, 3, 2)]
    [InlineData("-a + -(-b)", 3, 5, 2)]
    [InlineData("min(a, b, 4)", 3, 5, 3)]
    [InlineData("max(a, b, 4)", 3, 5, 5)]
    [InlineData("abs(a - b)", 3, 5, 2)]
    [InlineData("1.5e1 + .5", 0, 0, 15.5)]
    public void Assemble_Arithmetic_PrecedenceAndFunctions(string expression, double a, double b, double expected)
    {
        var (value, defaulted) = Evaluate(expression, a, b);
        Assert.Equal((float)expected, value);
        Assert.False(defaulted);
    }

    [Fact]
    public void Assemble_DivisionByZero_FeatureDefaultAndDefaulted()
    {
        var (value, defaulted) = Evaluate("a / (b - 5)", 3, 5);
        Assert.Equal(-7f, value);
        Assert.True(defaulted);
    }

    [Fact]
    public void Assemble_InputDefaulted_PropagatesDefaultedFlag()
    {
        var (value, defaulted) = Evaluate("a * b", 3);
        Assert.Equal(12f, value);
        Assert.True(defaulted);
    }

    [Fact]
    public void Assemble_Coalesce_FallsBackWhenDefaultedOrNotFinite()
    {
        Assert.Equal((9f, false), Evaluate("coalesce(b, 9)", 3));
        Assert.Equal((5f, false), Evaluate("coalesce(b, 9)", 3, 5));
        Assert.Equal((2f, false), Evaluate("coalesce(a / 0, 2)", 3, 5));

        // An empty window defaults n (count 0), so n * 10 is defaulted and coalesce takes the fallback.
        Assert.Equal((1f, false), Evaluate("coalesce(n * 10, 1)", 3, 5));
    }

    [Theory]
    [InlineData("a +", "expected a number, a feature name or '(' at position 4")]
    [InlineData("(a", "expected ')'")]
    [InlineData("a $ b", "unexpected '$' at position 3")]
    [InlineData("min(a)", "min takes 2 to 16 arguments, got 1")]
    [InlineData("coalesce(a, b, a)", "coalesce takes 2 argument(s), got 3")]
    [InlineData("1.2.3", "'1.2.3' is not a number")]
    [InlineData("pow(a, 2)", "unknown function 'pow'")]
    public void Parse_Malformed_ErrorWithPosition(string expression, string message)
    {
        var ex = Assert.Throws<FeatureDefinitionException>(() => Plan(expression));
        Assert.Contains(message, Assert.Single(ex.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DeepNesting_RejectedNotStackOverflow()
    {
        var ex = Assert.Throws<FeatureDefinitionException>(() => Plan(new string('(', 5_000) + "a" + new string(')', 5_000)));
        Assert.Contains("longer than", Assert.Single(ex.Errors), StringComparison.Ordinal);
        ex = Assert.Throws<FeatureDefinitionException>(() => Plan(new string('(', 100) + "a" + new string(')', 100)));
        Assert.Contains("nests deeper than 32", Assert.Single(ex.Errors), StringComparison.Ordinal);
        ex = Assert.Throws<FeatureDefinitionException>(() => Plan(new string('-', 200) + "a"));
        Assert.Contains("nests deeper than 32", Assert.Single(ex.Errors), StringComparison.Ordinal);
    }
}
