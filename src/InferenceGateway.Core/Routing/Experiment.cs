using System.Text;

namespace InferenceGateway.Core.Routing;

/// <summary>What part of a request keeps it on its arm.</summary>
public enum StickyKeyKind
{
    /// <summary><c>PredictRequest.entity_id</c>; for ModelInfer the request parameter <c>entity_id</c>.</summary>
    EntityId,

    /// <summary><c>PredictRequest.request_id</c>; for ModelInfer <c>ModelInferRequest.id</c>.</summary>
    RequestId,

    /// <summary><c>PredictRequest.attributes[name]</c>; for ModelInfer the request parameter <c>name</c>.</summary>
    Attribute,
}

/// <summary>
/// A validated experiment of one logical model, immutable: requests with the same key get the same arm for as long as
/// the salt and the weights stay, in every process. Built by <see cref="ExperimentValidator"/>.
/// </summary>
/// <remarks>
/// Arm choice is weighted rendezvous hashing: each arm draws <c>u</c> in (0, 1) from the key's hash and the arm's name,
/// and the arm with the smallest <c>-ln(u) / weight</c> wins, which happens with probability weight / total. Each arm's
/// draw depends only on the key and the arm's name, so a weight change moves keys only towards arms whose share grew
/// relative to the others; see docs/experiments.md for what that means in numbers.
/// </remarks>
public sealed class Experiment
{
    internal Experiment(string model, ExperimentDefinition definition, ExperimentArm[] arms, StickyKeyKind keyKind, string? keyAttribute, ShadowTarget[] shadows)
    {
        Model = model;
        Definition = definition;
        ArmArray = arms;
        KeyKind = keyKind;
        KeyAttribute = keyAttribute;
        ShadowArray = shadows;
        SaltSeed = StickyHash.Hash(Encoding.UTF8.GetBytes(definition.Salt!), 0);
        foreach (var arm in arms)
        {
            arm.Seed = StickyHash.Hash(Encoding.UTF8.GetBytes(arm.Name), SaltSeed ^ ArmSeedDomain);
        }
    }

    // Keeps arm seeds apart from key hashes made with the same salt.
    private const ulong ArmSeedDomain = 0x5A17_A2B5_0000_0001;

    /// <summary>The logical model the experiment routes.</summary>
    public string Model { get; }

    /// <summary>The definition with every default filled in: what the admin API answers and the file stores.</summary>
    public ExperimentDefinition Definition { get; }

    /// <summary>The arms, in the definition's order.</summary>
    public IReadOnlyList<ExperimentArm> Arms => ArmArray;

    /// <summary>Which part of a request is the sticky key.</summary>
    public StickyKeyKind KeyKind { get; }

    /// <summary>The attribute (Predict) or request parameter (ModelInfer) name when <see cref="KeyKind"/> is <see cref="StickyKeyKind.Attribute"/>.</summary>
    public string? KeyAttribute { get; }

    /// <summary>The shadows, in the definition's order.</summary>
    public IReadOnlyList<ShadowTarget> Shadows => ShadowArray;

    /// <summary>True when at least one shadow may be sampled.</summary>
    public bool HasShadows => ShadowArray.Length > 0;

    internal ulong SaltSeed { get; }

    internal ExperimentArm[] ArmArray { get; }

    internal ShadowTarget[] ShadowArray { get; }

    /// <summary>The arm of a key given as UTF-8 bytes (ModelInfer's fields). Allocates nothing.</summary>
    public ExperimentArm ChooseArm(ReadOnlySpan<byte> keyUtf8) =>
        ArmArray.Length == 1 ? ArmArray[0] : ChooseByHash(StickyHash.Hash(keyUtf8, SaltSeed));

    /// <summary>The arm of a key given as text (Predict's fields): the same arm as its UTF-8 bytes get. Allocates nothing for keys up to 85 characters.</summary>
    public ExperimentArm ChooseArm(ReadOnlySpan<char> key) =>
        ArmArray.Length == 1 ? ArmArray[0] : ChooseByHash(StickyHash.Hash(key, SaltSeed));

