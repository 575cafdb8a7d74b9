#!/usr/bin/env python3
"""Where k6's schedule lag comes from: a benchmark, not a test.

Each variant runs the load script's `calibrate` profile (one scenario at a fixed rate, raw samples
to a gzipped CSV, as `stack bench` writes them) against a responder that answers at once, and reads
the lag (`schedule_lag`) of every arrival: its p50, p99 and maximum, how many arrivals were over
2 ms late, and how those late arrivals cluster in time (a cluster starts when 200 ms have passed
since the last late arrival; the median gap between clusters tells a periodic cause: ~500 ms for
Go's collector at Go's defaults, ~1,000 ms for the CSV output's flush); and k6's CPU per arrival
(user + system, from wait4) and its peak RSS. The variants alternate
round by round (the order reversed every other round), so a drift in the machine hits each alike.

A variant is `pinned` (k6 under `taskset -c 1`, the CPU `stack bench --cpus auto` gives it on two
cores) or `unpinned`, optionally followed by `:NAME=VALUE,...` for k6's environment (Go's runtime:
GOGC, GOMEMLIMIT, GOMAXPROCS; k6's own: K6_CSV_SAVE_INTERVAL), or `pinned+smaps`: pinned, with
`/proc/<k6>/smaps_rollup` read once a second, as the sampler reads it for PSS.

    taskset -c 0 target/release/stack respond --port 18080 &
    k6-tests/lag-variants.py --url http://127.0.0.1:18080 pinned unpinned \\
        pinned:GOMAXPROCS=2,GOGC=off,GOMEMLIMIT=4GiB
    # RATE=500 DURATION_S=20 ROUNDS=2 SCENARIO=s6 K6=k6

docs/generator.md, "Where the lag came from", has the figures and how they were made.
"""
import argparse, csv, gzip, os, statistics, subprocess, tempfile, threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ["USERSERVICE", "PAYMENTSERVICE", "PRODUCTSERVICE", "REPORTSERVICE", "ORDERSERVICE", "ANALYTICSSERVICE"]
LATE_MS = 2.0
CLUSTER_GAP_MS = 200


def read_once_a_second(path, stop):
    """Reads `path` once a second until `stop` is set (what the sampler does to k6 for its PSS)."""
    while not stop.is_set():
        try:
            Path(path).read_text()
        except OSError:
            pass
        stop.wait(1.0)


def run(variant, out, args):
    """One k6 run of `variant`: its lags as (unix ms, lag ms) in time order, k6's CPU
    (user + system, as wait4 reports it) per arrival started in µs, and its peak RSS in MiB."""
    out.mkdir(parents=True)
    placement, _, settings = variant.partition(":")
    command = [args.k6, "run", "--no-color", "-q", "-e", "PROFILE=calibrate", "-e", f"SCENARIOS={args.scenario}",
               "-e", "TRACE_SAMPLE=0.1", "-e", f"CALIBRATE_RATE={args.rate}", "-e", f"CALIBRATE_S={args.seconds}",
               f"--summary-export={out / 'summary.json'}", f"--out=csv={out / 'samples.csv.gz'}"]
    for service in SERVICES:
        command += ["-e", f"{service}_URL={args.url}"]
    if placement.startswith("pinned"):
        command = ["taskset", "-c", args.cpu] + command
    env = dict(os.environ, K6_CSV_TIME_FORMAT="unix_milli")
    env.update(pair.split("=", 1) for pair in settings.split(",") if "=" in pair)
    with open(out / "k6.txt", "w") as transcript:
        child = subprocess.Popen(command + [str(ROOT / "k6-tests" / "script-sync.js")], env=env,
                                 stdout=transcript, stderr=subprocess.STDOUT)
        stop = threading.Event()
        if placement == "pinned+smaps":
            time.sleep(0.5)
            path = f"/proc/{child.pid}/smaps_rollup"
            threading.Thread(target=read_once_a_second, args=(path, stop), daemon=True).start()
        _, status, usage = os.wait4(child.pid, 0)
        stop.set()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"k6 failed on {variant} (exit {os.waitstatus_to_exitcode(status)}): see {out / 'k6.txt'}")
    with gzip.open(out / "samples.csv.gz", "rt") as samples:
        lags = sorted((int(row["timestamp"]), float(row["metric_value"]))
                      for row in csv.DictReader(samples) if row["metric_name"] == "schedule_lag")
    if not lags:
        raise SystemExit(f"k6 recorded no schedule_lag on {variant}: see {out / 'k6.txt'}")
    return lags, (usage.ru_utime + usage.ru_stime) * 1e6 / max(len(lags), 1), usage.ru_maxrss / 1024


def summary(lags):
    """p50, p99 and max of the lags, how many were late, and the median gap between late clusters."""
    values = sorted(lag for _, lag in lags)
    start = lags[0][0]
    late = [stamp - start for stamp, lag in lags if lag > LATE_MS]
    starts, last = [], None
    for stamp in late:
        if last is None or stamp - last > CLUSTER_GAP_MS:
            starts.append(stamp)
        last = stamp
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    return {"n": len(values), "p50": values[len(values) // 2], "p99": values[int(len(values) * 0.99)],
            "max": values[-1], f"over_{LATE_MS:g}ms": len(late), "clusters": len(starts),
            "cluster_gap_median_ms": statistics.median(gaps) if gaps else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the responder every entrypoint points at")
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--cpu", default="1", help="the CPU a pinned k6 runs on")
    args = parser.parse_args()
    args.rate = int(os.environ.get("RATE", "500"))
    args.seconds = int(os.environ.get("DURATION_S", "20"))
    args.scenario = os.environ.get("SCENARIO", "s6")
    args.k6 = os.environ.get("K6", "k6")
    rounds = int(os.environ.get("ROUNDS", "2"))
    work = Path(tempfile.mkdtemp(prefix="lag-variants-"))
    print(f"{args.scenario} at {args.rate}/s for {args.seconds} s, {rounds} rounds; runs under {work}")
    for round_ in range(rounds):
        numbered = list(enumerate(args.variants))
        order = numbered if round_ % 2 == 0 else list(reversed(numbered))
        for index, variant in order:
            lags, cpu_us, rss_mib = run(variant, work / f"{round_}-{index}", args)
            figures = {**summary(lags), "k6_cpu_us_per_arrival": cpu_us, "k6_peak_rss_mib": rss_mib}
            shown = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
            print(f"round {round_ + 1} {variant}: {shown} load={os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
