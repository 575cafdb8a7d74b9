#!/usr/bin/env python3
"""Lists the Rust functions longer than a limit, so that a function that no longer fits on a screen
is seen when it is written, not when someone has to read it.

A function's length is counted from the line of its `fn` to the line of its closing brace, both
included, as rustfmt lays it out. Braces inside strings, characters and comments do not count.

Usage: python3 ci/long-functions.py [--limit N] [FOLDER ...]
(default: 80 lines, the crates of `stack`). Prints `path:line name lines`, longest first, and exits
1 when any function is over the limit.
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STACK_CRATES = ["stack", "stack-record", "stack-system", "stack-study"]
FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def code_only(text):
    """The text with strings, character literals and comments blanked, newlines kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == "r" and re.match(r'r#*"', text[i:]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end == -1 else end + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i : j + 1]))
            i = j + 1
        elif c == "'":
            # A character literal ('{', '\n', '\u{7b}'), not a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    """(name, first line, lines) of every function with a body in the file."""
    code = code_only(open(path, encoding="utf-8").read())
    found = []
    for m in FN.finditer(code):
        # The body starts at the first `{` after the signature, unless a `;` ends it first (a trait's
        # declaration); generic bounds and return types hold no braces.
        depth_paren = 0
        i = m.end()
        while i < len(code):
            ch = code[i]
            if ch in "(<[":
                depth_paren += 1
            elif ch in ")>]":
                depth_paren -= 1
            elif ch == ";" and depth_paren <= 0:
                i = -1
                break
            elif ch == "{" and depth_paren <= 0:
                break
            i += 1
        if i == -1 or i >= len(code):
            continue
        depth, j = 0, i
        while j < len(code):
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, j) + 1
        found.append((m.group(1), first, last - first + 1))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=80)
    parser.add_argument("folders", nargs="*", default=STACK_CRATES)
    args = parser.parse_args()
    long = []
    for folder in args.folders:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, folder)):
            dirnames[:] = [d for d in dirnames if d not in ("target", "node_modules")]
            for name in filenames:
                if name.endswith(".rs"):
                    path = os.path.join(dirpath, name)
                    for fn, line, lines in functions(path):
                        if lines > args.limit:
                            long.append((lines, os.path.relpath(path, ROOT), line, fn))
    for lines, path, line, fn in sorted(long, reverse=True):
        print(f"{path}:{line} {fn} {lines}")
    if long:
        print(f"{len(long)} function(s) over {args.limit} lines", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
