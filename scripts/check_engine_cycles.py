#!/usr/bin/env python3
"""Fails if two of the engine's top-level modules import each other, directly or around a loop.

A module is a file or folder directly under src/engine (models, ops, methods, render, input,
…); an import is `crate::engine::X`, or `super::X` in a file directly under src/engine or in a
folder's mod.rs.
Imports inside a module's own folder (`super::` within models/) are not edges between modules.
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "src" / "engine"
modules = {p.stem for p in root.iterdir() if p.suffix == ".rs" and p.stem != "mod"}
modules |= {p.name for p in root.iterdir() if p.is_dir()}

edges = {m: set() for m in modules}
for path in root.rglob("*.rs"):
    rel = path.relative_to(root)
    if rel.parts[0] == "mod.rs":
        continue
    owner = rel.parts[0].removesuffix(".rs")
    text = path.read_text()
    # Only code before the tests counts: tests may use anything.
    text = text.split("#[cfg(test)]")[0]
    names = set(re.findall(r"crate::engine::(\w+)", text))
    # `super::` means the engine in a file directly under it and in a folder's mod.rs.
    if len(rel.parts) == 1 or rel.parts[1:] == ("mod.rs",):
        names |= set(re.findall(r"\bsuper::(\w+)", text))
        names |= {n for group in re.findall(r"\bsuper::\{([^}]*)\}", text)
                  for n in re.findall(r"^\s*(\w+)", group, re.M) + re.findall(r",\s*(\w+)", group)}
    for n in names:
        if n in modules and n != owner:
            edges[owner].add(n)

# Depth-first search for a cycle.
state, stack = {}, []


def visit(m):
    state[m] = "open"
    stack.append(m)
    for n in sorted(edges[m]):
        if state.get(n) == "open":
            cycle = stack[stack.index(n):] + [n]
            print("import cycle between engine modules: " + " -> ".join(cycle), file=sys.stderr)
            sys.exit(1)
        if n not in state:
            visit(n)
    stack.pop()
    state[m] = "done"


for m in sorted(modules):
    if m not in state:
        visit(m)
print(f"no import cycle among {len(modules)} engine modules")
