#!/usr/bin/env python3
"""k6's own CPU per request, for versions of the load script: a benchmark, not a test.

Each version is a git revision's k6-tests/ (or `worktree` for the files as they are), run as
`stack bench` runs k6 (raw samples to a gzipped CSV with unix-ms stamps, the summary exported,
TRACE_SAMPLE 0.1), the `calibrate` profile offering one scenario at a fixed rate to a responder that
answers at once. The versions alternate round by round (the order reversed every other round), so a
drift in the machine's load hits each alike. k6's CPU is the utime + stime of the exited k6 process
(wait4's rusage, what /proc counts), divided by the requests k6 made (its summary's http_reqs);
the figure per version is the median over the rounds. `bare` is a script that only sends the
request: k6's own cost, no check, no custom metric, no output.

    stack respond --port 18999 &
    k6-tests/script-cost.py --url http://127.0.0.1:18999 96ff9b0 worktree bare
    # RATE=1000 DURATION_S=20 ROUNDS=5 SCENARIO=s6 K6=k6; EXTRA_ENV="K6_CSV_SAVE_INTERVAL=5s" for a variant

docs/generator.md, "What the script costs k6", has the figures and how they were made.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE = """import http from 'k6/http';
export const options = { scenarios: { run: { executor: 'constant-arrival-rate', rate: Number(__ENV.CALIBRATE_RATE),
  timeUnit: '1s', duration: `${__ENV.CALIBRATE_S}s`, preAllocatedVUs: 100, maxVUs: 100, exec: 'send' } } };
const URL = `${__ENV.ANALYTICSSERVICE_URL}/track_click`;
const PARAMS = { headers: { 'Content-Type': 'application/json' } };
export function send() { http.post(URL, JSON.stringify({ user_id: 1, page: 'homepage' }), PARAMS); }
"""


def script_of(version, work):
    """The script file of `version`: a revision's k6-tests/ unpacked under `work`, the worktree's, or bare."""
    if version == "worktree":
        return ROOT / "k6-tests" / "script-sync.js"
    target = work / version
    target.mkdir(parents=True)
    if version == "bare":
        (target / "bare.js").write_text(BARE)
        return target / "bare.js"
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", version, "k6-tests"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target / "k6-tests" / "script-sync.js"


def run(k6, script, url, out, args):
    """One k6 run: (k6's CPU-µs per request, requests, k6's lag p99 or None, the 1-minute load average)."""
    out.mkdir(parents=True)
    command = [k6, "run", "--no-color", "-q", "-e", "PROFILE=calibrate", "-e", f"SCENARIOS={args.scenario}",
               "-e", "TRACE_SAMPLE=0.1", "-e", f"CALIBRATE_RATE={args.rate}", "-e", f"CALIBRATE_S={args.seconds}",
               f"--summary-export={out / 'summary.json'}", f"--out=csv={out / 'samples.csv.gz'}"]
    for service in ["USERSERVICE", "PAYMENTSERVICE", "PRODUCTSERVICE", "REPORTSERVICE", "ORDERSERVICE", "ANALYTICSSERVICE"]:
        command += ["-e", f"{service}_URL={url}"]
    env = dict(os.environ, K6_CSV_TIME_FORMAT="unix_milli")
    env.update(pair.split("=", 1) for pair in args.extra_env.split() if "=" in pair)
    with open(out / "k6.txt", "w") as transcript:
        child = subprocess.Popen(command + [str(script)], env=env, stdout=transcript, stderr=subprocess.STDOUT)
        _, _, usage = os.wait4(child.pid, 0)
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    requests = metrics["http_reqs"]["count"]
    lag = metrics.get("schedule_lag", {}).get("p(99)")
    return (usage.ru_utime + usage.ru_stime) / requests * 1e6, requests, lag, os.getloadavg()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("versions", nargs="+", help="git revisions, `worktree` or `bare`")
    parser.add_argument("--url", required=True, help="a responder answering every scenario at once (stack respond)")
    parser.add_argument("--out", type=Path, help="where the runs go (default: a temporary folder, kept)")
    parser.add_argument("--rate", type=int, default=int(os.environ.get("RATE", 1000)))
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("DURATION_S", 20)))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 5)))
    parser.add_argument("--scenario", default=os.environ.get("SCENARIO", "s6"))
    parser.add_argument("--extra-env", default=os.environ.get("EXTRA_ENV", ""))
    args = parser.parse_args()
    k6 = os.environ.get("K6", "k6")
    out = args.out or Path(tempfile.mkdtemp(prefix="script-cost-"))
    scripts = {version: script_of(version, out / "scripts") for version in args.versions}
    figures = {version: [] for version in args.versions}
    for round_ in range(args.rounds):
        order = args.versions if round_ % 2 == 0 else args.versions[::-1]
        for version in order:
            figure = run(k6, scripts[version], args.url, out / "runs" / f"{version}-{round_}", args)
            figures[version].append(figure)
            print(f"round {round_} {version:>12}: {figure[0]:6.1f} µs/request, {figure[1]} requests, "
                  f"lag p99 {figure[2]}, load {figure[3]:.2f}", flush=True)
    print(f"\n{args.scenario} at {args.rate}/s for {args.seconds} s, {args.rounds} rounds alternating; runs in {out}")
    for version, runs in figures.items():
        print(f"{version:>12}: median {statistics.median(r[0] for r in runs):6.1f} µs/request "
              f"(runs {[round(r[0], 1) for r in runs]}, load {[round(r[3], 1) for r in runs]})")
    (out / "figures.json").write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    sys.exit(main())
