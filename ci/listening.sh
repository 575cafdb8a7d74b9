#!/usr/bin/env bash
# The check behind ./clean: lists every process of this checkout that listens on a TCP port, and
# fails if there is one. "Of this checkout": its program is under target/, or its command line names a
# folder under target/ (PostgreSQL's -D). Read from /proc, so it needs no ss or lsof (a minimal
# Debian root has neither).
#
# Usage: ci/listening.sh   (exit 0: nothing listening; 1: the processes are listed)
set -euo pipefail
TARGET=$(cd "$(dirname "$0")/.." && pwd)/target

# The socket inodes in the LISTEN state (0A), IPv4 and IPv6.
listening=$(awk '$4 == "0A" { print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u)
found=0
for proc in /proc/[0-9]*; do
  pid=${proc#/proc/}
  exe=$(readlink "$proc/exe" 2>/dev/null) || continue
  cmdline=$(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null) || continue
  [[ $exe == "$TARGET"/* || $cmdline == *"$TARGET/"* ]] || continue
  for fd in "$proc"/fd/*; do
    link=$(readlink "$fd" 2>/dev/null) || continue
    [[ $link == socket:\[*\] ]] || continue
    inode=${link#socket:[}
    inode=${inode%]}
    if grep -qx "$inode" <<<"$listening"; then
      echo "listening: pid $pid ($cmdline)"
      found=1
      break
    fi
  done
done
exit "$found"
