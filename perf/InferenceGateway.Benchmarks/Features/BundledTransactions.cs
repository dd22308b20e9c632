using System.Globalization;
using System.IO.Compression;
using InferenceGateway.Core.Features;

namespace InferenceGateway.Benchmarks.Features;

/// <summary>
/// The bundled month of card transactions (models/data/transactions.csv.gz) as ready-made ingest arguments: one
/// numbers map and one strings map per event, as a gRPC Event's MapFields would hand them over, so the benchmarks
/// measure the engine and not CSV parsing.
/// </summary>
internal sealed class BundledTransactions
{
    private static readonly Lazy<BundledTransactions> s_instance = new(Load);

    private BundledTransactions(Event[] events, FeatureRepository definitions)
    {
        Events = events;
        Definitions = definitions;
    }

    public static BundledTransactions Instance => s_instance.Value;

    public Event[] Events { get; }

    public FeatureRepository Definitions { get; }

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>An engine holding <paramref name="count"/> events (all by default), with no caps in the way.</summary>
    public FeatureEngine LoadedEngine(int count = int.MaxValue, long shiftMs = 0)
    {
        var engine = NewEngine();
        Ingest(engine, count, shiftMs);
        return engine;
    }

    public FeatureEngine NewEngine() =>
        new(Definitions, new FeatureEngineOptions { MaxEventTimeAhead = Timeout.InfiniteTimeSpan, MaxStateBytes = 0 });

    public void Ingest(FeatureEngine engine, int count = int.MaxValue, long shiftMs = 0)
    {
        var events = Events;
        for (var i = 0; i < events.Length && i < count; i++)
        {
            var e = events[i];
            var result = engine.Ingest("transactions", e.Card, e.Time + shiftMs, e.Numbers, e.Strings);
            if (!result.IsAccepted)
            {
                throw new InvalidOperationException(result.Message);
            }
        }
    }

    private static BundledTransactions Load()
    {
        var events = new List<Event>(200_000);
        using var reader = new StreamReader(new GZipStream(File.OpenRead(Path.Combine(RepositoryRoot, "models", "data", "transactions.csv.gz")), CompressionMode.Decompress));
        reader.ReadLine();
        while (reader.ReadLine() is { } line)
        {
            var f = line.Split(',');
            events.Add(new Event(
                f[1],
                long.Parse(f[0], CultureInfo.InvariantCulture),
                new Dictionary<string, double>
                {
                    ["amount"] = double.Parse(f[4], CultureInfo.InvariantCulture),
                    ["merchant_category"] = double.Parse(f[3], CultureInfo.InvariantCulture),
                },
                new Dictionary<string, string> { ["merchant_id"] = f[2] }));
        }

        return new BundledTransactions([.. events], FeatureRepository.LoadDirectory(Path.Combine(RepositoryRoot, "features")));
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "InferenceGateway.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No InferenceGateway.sln above {AppContext.BaseDirectory}.");
    }

    internal sealed record Event(string Card, long Time, Dictionary<string, double> Numbers, Dictionary<string, string> Strings);
}
