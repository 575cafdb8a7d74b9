#!/usr/bin/env python3
"""Share of a flamegraph's samples under a few frames (docs/performance.md, "Where the CPU goes").

  docs/perf/breakdown.py docs/perf/s5-400-before.folded.gz docs/perf/s5-400-after.folded.gz

A frame counts for a sample when its name contains the key's text anywhere in the stack, so the
shares overlap (a ping is inside sqlx) and do not add up to 100 %.
"""
import collections
import gzip
import sys

KEYS = {
    "sqlx, all": "sqlx_",
    "sqlx ping (acquire check or release check)": "ping",
    "sqlx return_to_pool": "return_to_pool",
    "sqlx statement": "sqlx_postgres::connection::executor",
    "common::telemetry": "common::telemetry",
    "tracing_subscriber": "tracing_subscriber",
    "reqwest": "reqwest::",
    "tokio parking": "park",
    "malloc/free": "malloc",
    "epoll_wait": "epoll_wait",
}

for path in sys.argv[1:]:
    total, shares = 0, collections.Counter()
    with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as folded:
        for line in folded:
            stack, _, count = line.rpartition(" ")
            total += int(count)
            for key, frame in KEYS.items():
                if frame in stack:
                    shares[key] += int(count)
    print(path)
    for key in KEYS:
        print(f"  {key:45} {100 * shares[key] / total:5.1f} %")
