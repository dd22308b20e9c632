using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace InferenceGateway.Benchmarks.OnnxRuntime;

/// <summary>
/// "Rows/s" = rows per invocation / mean time per invocation (or "Rows/s@Min" from the fastest iteration). The row
/// count comes from a benchmark parameter (default <c>BatchSize</c>) because OperationsPerInvoke must be a compile-time
/// constant and one invocation here runs a whole batch whose size is a parameter.
/// </summary>
/// <remarks>The @Min variant exists because the reference machine is shared: iterations that lose a core to another
/// process are slower, never faster, so the fastest iteration is the closest estimate of the uncontended ceiling.</remarks>
public sealed class RowsPerSecondColumn : IColumn
{
    private readonly string _rowsParameter;
    private readonly bool _fromMin;

    public RowsPerSecondColumn(string rowsParameter = "BatchSize", bool fromMin = false)
    {
        _rowsParameter = rowsParameter;
        _fromMin = fromMin;
    }

    public string Id => nameof(RowsPerSecondColumn) + "." + _rowsParameter + (_fromMin ? ".Min" : ".Mean");

    public string ColumnName => _fromMin ? "Rows/s@Min" : "Rows/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => _fromMin ? 1 : 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => $"Rows processed per second: {_rowsParameter} / {(_fromMin ? "Min (fastest iteration)" : "Mean")}";

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var rows = RowsPerSecond(summary, benchmarkCase);
        return rows is { } value ? value.ToString("N0", CultureInfo.InvariantCulture) : "NA";
    }

    /// <summary>Rows per second for one case, or null when it has no result (failed) or no row-count parameter.</summary>
    public double? RowsPerSecond(Summary summary, BenchmarkCase benchmarkCase)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        var timeNs = _fromMin ? statistics?.Min : statistics?.Mean;
        var rows = benchmarkCase.Parameters[_rowsParameter];
        if (timeNs is not > 0 || rows is null)
        {
            return null;
        }

        return Convert.ToDouble(rows, CultureInfo.InvariantCulture) * 1e9 / timeNs.Value;
    }

    public override string ToString() => ColumnName;
}
