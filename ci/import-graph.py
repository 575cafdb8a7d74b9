#!/usr/bin/env python3
"""The import graph of the modules of `stack`'s crates and of `common`, and its cycles.

Cargo already refuses a cycle between crates; within a crate nothing does, and a circle of modules
that each need the others is one part that reads as several. This draws an edge from a module (one
`.rs` file) to every module of the same crate that it names: in `use` items and in paths written
in the code (`crate::a::b`, `super::x`, `self::y`, `child::z`), resolved to the deepest module file the path
reaches. A module's own `#[cfg(test)]` tail is left out: tests may reach anywhere. Edges from a
module to its own submodules count like any other.

Usage: python3 ci/import-graph.py [--dot] [CRATE_FOLDER ...]
(default: stack, stack-record, stack-system, stack-study, common). Prints every cycle (a strongly
connected set of modules) and exits 1 if there is one; `--dot` prints the graph for Graphviz instead.
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = ["stack", "stack-record", "stack-system", "stack-study", "common"]
PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)(::\{)?")


def modules_of(crate):
    """{module path (tuple): file} of a crate's library and binary targets."""
    src = os.path.join(ROOT, crate, "src")
    modules = {}
    for dirpath, _, filenames in os.walk(src):
        for name in filenames:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), src)[: -len(".rs")].split(os.sep)
            if rel[-1] in ("mod", "lib", "main") :
                rel = rel[:-1]
            if rel and rel[0] == "bin":
                continue
            modules[tuple(rel)] = os.path.join(dirpath, name)
    return modules


def without_tests_and_comments(text):
    cut = text.find("#[cfg(test)]")
    text = text if cut == -1 else text[:cut]
    return re.sub(r"//[^\n]*", "", text)


def group_items(text, start):
    """Every path inside the `{...}` use group beginning at `start`, nested groups flattened."""
    depth, i = 0, start
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                break
        i += 1
    return flatten(text[start + 1 : i])


def flatten(inner):
    """`a::{b, c::d}, e` as `a::b`, `a::c::d`, `e`."""
    items, depth, current = [], 0, ""
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    paths = []
    for item in (item.strip() for item in items):
        if "{" in item:
            head, _, tail = item.partition("{")
            head = head.rstrip(":").strip()
            paths += [head + "::" + sub if sub else head for sub in flatten(tail[: tail.rfind("}")])]
        elif re.match(r"[A-Za-z_]", item):
            paths.append(re.match(r"[A-Za-z_][A-Za-z0-9_:]*", item).group(0).rstrip(":"))
    return paths


def resolve(module, anchor, rest, modules):
    """The deepest module the path `anchor::rest` reaches from `module`, or None."""
    if anchor == "crate":
        base = ()
    elif anchor == "self":
        base = module
    else:
        base = module[:-1]
    parts = [p for p in rest.split("::") if p]
    while parts and parts[0] == "super":
        base, parts = base[:-1], parts[1:]
    target = base
    for part in parts:
        if base + (part,) in modules or any(m[: len(target) + 1] == target + (part,) for m in modules):
            target = target + (part,)
            base = target
        else:
            break
    return target if target in modules else None


def graph(crate):
    modules = modules_of(crate)
    edges = {m: set() for m in modules}
    for module, path in modules.items():
        text = without_tests_and_comments(open(path, encoding="utf-8").read())
        for m in PATH.finditer(text):
            anchor, rest, group = m.group(1), m.group(2), m.group(3)
            if not rest and not group:
                continue  # `pub(super)`, `self.field`: no path
            paths = [rest]
            if group:
                paths = [rest + "::" + item for item in group_items(text, m.end() - 1)]
            for each in paths:
                target = resolve(module, anchor, each, modules)
                if target is not None and target != module:
                    edges[module].add(target)
        # Paths relative to the module itself: `child::item`, as a parent names its submodules.
        for child in (m for m in modules if len(m) == len(module) + 1 and m[: len(module)] == module):
            if re.search(r"(?<![\w:])" + child[-1] + r"::", text):
                edges[module].add(child)
    return edges


def cycles(edges):
    """Strongly connected sets of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def name(crate, module):
    return "::".join((crate.replace("-", "_"),) + module)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dot", action="store_true")
    parser.add_argument("crates", nargs="*", default=CRATES)
    args = parser.parse_args()
    if args.dot:
        print("digraph modules {")
    circles = 0
    for crate in args.crates:
        edges = graph(crate)
        if args.dot:
            for a in sorted(edges):
                for b in sorted(edges[a]):
                    print(f'  "{name(crate, a)}" -> "{name(crate, b)}";')
            continue
        for component in cycles(edges):
            circles += 1
            print(f"cycle in {crate}: " + ", ".join(name(crate, m) for m in component))
            for a in component:
                inside = sorted(b for b in edges[a] if b in component)
                print(f"    {name(crate, a)} -> " + ", ".join(name(crate, b) for b in inside))
    if args.dot:
        print("}")
        return 0
    if circles:
        print(f"{circles} cycle(s)", file=sys.stderr)
        return 1
    print("no cycle between modules of " + ", ".join(args.crates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