    /// <summary>An arm drawn at random with the weights, for a request that carries no key at all.</summary>
    public ExperimentArm ChooseArmAtRandom() =>
        ArmArray.Length == 1 ? ArmArray[0] : ChooseByHash(unchecked((ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue)));

    private ExperimentArm ChooseByHash(ulong keyHash)
    {
        var arms = ArmArray;
        var best = arms[0];
        var bestScore = double.MaxValue;
        for (var i = 0; i < arms.Length; i++)
        {
            var arm = arms[i];
            var u = StickyHash.ToUnitInterval(StickyHash.Mix(keyHash, arm.Seed));
            var score = -Math.Log(u) * arm.InverseWeight;
            if (score < bestScore)
            {
                bestScore = score;
                best = arm;
            }
        }

        return best;
    }
}

/// <summary>One arm of an <see cref="Experiment"/>.</summary>
public sealed class ExperimentArm
{
    internal ExperimentArm(string name, string version, double weight)
    {
        Name = name;
        Version = version;
        Weight = weight;
        InverseWeight = 1.0 / weight;
    }

    /// <summary>The arm's name.</summary>
    public string Name { get; }

    /// <summary>The version it serves.</summary>
    public string Version { get; }

    /// <summary>Its relative weight.</summary>
    public double Weight { get; }

    internal double InverseWeight { get; }

    internal ulong Seed { get; set; }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Version}, weight {Weight})";
}

/// <summary>One validated shadow of an <see cref="Experiment"/>.</summary>
public sealed class ShadowTarget
{
    internal ShadowTarget(string model, string? localVersion, Uri? endpoint, string remoteModel, string remoteVersion, double sampleRate, TimeSpan timeout)
    {
        Model = model;
        LocalVersion = localVersion;
        Endpoint = endpoint;
        RemoteModel = remoteModel;
        RemoteVersion = remoteVersion;
        SampleRate = sampleRate;
        Timeout = timeout;
        Label = endpoint is null
            ? $"{model}:{localVersion}"
            : $"{endpoint.GetLeftPart(UriPartial.Authority)}/{remoteModel}:{remoteVersion}";
    }

    /// <summary>The experiment's logical model.</summary>
    public string Model { get; }

    /// <summary>The local version that answers the copies; null for a remote shadow.</summary>
    public string? LocalVersion { get; }

    /// <summary>The remote Open Inference Protocol endpoint; null for a local shadow.</summary>
    public Uri? Endpoint { get; }

    /// <summary>True for a remote shadow.</summary>
    public bool IsRemote => Endpoint is not null;

    /// <summary>The model name asked of the remote endpoint.</summary>
    public string RemoteModel { get; }

    /// <summary>The version asked of the remote endpoint ("" lets it choose).</summary>
    public string RemoteVersion { get; }

    /// <summary>The version a record of this shadow names: the local version, or the remote one.</summary>
    public string Version => LocalVersion ?? RemoteVersion;

    /// <summary>Share of requests copied, 0 to 1.</summary>
    public double SampleRate { get; }

    /// <summary>Deadline of each copy, from the moment it leaves the queue.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Stable name of the target in metrics and logs: <c>model:version</c>, or <c>endpoint/model:version</c>.</summary>
    public string Label { get; }

    /// <summary>The dispatcher's lane for this target, cached on first use (targets are immutable, lanes outlive them).</summary>
    internal object? Lane { get; set; }

    /// <summary>Whether this request is copied: a fresh draw per request (copies are a sample of traffic, not of keys).</summary>
    public bool Sample() => SampleRate >= 1.0 || (SampleRate > 0 && Random.Shared.NextDouble() < SampleRate);

    /// <inheritdoc />
    public override string ToString() => Label;
}
