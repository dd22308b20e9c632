using System.Runtime.CompilerServices;
using System.Text.Json;

namespace InferenceGateway.Core.PredictionLog;

/// <summary>
/// Feature name lists are stored once per (model, version, names) and referenced by id from each record. Callers pass
/// the same list instance for every record of a version, so the lookup is by reference first and by content on a miss.
/// </summary>
internal sealed class FeatureSetCache
{
    private readonly ConditionalWeakTable<IReadOnlyList<string>, StrongBox<long>> _byReference = new();
    private readonly Dictionary<string, long> _byContent = new(StringComparer.Ordinal);

    /// <summary>The id of the list, or null when not known yet (the sink then stores it and calls <see cref="Add"/>).</summary>
    public long? Find(string model, string version, IReadOnlyList<string> names, out string key)
    {
        key = "";
        if (_byReference.TryGetValue(names, out var box))
        {
            return box.Value;
        }

        key = Key(model, version, names);
        if (_byContent.TryGetValue(key, out var id))
        {
            _byReference.AddOrUpdate(names, new StrongBox<long>(id));
            return id;
        }

        return null;
    }

    public void Add(IReadOnlyList<string> names, string key, long id)
    {
        _byContent[key] = id;
        _byReference.AddOrUpdate(names, new StrongBox<long>(id));
    }

    /// <summary>Forgets everything (after a failed transaction whose inserts were rolled back).</summary>
    public void Clear()
    {
        _byReference.Clear();
        _byContent.Clear();
    }

    public static string NamesJson(IReadOnlyList<string> names) => JsonSerializer.Serialize(names);

    private static string Key(string model, string version, IReadOnlyList<string> names) => model + "\n" + version + "\n" + NamesJson(names);
}
