using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace InferenceGateway.Core.Routing;

/// <summary>
/// The experiments in force, by logical model: an immutable snapshot swapped whole on every change, so a request reads
/// one consistent experiment without a lock and without allocating, and a change applies to the requests that look
/// it up afterwards (calls already routed keep their arm).
/// </summary>
public sealed class ExperimentRouter
{
    private readonly object _gate = new();
    private volatile FrozenDictionary<string, Experiment> _experiments = FrozenDictionary<string, Experiment>.Empty;

    /// <summary>Raised after the set of experiments changed (shadow lanes follow it).</summary>
    public event Action? Changed;

    /// <summary>Every experiment in force, by model.</summary>
    public IReadOnlyDictionary<string, Experiment> Experiments => _experiments;

    /// <summary>The experiment of <paramref name="model"/>, if one is in force.</summary>
    public bool TryGet(string model, [NotNullWhen(true)] out Experiment? experiment)
    {
        var experiments = _experiments;
        if (experiments.Count == 0)
        {
            experiment = null;
            return false;
        }

        return experiments.TryGetValue(model, out experiment);
    }

    /// <summary>Puts <paramref name="experiment"/> in force for its model, replacing any other.</summary>
    public void Set(Experiment experiment)
    {
        ArgumentNullException.ThrowIfNull(experiment);
        lock (_gate)
        {
            var next = new Dictionary<string, Experiment>(_experiments, StringComparer.Ordinal) { [experiment.Model] = experiment };
            _experiments = next.ToFrozenDictionary(StringComparer.Ordinal);
        }

        Changed?.Invoke();
    }

    /// <summary>Ends the experiment of <paramref name="model"/>; false when there was none.</summary>
    public bool Remove(string model)
    {
        lock (_gate)
        {
            if (!_experiments.ContainsKey(model))
            {
                return false;
            }

            var next = new Dictionary<string, Experiment>(_experiments, StringComparer.Ordinal);
            next.Remove(model);
            _experiments = next.ToFrozenDictionary(StringComparer.Ordinal);
        }

        Changed?.Invoke();
        return true;
    }

    /// <summary>
    /// The route of a request that named <paramref name="requestedVersion"/> (empty: let the experiment choose) when
    /// <paramref name="experiment"/> is in force: the named version reported as <see cref="ExperimentValidator.PinnedArm"/>,
    /// or the arm <paramref name="arm"/> chose.
    /// </summary>
    public static RouteDecision Decide(Experiment? experiment, string requestedVersion, ExperimentArm? arm) =>
        experiment is null ? new RouteDecision(requestedVersion, "", null)
        : requestedVersion.Length > 0 || arm is null ? new RouteDecision(requestedVersion, ExperimentValidator.PinnedArm, experiment)
        : new RouteDecision(arm.Version, arm.Name, experiment);
}

/// <summary>Where one request goes: the version, the arm to report ("" without an experiment) and the experiment, if any.</summary>
public readonly record struct RouteDecision(string Version, string Arm, Experiment? Experiment);
