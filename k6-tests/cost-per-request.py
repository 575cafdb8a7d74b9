#!/usr/bin/env python3
"""CPU per request of the services and of PostgreSQL, per scenario and arrival rate (issue 18).

Starts the ten release binaries as local processes on their own ports (18001-18010 by default, so it
never collides with `stack`'s 8001-8010) with a private PostgreSQL cluster, then for each run drives
one scenario open loop with k6 (cost-per-request.js) and reads /proc around it:

- each service: utime + stime of its process;
- PostgreSQL: utime + stime of the postmaster and of every live child, plus the postmaster's
  cutime + cstime (its exited backends);
- k6: its own rusage.

Each run is preceded by a warm-up at the same rate that is not counted. The figure is CPU-µs per
request completed; the machine's load average (/proc/loadavg) is written beside every run, since the
machine is shared. Writes <out>/runs.jsonl (one line per run) and prints a table.

  cargo build --release --bins
  k6-tests/cost-per-request.py --runs s6:4000,s6:1000,s3:1000,s3:100,s5:400,s5:80,s1:20 --repeat 3

A/B: each --variant NAME=BIN_DIR[,KEY=VALUE...] is a build and an environment for the services
(for example `--variant before=/tmp/old-bin --variant after=target/release` or
`--variant no-metrics=target/release,METRICS=off`); in each round every variant runs every run, the
services restarted for each, and the variants take turns going first, so a drift in the machine's
load hits all alike. Without --variant: one variant, `--bin-dir` with `--env KEY=VALUE`s.

Instructions per request (`--callgrind`): the services on the path of the runs' scenarios run under
valgrind's callgrind, whose counters are zeroed after the warm-up and dumped after the run, so each
run also writes `instructions_per_request` (per service and in all), a figure the neighbours' load
does not move. Callgrind slows a service about fifty-fold: use low rates (S6 and S3 at 100-200/s).

The services get only PATH, their ports and URLs, DATABASE_URL and the variant's variables: RUST_LOG
unset means their default, `info`, as under `stack bench`. PG_BIN_DIR overrides the server's folder.
"""

import argparse
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")

# Name, port offset, whether it has a database, which URLs it calls.
SERVICES = [
    ("emailservice", 7, False, {}),
    ("searchservice", 8, False, {}),
    ("cacheservice", 9, False, {}),
    ("analyticsservice", 6, False, {}),
    ("paymentservice", 2, False, {}),
    ("reportservice", 4, False, {}),
    ("inventoryservice", 10, True, {}),
    ("userservice", 1, True, {"EMAIL_SERVICE_URL": "emailservice"}),
    ("productservice", 3, True, {
        "SEARCH_SERVICE_URL": "searchservice",
        "CACHE_SERVICE_URL": "cacheservice",
        "ANALYTICS_SERVICE_URL": "analyticsservice",
    }),
    ("orderservice", 5, True, {
        "INVENTORY_SERVICE_URL": "inventoryservice",
        "PAYMENT_SERVICE_URL": "paymentservice",
    }),
]
ENTRY = {"s1": "userservice", "s3": "productservice", "s5": "orderservice", "s6": "analyticsservice"}
# The services a scenario's request passes through.
PATH = {
    "s1": ["userservice", "emailservice"],
    "s3": ["productservice", "searchservice", "cacheservice", "analyticsservice"],
    "s5": ["orderservice", "inventoryservice", "paymentservice"],
    "s6": ["analyticsservice"],
}


