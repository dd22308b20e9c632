#!/usr/bin/python3
"""Summary of perf/overload.sh's raw output (its folder as the argument), as Markdown on stdout."""
import csv
import json
import os
import statistics
import sys
from datetime import datetime

folder = sys.argv[1]


def read_time(name):
    with open(os.path.join(folder, name)) as f:
        return float(f.read().strip())


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


rows = []
for label in ("bounded", "unbounded"):
    path = os.path.join(folder, f"{label}-overload.json")
    if not os.path.exists(path):
        continue
    sat = json.load(open(os.path.join(folder, f"{label}-saturation.json")))["steps"][0]
    run = json.load(open(path))
    step = run["steps"][0]
    seconds = step["elapsed_s"]
    duration = float(run["command"].split("--duration ")[1].split("s")[0])
    sched_start = datetime.fromisoformat(run["started_utc"]).timestamp()
    sched_end = sched_start + duration
    load_end = read_time(f"{label}-load-end.txt")
    timeline = list(csv.DictReader(open(os.path.join(folder, f"{label}-timeline.csv"))))
    for r in timeline:
        r["t"] = float(r["t_s"])
        r["ms"] = float(r["probe_ms"])
        r["depth"] = float(r["queue_depth"])
        r["rss"] = int(r["rss_bytes"])
    before = [r for r in timeline if r["t"] < sched_start]
    during = [r for r in timeline if sched_start <= r["t"] < sched_end]
    after = [r for r in timeline if r["t"] >= sched_end]
    recovered = next((r for r in after if r["depth"] == 0 and r["probe_status"] == "OK"), None)
    probe_during = [r["ms"] for r in during if r["probe_status"] == "OK"]
    rows.append(dict(
        label=label,
        saturation=sat["throughput_rps"],
        offered=step["rate"],
        sent=step["requests"] + step["dropped"],
        ok=step["ok"],
        accepted_rate=step["ok"] / duration,
        errors=step["errors_by_code"],
        dropped=step["dropped"],
        p50=step["latency_ms"]["p50"], p99=step["latency_ms"]["p99"], max=step["latency_ms"]["max"],
        send_lag_p99=step.get("send_lag_ms", {}).get("p99", float("nan")),
        client_cpu=step["client_cpu_pct"],
        elapsed=seconds,
        drain_after_schedule=load_end - sched_end,
        rss_before=max((r["rss"] for r in before), default=0),
        rss_max=max((r["rss"] for r in during + after), default=0),
        rss_after=after[-1]["rss"] if after else 0,
        depth_max=max((r["depth"] for r in during), default=0),
        depth_median=statistics.median([r["depth"] for r in during]) if during else 0,
        probe_before=statistics.median([r["ms"] for r in before if r["probe_status"] == "OK"]) if before else float("nan"),
        probe_during_p50=pct(probe_during, 50), probe_during_p99=pct(probe_during, 99),
        probe_refused=sum(1 for r in during if r["probe_status"] != "OK"), probe_count=len(during),
        recovery=(recovered["t"] - sched_end) if recovered else float("nan"),
        probe_after=statistics.median([r["ms"] for r in after if r["probe_status"] == "OK"][-20:]) if after else float("nan"),
    ))

mb = 1024 * 1024
print("| | " + " | ".join(r["label"] for r in rows) + " |")
print("|---|" + "---:|" * len(rows))
lines = [
    ("saturation (closed loop, 64 workers x 8 rows), req/s", lambda r: f"{r['saturation']:,.0f}"),
    ("offered (open loop, poisson), req/s", lambda r: f"{r['offered']:,.0f}"),
    ("accepted (OK), req/s", lambda r: f"{r['accepted_rate']:,.0f}"),
    ("calls sent / OK", lambda r: f"{r['sent']:,} / {r['ok']:,}"),
    ("rejected by status", lambda r: ", ".join(f"{k} {v:,}" for k, v in sorted(r["errors"].items())) or "none"),
    ("dropped by the client (max in flight)", lambda r: f"{r['dropped']:,}"),
    ("accepted p50 / p99 / max, ms", lambda r: f"{r['p50']:.1f} / {r['p99']:.1f} / {r['max']:.1f}"),
    ("client send lag p99, ms", lambda r: f"{r['send_lag_p99']:.1f}"),
    ("queue depth during load, median / max (requests)", lambda r: f"{r['depth_median']:.0f} / {r['depth_max']:.0f}"),
    ("gateway RSS before / max / after, MiB", lambda r: f"{r['rss_before'] / mb:.0f} / {r['rss_max'] / mb:.0f} / {r['rss_after'] / mb:.0f}"),
    ("probe (own connection, 50 ms apart) before, median ms", lambda r: f"{r['probe_before']:.1f}"),
    ("probe during load: OK p50 / p99 ms, refused", lambda r: f"{r['probe_during_p50']:.1f} / {r['probe_during_p99']:.1f}, {r['probe_refused']} of {r['probe_count']}"),
    ("load client's in-flight drain after its schedule ended, s", lambda r: f"{r['drain_after_schedule']:.2f}"),
    ("recovery: schedule end -> queue empty and probe OK, s", lambda r: f"{r['recovery']:.2f}"),
    ("probe after recovery, median of the last 20, ms", lambda r: f"{r['probe_after']:.1f}"),
]
for name, f in lines:
    print(f"| {name} | " + " | ".join(f(r) for r in rows) + " |")
