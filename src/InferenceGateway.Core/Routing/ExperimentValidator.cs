using System.Globalization;

namespace InferenceGateway.Core.Routing;

/// <summary>
/// Checks an <see cref="ExperimentDefinition"/> against the served models and builds the <see cref="Experiment"/>; an
/// invalid definition is rejected whole, with every reason.
/// </summary>
public static class ExperimentValidator
{
    /// <summary>The arm name reported for requests that named their version while an experiment was running.</summary>
    public const string PinnedArm = "pinned";

    /// <summary>Most arms in one experiment.</summary>
    public const int MaxArms = 16;

    /// <summary>Most shadows in one experiment.</summary>
    public const int MaxShadows = 8;

    /// <summary>Longest shadow deadline accepted, in milliseconds.</summary>
    public const int MaxShadowTimeoutMs = 60_000;

    /// <summary>
    /// Validates <paramref name="definition"/> for <paramref name="model"/>; returns the experiment, or null with the
    /// reasons added to <paramref name="errors"/>.
    /// </summary>
    public static Experiment? Validate(string model, ExperimentDefinition? definition, IModelCatalog catalog, TimeSpan defaultShadowTimeout, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(errors);
        var before = errors.Count;
        if (string.IsNullOrEmpty(model) || !catalog.HasModel(model))
        {
            errors.Add($"model '{model}' is not served");
            return null;
        }

        if (definition is null)
        {
            errors.Add("the experiment is empty");
            return null;
        }

        var arms = ValidateArms(model, definition.Arms, catalog, errors);
        var (keyKind, keyAttribute, stickyKey) = ValidateStickyKey(definition.StickyKey, errors);
        var salt = definition.Salt;
        if (string.IsNullOrWhiteSpace(salt))
        {
            errors.Add("salt is required: the same salt keeps a key's arm across processes, a new one reshuffles every key");
        }
        else if (salt.Length > 256)
        {
            errors.Add($"salt has {salt.Length} characters; at most 256");
        }

        var (shadows, shadowDefinitions) = ValidateShadows(model, definition.Shadows, catalog, defaultShadowTimeout, errors);
        if (errors.Count > before)
        {
            return null;
        }

        var normalized = new ExperimentDefinition
        {
            Arms = [.. arms.Select(a => new ArmDefinition { Name = a.Name, Version = a.Version, Weight = a.Weight })],
            StickyKey = stickyKey,
            Salt = salt,
            Shadows = shadowDefinitions,
        };
        return new Experiment(model, normalized, [.. arms], keyKind, keyAttribute, [.. shadows]);
    }

    private static List<ExperimentArm> ValidateArms(string model, List<ArmDefinition>? definitions, IModelCatalog catalog, List<string> errors)
    {
        var arms = new List<ExperimentArm>();
        if (definitions is null || definitions.Count == 0)
        {
            errors.Add("arms: at least one arm is required");
            return arms;
        }

        if (definitions.Count > MaxArms)
        {
            errors.Add($"arms: {definitions.Count} arms; at most {MaxArms}");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < definitions.Count; i++)
        {
            var arm = definitions[i];
            if (arm is null)
            {
                errors.Add($"arms[{i}] is null");
                continue;
            }

            var where = $"arms[{i}]";
            if (!IsName(arm.Name))
            {
                errors.Add($"{where}.name '{arm.Name}' must be 1-64 characters of letters, digits, '_', '-' or '.'");
            }
            else if (arm.Name == PinnedArm)
            {
                errors.Add($"{where}.name '{PinnedArm}' is reserved: it reports requests that named their version");
            }
            else if (!names.Add(arm.Name))
            {
                errors.Add($"{where}.name '{arm.Name}' is repeated");
            }

            if (string.IsNullOrEmpty(arm.Version))
            {
                errors.Add($"{where}.version is required");
            }
            else if (catalog.GetVersion(model, arm.Version) == CatalogVersion.Missing)
            {
                errors.Add($"{where}.version '{arm.Version}' is not a served version of model '{model}'");
            }

            if (!double.IsFinite(arm.Weight) || arm.Weight <= 0)
            {
                errors.Add($"{where}.weight {arm.Weight.ToString(CultureInfo.InvariantCulture)} must be positive");
            }

            arms.Add(new ExperimentArm(arm.Name, arm.Version, double.IsFinite(arm.Weight) && arm.Weight > 0 ? arm.Weight : 1));
        }

        return arms;
    }

