#!/usr/bin/env python3
"""Summarises the runs of ci/tracing-cost.sh: what tracing at the default sample costs the system.

Reads the list the script wrote (`on|off RUN_DIR LOAD1 LOAD5 LOAD15` a line) and prints, per run and
scenario, the system's CPU per request (`cost.system_us`), k6's p50 and p99 and the corrected p99,
with the load average the run started at (meta.json) and ended at (the list); then per scenario the
median over the runs of each side and the median of the on/off ratios of each pair (a pair is two
consecutive lines, one on and one off).

Usage: python3 ci/tracing-cost.py results/tracing-cost-<stamp>.txt
"""

import json
import statistics
import sys
from pathlib import Path

FIGURES = {
    "cpu_us": lambda s: (s.get("cost") or {}).get("system_us", {}).get("mean"),
    "p50_ms": lambda s: (s.get("p50_ms") or {}).get("mean"),
    "p99_ms": lambda s: (s.get("p99_ms") or {}).get("mean"),
    "corr_p99_ms": lambda s: ((s.get("open_loop") or {}).get("corrected_p99_ms") or {}).get("mean"),
}


def read_runs(listing):
    """(side, run dir, load at the end) per line of the script's list."""
    runs = []
    for line in Path(listing).read_text().splitlines():
        side, run_dir, *load = line.split()
        runs.append((side, Path(run_dir), " ".join(load)))
    return runs


def figures_of(run_dir):
    """Per scenario, each figure of FIGURES; and the load average the run started at."""
    results = json.loads((run_dir / "results.json").read_text())
    meta = json.loads((run_dir / "meta.json").read_text())
    load = " ".join(str(v) for v in meta["machine"].get("load_average", []))
    per_scenario = {
        name: {figure: pick(scenario) for figure, pick in FIGURES.items()}
        for name, scenario in results["scenarios"].items()
    }
    return per_scenario, load


def fmt(value):
    return "-" if value is None else f"{value:.2f}"


def main(listing):
    runs = [(side, run_dir, end_load, *figures_of(run_dir)) for side, run_dir, end_load in read_runs(listing)]
    scenarios = sorted({name for *_, per, _ in runs for name in per})
    print(f"{'side':4} {'run':34} {'scenario':8} " + " ".join(f"{f:>11}" for f in FIGURES) + "  load at start / end")
    for side, run_dir, end_load, per, start_load in runs:
        for name in scenarios:
            values = per.get(name, {})
            print(
                f"{side:4} {run_dir.name:34} {name:8} "
                + " ".join(f"{fmt(values.get(f)):>11}" for f in FIGURES)
                + f"  {start_load} / {end_load}"
            )
    pairs = [runs[i : i + 2] for i in range(0, len(runs) - 1, 2)]
    print("\nper scenario: median on, median off, median of the pairs' on/off ratios (n pairs)")
    for name in scenarios:
        for figure in FIGURES:
            side_values = {
                side: [r[3].get(name, {}).get(figure) for r in runs if r[0] == side] for side in ("on", "off")
            }
            ratios = []
            for pair in pairs:
                by_side = {r[0]: r[3].get(name, {}).get(figure) for r in pair}
                if by_side.get("on") and by_side.get("off"):
                    ratios.append(by_side["on"] / by_side["off"])
            medians = [
                statistics.median([v for v in side_values[side] if v is not None] or [float("nan")])
                for side in ("on", "off")
            ]
            ratio = statistics.median(ratios) if ratios else float("nan")
            print(
                f"{name:4} {figure:12} on {medians[0]:9.2f}  off {medians[1]:9.2f}  on/off {ratio:.3f} "
                f"(pairs: {', '.join(f'{r:.3f}' for r in ratios)})"
            )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
