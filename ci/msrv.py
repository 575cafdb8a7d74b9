#!/usr/bin/env python3
"""The MSRV check that works offline: no locked dependency may need a newer Rust than ours.

The workspace declares `rust-version` in Cargo.toml. Only one toolchain can be installed here (no
rustup downloads), so CI cannot build on the declared version itself. What it can check:
- clippy's `incompatible_msrv` lint (on by default, run by the clippy step) refuses our own uses of
  standard-library items newer than `rust-version`;
- this script: every package in the locked graph for our target declares a `rust-version` at most
  ours (cargo's resolver would otherwise refuse to build it with that toolchain).
What stays unchecked: language features and dependencies that declare no `rust-version`.
"""

import json
import subprocess
import sys

TARGET = "x86_64-unknown-linux-gnu"


def version(text):
    return tuple(int(part) for part in text.split(".")[:3]) + (0,) * (3 - len(text.split(".")))


def main():
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", TARGET],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    members = set(metadata["workspace_members"])
    ours = {p["rust_version"] for p in metadata["packages"] if p["id"] in members}
    if len(ours) != 1 or None in ours:
        sys.exit(f"every workspace member must declare the one workspace rust-version, found {ours}")
    msrv = ours.pop()
    too_new = sorted(
        f"{p['name']} {p['version']} needs Rust {p['rust_version']}"
        for p in metadata["packages"]
        if p.get("rust_version") and version(p["rust_version"]) > version(msrv)
    )
    undeclared = sum(1 for p in metadata["packages"] if not p.get("rust_version"))
    if too_new:
        sys.exit(f"dependencies newer than our rust-version {msrv}:\n  " + "\n  ".join(too_new))
    print(
        f"MSRV {msrv}: all {len(metadata['packages'])} locked packages for {TARGET} declare "
        f"{msrv} or older, or nothing ({undeclared} declare no rust-version)"
    )


if __name__ == "__main__":
    main()