def stat(pid):
    """(utime, stime, cutime, cstime, ppid) in ticks, or None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14]), int(fields[1])


def rss_kib(pid):
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(value.split()[0])
    except OSError:
        pass
    return values


def postgres_ticks(postmaster):
    own = stat(postmaster)
    if own is None:
        return 0
    total = own[0] + own[1] + own[2] + own[3]
    for path in glob.glob("/proc/[0-9]*/stat"):
        pid = int(path.split("/")[2])
        child = stat(pid)
        if child and child[4] == postmaster:
            total += child[0] + child[1]
    return total


def loadavg():
    return Path("/proc/loadavg").read_text().split()[:3]


class Cluster:
    def __init__(self, directory, port):
        self.dir = Path(directory)
        self.port = port
        self.bin = Path(os.environ.get("PG_BIN_DIR") or sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self):
        data = self.dir / "data"
        if not (data / "PG_VERSION").exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            if self.as_postgres:
                shutil.chown(self.dir, "postgres", "postgres")
            subprocess.run(self.as_postgres + [str(self.bin / "initdb"), "-D", str(data), "-U", "postgres",
                                               "--auth=trust", "--encoding=UTF8", "--no-sync"],
                           check=True, stdout=subprocess.DEVNULL)
        # The settings stack's private cluster runs with.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{self.dir}' -c max_connections=200"
        subprocess.run(self.as_postgres + [str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "postgres.log"),
                                           "-o", options, "-w", "start"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(self.as_postgres + [str(self.bin / "psql"), "-h", str(self.dir), "-p", str(self.port), "-U", "postgres",
                                           "-qc", "DROP DATABASE IF EXISTS sync", "-c", "CREATE DATABASE sync"],
                       check=True, stdout=subprocess.DEVNULL)

    def postmaster(self):
        return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])

    def stop(self):
        subprocess.run(self.as_postgres + [str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_services(bin_dir, base_port, pg_port, extra_env, log_dir, callgrind=()):
    procs = {}
    for name, offset, database, calls in SERVICES:
        env = {"PATH": os.environ["PATH"], "PORT": str(base_port + offset)}
        if database:
            env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{pg_port}/sync"
        for var, callee in calls.items():
            callee_port = base_port + next(o for n, o, _, _ in SERVICES if n == callee)
            env[var] = f"http://127.0.0.1:{callee_port}"
        env.update(extra_env)
        log = open(log_dir / f"{name}.log", "w")
        command = [str(bin_dir / name)]
        if name in callgrind:
            command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={log_dir}/callgrind.{name}.%p"] + command
        procs[name] = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        wait_healthy(name, base_port + offset)
    return procs


def wait_healthy(name, port):
    for _ in range(1200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"{name} never answered on {port}")


def callgrind(action, pid):
    subprocess.run(["callgrind_control", action, str(pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def instructions_since_zero(log_dir, name, pid):
    """Ir of the newest dump of `name` (callgrind numbers its dumps .1, .2, ...)."""
    dumps = glob.glob(str(log_dir / f"callgrind.{name}.{pid}.*"))
    newest = max(dumps, key=lambda path: int(path.rsplit(".", 1)[1]))
    for line in Path(newest).read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    sys.exit(f"no totals in {newest}")


def k6(scenario, rate, seconds, url, summary):
    command = [os.environ.get("K6", "k6"), "run", "--quiet", "--no-color", "--address", "127.0.0.1:0",
               "-e", f"SCENARIO={scenario}", "-e", f"RATE={rate}", "-e", f"DURATION={seconds}s", "-e", f"URL={url}",
               "--summary-export", str(summary), str(ROOT / "k6-tests" / "cost-per-request.js")]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime, child.returncode


def measure(args, variant, procs, cluster, scenario, rate, out, index, log_dir, wrapped=()):
    counted = [name for name in PATH[scenario] if name in wrapped]
    url = f"http://127.0.0.1:{args.base_port + next(o for n, o, _, _ in SERVICES if n == ENTRY[scenario])}"
    if args.warmup > 0:
        k6(scenario, rate, args.warmup, url, out / f"warmup-{index}.json")
    for name in counted:
        callgrind("-z", procs[name].pid)
    load_before = loadavg()
    before = {name: stat(proc.pid) for name, proc in procs.items()}
    pg_before = postgres_ticks(cluster.postmaster())
    started = time.monotonic()
    k6_cpu, code = k6(scenario, rate, args.seconds, url, out / f"run-{index}.json")
    wall = time.monotonic() - started
    after = {name: stat(proc.pid) for name, proc in procs.items()}
    pg_after = postgres_ticks(cluster.postmaster())
    for name in counted:
        callgrind("-d", procs[name].pid)
    metrics = json.loads((out / f"run-{index}.json").read_text())["metrics"]
    requests = metrics["http_reqs"]["count"]
    per_request = lambda ticks: ticks / TICK * 1e6 / requests
    services = {name: per_request(after[name][0] + after[name][1] - before[name][0] - before[name][1]) for name in procs}
    run = {
        "variant": variant["name"],
        "scenario": scenario,
        "rate": rate,
        "seconds": args.seconds,
        "env": variant["env"],
        "bin_dir": str(variant["bin_dir"]),
        "requests": requests,
        "achieved_rate": metrics["http_reqs"]["rate"],
        "wall_s": wall,
        "dropped": metrics.get("dropped_iterations", {}).get("count", 0),
        "failed_checks": metrics.get("checks", {}).get("fails", 0),
        "k6_exit": code,
        "p50_ms": metrics["http_req_duration"]["med"],
        "p99_ms": metrics["http_req_duration"]["p(99)"],
        "services_us": sum(services.values()),
        "postgres_us": per_request(pg_after - pg_before),
        "k6_us": k6_cpu * 1e6 / requests,
        "per_service_us": {name: round(value, 1) for name, value in services.items() if value >= 0.05},
        "rss_kib": {name: rss_kib(proc.pid) for name, proc in procs.items()},
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }
    if counted:
        instructions = {name: instructions_since_zero(log_dir, name, procs[name].pid) / requests for name in counted}
        run["instructions_per_request"] = sum(instructions.values())
        run["per_service_instructions"] = {name: round(value) for name, value in instructions.items()}
    with open(out / "runs.jsonl", "a") as runs:
        runs.write(json.dumps(run) + "\n")
    print(f"{variant['name']:>10} {scenario} {rate:>5}/s  services {run['services_us']:8.1f} us/req  postgres {run['postgres_us']:7.1f}  "
          f"k6 {run['k6_us']:6.1f}  p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:7.2f} ms  dropped {run['dropped']}  "
          f"failed {run['failed_checks']}  load {' '.join(load_before)}"
          + (f"  instructions {run['instructions_per_request']:,.0f}/req" if counted else ""), flush=True)
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="s6:4000,s6:1000,s3:1000,s3:100,s5:400,s5:80,s1:20")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bin-dir", type=Path, default=ROOT / "target" / "release")
    parser.add_argument("--base-port", type=int, default=18000)
    parser.add_argument("--pg-port", type=int, default=54341)
    parser.add_argument("--pg-dir", default="/tmp/cost-per-request-pg")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for every service")
    parser.add_argument("--variant", action="append", default=[], help="NAME=BIN_DIR[,KEY=VALUE...]")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--settle", type=float, default=5, help="seconds idle before the RSS at a round's end")
    parser.add_argument("--callgrind", action="store_true",
                        help="count instructions per request of the services on the runs' paths (valgrind)")
    parser.add_argument("--hold", action="store_true", help="start everything, print the pids and wait (for perf)")
    args = parser.parse_args()
    out = args.out or ROOT / "results" / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-cost-per-request"
    out.mkdir(parents=True, exist_ok=True)
    if args.variant:
        variants = []
        for item in args.variant:
            name, _, rest = item.partition("=")
            bin_dir, *env = rest.split(",")
            variants.append({"name": name, "bin_dir": Path(bin_dir), "env": dict(e.split("=", 1) for e in env)})
    else:
        variants = [{"name": "run", "bin_dir": args.bin_dir, "env": dict(e.split("=", 1) for e in args.env)}]
    cluster = Cluster(args.pg_dir, args.pg_port)
    cluster.start()
    procs = {}

    def stop():
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        procs.clear()

    try:
        if args.hold:
            variant = variants[0]
            procs.update(start_services(variant["bin_dir"], args.base_port, args.pg_port, variant["env"], out))
            print(json.dumps({name: proc.pid for name, proc in procs.items()} | {"postgres": cluster.postmaster()}), flush=True)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
            return
        runs = [(s, int(r)) for s, r in (item.split(":") for item in args.runs.split(","))]
        wrapped = sorted({name for scenario, _ in runs for name in PATH[scenario]}) if args.callgrind else []
        results = []
        rss = {}
        index = 0
        for round_ in range(args.repeat):
            for turn in range(len(variants)):
                variant = variants[(turn + round_) % len(variants)]
                log_dir = out / f"logs-{variant['name']}-{round_ + 1}"
                log_dir.mkdir(exist_ok=True)
                procs.update(start_services(variant["bin_dir"], args.base_port, args.pg_port, variant["env"], log_dir, wrapped))
                for scenario, rate in runs:
                    index += 1
                    results.append(measure(args, variant, procs, cluster, scenario, rate, out, index, log_dir, wrapped))
                # What the services keep once the load is gone (the allocator's retained memory).
                time.sleep(args.settle)
                rss[variant["name"]] = {name: rss_kib(proc.pid) for name, proc in procs.items()}
                stop()
        print(f"\n{'variant':>10} {'run':>8} {'services us/req (min / median)':>32} {'postgres us/req (min / median)':>32}  p99 ms (median)  runs")
        for scenario, rate in runs:
            for variant in variants:
                mine = [r for r in results if r["scenario"] == scenario and r["rate"] == rate and r["variant"] == variant["name"]]
                s = [r["services_us"] for r in mine]
                p = [r["postgres_us"] for r in mine]
                print(f"{variant['name']:>10} {scenario + ':' + str(rate):>8} {min(s):15.1f} / {statistics.median(s):8.1f}      "
                      f"{min(p):15.1f} / {statistics.median(p):8.1f}      {statistics.median(r['p99_ms'] for r in mine):8.2f}  {len(mine)}")
        (out / "rss.json").write_text(json.dumps({"settle_s": args.settle, "loadavg": loadavg(), "rss_kib": rss}, indent=1))
        print(f"\nRSS {args.settle:g} s after each variant's last round (KiB, current / peak):")
        for name, services in rss.items():
            print(f"  {name}: " + ", ".join(f"{s} {v.get('VmRSS', 0)}/{v.get('VmHWM', 0)}" for s, v in services.items()))
        print(f"\nresults in {out}")
    finally:
        stop()
        cluster.stop()


if __name__ == "__main__":
    main()