    private static (StickyKeyKind Kind, string? Attribute, string Text) ValidateStickyKey(string? stickyKey, List<string> errors)
    {
        const string AttributePrefix = "attribute:";
        switch (stickyKey)
        {
            case null or "" or "entity_id":
                return (StickyKeyKind.EntityId, null, "entity_id");
            case "request_id":
                return (StickyKeyKind.RequestId, null, "request_id");
        }

        if (stickyKey.StartsWith(AttributePrefix, StringComparison.Ordinal) && stickyKey.Length > AttributePrefix.Length && stickyKey.Length <= 128)
        {
            return (StickyKeyKind.Attribute, stickyKey[AttributePrefix.Length..], stickyKey);
        }

        errors.Add($"sticky_key '{stickyKey}' must be 'entity_id', 'request_id' or 'attribute:<name>'");
        return (StickyKeyKind.EntityId, null, "entity_id");
    }

    private static (List<ShadowTarget> Targets, List<ShadowDefinition> Definitions) ValidateShadows(
        string model, List<ShadowDefinition>? definitions, IModelCatalog catalog, TimeSpan defaultTimeout, List<string> errors)
    {
        var targets = new List<ShadowTarget>();
        var normalized = new List<ShadowDefinition>();
        if (definitions is null)
        {
            return (targets, normalized);
        }

        if (definitions.Count > MaxShadows)
        {
            errors.Add($"shadows: {definitions.Count} shadows; at most {MaxShadows}");
        }

        var labels = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < definitions.Count; i++)
        {
            var shadow = definitions[i];
            var where = $"shadows[{i}]";
            if (shadow is null)
            {
                errors.Add($"{where} is null");
                continue;
            }

            var count = errors.Count;
            var rate = shadow.SampleRate ?? 1.0;
            if (!double.IsFinite(rate) || rate < 0 || rate > 1)
            {
                errors.Add($"{where}.sample_rate {rate.ToString(CultureInfo.InvariantCulture)} must be between 0 and 1");
            }

            var timeoutMs = shadow.TimeoutMs ?? (int)Math.Ceiling(defaultTimeout.TotalMilliseconds);
            if (timeoutMs is < 1 or > MaxShadowTimeoutMs)
            {
                errors.Add($"{where}.timeout_ms {timeoutMs} must be between 1 and {MaxShadowTimeoutMs}");
            }

            ShadowTarget? target = null;
            if (string.IsNullOrEmpty(shadow.Endpoint))
            {
                if (string.IsNullOrEmpty(shadow.Version))
                {
                    errors.Add($"{where}: a shadow names a local 'version' or a remote 'endpoint'");
                }
                else if (shadow.Model is not null && shadow.Model != model)
                {
                    errors.Add($"{where}.model '{shadow.Model}': a local shadow is a version of '{model}'; name an endpoint for another model");
                }
                else
                {
                    switch (catalog.GetVersion(model, shadow.Version))
                    {
                        case CatalogVersion.Missing:
                            errors.Add($"{where}.version '{shadow.Version}' is not a served version of model '{model}'");
                            break;
                        case CatalogVersion.Remote:
                            errors.Add($"{where}.version '{shadow.Version}' of model '{model}' is remote: name one of its endpoints instead");
                            break;
                    }
                }

                if (errors.Count == count)
                {
                    target = new ShadowTarget(model, shadow.Version, null, model, shadow.Version!, rate, TimeSpan.FromMilliseconds(timeoutMs));
                    normalized.Add(new ShadowDefinition { Version = shadow.Version, SampleRate = rate, TimeoutMs = timeoutMs });
                }
            }
            else
            {
                if (!Uri.TryCreate(shadow.Endpoint, UriKind.Absolute, out var endpoint)
                    || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps)
                    || endpoint.AbsolutePath != "/" || endpoint.Query.Length > 0 || endpoint.Fragment.Length > 0 || endpoint.UserInfo.Length > 0)
                {
                    errors.Add($"{where}.endpoint '{shadow.Endpoint}' must be http://host:port or https://host:port (an Open Inference Protocol gRPC endpoint)");
                }
                else
                {
                    var remoteModel = string.IsNullOrEmpty(shadow.Model) ? model : shadow.Model;
                    if (errors.Count == count)
                    {
                        target = new ShadowTarget(model, null, endpoint, remoteModel, shadow.Version ?? "", rate, TimeSpan.FromMilliseconds(timeoutMs));
                        normalized.Add(new ShadowDefinition
                        {
                            Endpoint = endpoint.GetLeftPart(UriPartial.Authority),
                            Model = remoteModel,
                            Version = shadow.Version ?? "",
                            SampleRate = rate,
                            TimeoutMs = timeoutMs,
                        });
                    }
                }
            }

            if (target is not null)
            {
                if (!labels.Add(target.Label))
                {
                    errors.Add($"{where} repeats the shadow {target.Label}");
                }

                targets.Add(target);
            }
        }

        return (targets, normalized);
    }

    private static bool IsName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 64)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }
}
