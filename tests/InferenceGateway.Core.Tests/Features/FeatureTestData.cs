using System.IO.Compression;
using InferenceGateway.Core.Features;

namespace InferenceGateway.Core.Tests.Features;

/// <summary>The bundled feature repository and data files, found by walking up to the folder holding InferenceGateway.sln.</summary>
public static class FeatureTestData
{
    public static readonly string[] FraudV2 =
    [
        "amount", "hour_of_day", "merchant_category", "txn_count_10m", "amount_sum_1h", "amount_avg_30d",
        "distinct_merchants_24h", "seconds_since_last_txn",
    ];

    private static readonly Lazy<FeatureRepository> s_bundled = new(() => FeatureRepository.LoadDirectory(Path.Combine(RepositoryRoot!, "features")));

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string TransactionsPath => Path.Combine(RepositoryRoot, "models", "data", "transactions.csv.gz");

    public static string FeaturesPath => Path.Combine(RepositoryRoot, "models", "data", "features.csv.gz");

    public static FeatureRepository Bundled => s_bundled.Value;

    public static StreamReader OpenGzip(string path) =>
        new(new GZipStream(File.OpenRead(path), CompressionMode.Decompress), bufferSize: 1 << 16);

    /// <summary>A repository from one JSON text (file name "test.json").</summary>
    public static FeatureRepository Parse(string json) => FeatureRepository.Parse([("test.json", json)]);

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "InferenceGateway.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No InferenceGateway.sln above {AppContext.BaseDirectory}");
    }
}
