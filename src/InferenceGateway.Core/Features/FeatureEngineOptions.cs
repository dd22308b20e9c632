using System.Globalization;

namespace InferenceGateway.Core.Features;

/// <summary>Settings of a <see cref="FeatureEngine"/>; defaults in one place, checked by <see cref="Validate"/>.</summary>
public sealed class FeatureEngineOptions
{
    /// <summary>
    /// Events whose time is more than this ahead of the clock (<see cref="TimeProvider"/>) are rejected as
    /// <see cref="IngestRejectionReason.TooFarInFuture"/>: one bad clock would otherwise move a stream's watermark ahead
    /// and make every honest event look late. <see cref="Timeout.InfiniteTimeSpan"/> turns the check off.
    /// </summary>
    public TimeSpan MaxEventTimeAhead { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// History kept beyond each stream's longest window and allowed lateness, so point-in-time lookups can reach that
    /// much further back (0: as-of times from <c>watermark - lateness</c> on are exact).
    /// </summary>
    public TimeSpan HistoryRetention { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Hard cap on the estimated state bytes; above it the least recently used entities are evicted until the state is
    /// back to 90 % of the cap. 0 means no cap.
    /// </summary>
    public long MaxStateBytes { get; set; } = 1L << 30;

    /// <summary>Hard cap on the entities held (all streams), enforced like <see cref="MaxStateBytes"/>. 0 means no cap.</summary>
    public int MaxEntities { get; set; }

    /// <summary>Longest entity id accepted (characters); longer ones are rejected so one client cannot bloat the state.</summary>
    public int MaxEntityIdLength { get; set; } = 256;

    /// <summary>Longest string field value accepted (characters).</summary>
    public int MaxStringLength { get; set; } = 1024;

    /// <summary>Locks guarding entities, each entity hashed to one; a power of two.</summary>
    public int LockStripes { get; set; } = 1024;

    /// <summary>Slots of the string de-duplication cache (a power of two).</summary>
    public int StringCacheSlots { get; set; } = 1 << 14;

    /// <summary>File the state is saved to and restored from; null keeps no snapshot.</summary>
    public string? SnapshotPath { get; set; }

    /// <summary>Time between periodic snapshots while running (a snapshot is also written on stop); zero: only on stop.</summary>
    public TimeSpan SnapshotInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Time between maintenance passes: trim old events, evict idle entities, enforce the caps.</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Every problem with these options (empty when valid).</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if (MaxEventTimeAhead < TimeSpan.Zero && MaxEventTimeAhead != Timeout.InfiniteTimeSpan)
        {
            errors.Add(Format("MaxEventTimeAhead must be >= 0 or infinite, was {0}", MaxEventTimeAhead));
        }

        if (HistoryRetention < TimeSpan.Zero || HistoryRetention > FeatureRepository.MaxWindow)
        {
            errors.Add(Format("HistoryRetention must be from 0 to {0} days, was {1}", FeatureRepository.MaxWindow.TotalDays, HistoryRetention));
        }

        if (MaxStateBytes < 0)
        {
            errors.Add(Format("MaxStateBytes must be >= 0, was {0}", MaxStateBytes));
        }

        if (MaxEntities < 0)
        {
            errors.Add(Format("MaxEntities must be >= 0, was {0}", MaxEntities));
        }

        if (MaxEntityIdLength < 1)
        {
            errors.Add(Format("MaxEntityIdLength must be >= 1, was {0}", MaxEntityIdLength));
        }

        if (MaxStringLength < 1)
        {
            errors.Add(Format("MaxStringLength must be >= 1, was {0}", MaxStringLength));
        }

        if (LockStripes < 1 || !int.IsPow2(LockStripes))
        {
            errors.Add(Format("LockStripes must be a power of two, was {0}", LockStripes));
        }

        if (StringCacheSlots < 1 || !int.IsPow2(StringCacheSlots))
        {
            errors.Add(Format("StringCacheSlots must be a power of two, was {0}", StringCacheSlots));
        }

        if (SnapshotInterval < TimeSpan.Zero)
        {
            errors.Add(Format("SnapshotInterval must be >= 0, was {0}", SnapshotInterval));
        }

        if (MaintenanceInterval < TimeSpan.Zero)
        {
            errors.Add(Format("MaintenanceInterval must be >= 0, was {0}", MaintenanceInterval));
        }

        return errors;
    }

    private static string Format(string format, params object[] args) => string.Format(CultureInfo.InvariantCulture, format, args);
}
