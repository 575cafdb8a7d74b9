#!/usr/bin/env bash
# Advisories, offline: `cargo deny --offline check advisories` against the RustSec advisory database
# snapshot that travels beside the repository (../shared/rustsec/advisory-db.bundle, see its README),
# because the database's home, GitHub, is out of reach here.
#
#   1. the bundle is cloned afresh into deny.toml's db-path (~/.cache/sync-study/advisory-dbs), under
#      the folder name cargo-deny gives the default database URL, so the check reads exactly the
#      snapshot and nothing older or newer;
#   2. the snapshot's date and upstream commit are printed: "no known advisory" means "as of that date";
#   3. the workspace's Cargo.lock is checked with deny.toml's policy: it must pass;
#   4. ci/fixtures/advisory, a lockfile pinning smallvec 1.6.0 (RUSTSEC-2021-0003), is checked with the
#      same policy: it must fail, naming that advisory; so a check that cannot fail is caught.
#
# RUSTSEC_BUNDLE overrides the bundle's path. Needs cargo-deny (0.20.2: .ci/run installs it) and git;
# the fixture's one crate is fetched from crates.io once, if it is not in cargo's cache yet.
set -euo pipefail
cd "$(dirname "$0")/.."

BUNDLE=${RUSTSEC_BUNDLE:-../shared/rustsec/advisory-db.bundle}
# deny.toml's db-path, and cargo-deny's folder name for https://github.com/RustSec/advisory-db.
DB_PATH=$HOME/.cache/sync-study/advisory-dbs
DB=$DB_PATH/advisory-db-3157b0e258782691
FIXTURE=ci/fixtures/advisory
FIXTURE_ADVISORY=RUSTSEC-2021-0003

[ -f "$BUNDLE" ] || { echo "no RustSec snapshot at $BUNDLE (set RUSTSEC_BUNDLE)" >&2; exit 1; }
grep -q '^db-path = "~/.cache/sync-study/advisory-dbs"$' deny.toml ||
  { echo "deny.toml's db-path is not $DB_PATH, where this script puts the snapshot" >&2; exit 1; }

mkdir -p "$DB_PATH"
exec 8>"$DB_PATH/.sync-study.lock"
flock -w 300 8
rm -rf "$DB"
git clone -q "$BUNDLE" "$DB"
snapshot_date=$(git -C "$DB" log -1 --format=%cs)
echo "RustSec advisory database snapshot of $snapshot_date ($(git -C "$DB" log -1 --format=%s))"

echo "the workspace (Cargo.lock):"
cargo deny --offline --locked check advisories
echo "no known advisory as of $snapshot_date"

echo "the fixture ($FIXTURE/Cargo.lock, smallvec 1.6.0), which must fail with $FIXTURE_ADVISORY:"
cargo fetch --locked --manifest-path "$FIXTURE/Cargo.toml" >/dev/null 2>&1 ||
  cargo fetch --locked --manifest-path "$FIXTURE/Cargo.toml"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if cargo deny --offline --locked --manifest-path "$FIXTURE/Cargo.toml" --config deny.toml \
  check advisories >"$out" 2>&1; then
  cat "$out"
  echo "FAILED: the advisory check passed a lockfile with $FIXTURE_ADVISORY" >&2
  exit 1
fi
grep -q "ID: $FIXTURE_ADVISORY" "$out" ||
  { cat "$out"; echo "FAILED: the fixture failed, but not on $FIXTURE_ADVISORY" >&2; exit 1; }
echo "the fixture fails as it should: $(grep -m1 '^error\[' "$out") ($FIXTURE_ADVISORY)"
