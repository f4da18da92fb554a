"""What the grader can see for itself, for flags: pure functions over exports and cell sources.

A flag reports evidence, never an import: an export that is malformed or inconsistent with the
lab's own cells (its pinned objects do not have the structure the instructor's run gave them),
what the kernel's snapshot saw changed, a hand-in file named like a module. Next to a flag, the
instructor gets a hint: the student's own line that mentions what was changed, quoted from the
line Python would number (``labgrader.text.source_lines``).
"""
from __future__ import annotations

import ast
import re
from typing import Any, Iterable

from labgrader.text import one_line, source_lines

# Config keys that only name or describe a layer: two runs of the same cells may differ there.
COSMETIC_KEYS = {"name"}


def structure(export: dict, section: str = "lab") -> Any:
    """A canonical form of the objects in ``export[section]``: classes, settings, weight shapes
    and how they share layers (refs renumbered in the order they are met), without names or
    weight values, so that two runs of the same lab cells compare equal."""
    order: dict[str, int] = {}
    objects = export["objects"]

    def ref(name: str) -> Any:
        if name in order:
            return ["same as", order[name]]
        order[name] = len(order)
        node = objects.get(name, {})
        if "error" in node:
            return ["unreadable", node.get("class")]
        if node.get("model") == "sequential":
            return ["sequential", node.get("class"), node.get("input"), [ref(r) for r in node.get("layers", [])]]
        if node.get("model") == "functional":
            graph = node.get("graph", {})
            entries = [entry for entry in graph.get("layers", []) if isinstance(entry, dict)]
            position = {entry.get("name"): i for i, entry in enumerate(entries)}
            layers = [[ref(entry.get("ref", "")), _without_names(entry.get("nodes"))] for entry in entries]
            ends = [[position.get(h[0]) if isinstance(h, list) and h else None, h[1:] if isinstance(h, list) else None]
                    for h in _histories(graph.get("inputs")) + [None] + _histories(graph.get("outputs"))]
            return ["functional", node.get("class"), layers, ends]
        if "input" in node:
            return ["input", node.get("class"), node["input"]]
        if node.get("layer"):
            config = {k: v for k, v in (node.get("config") or {}).items() if k not in COSMETIC_KEYS}
            config.pop("trainable", None)  # freezing a layer changes no answer (and honest students try it)
            shapes = [[w.get("shape"), w.get("dtype")] for w in node.get("weights", [])]
            return ["layer", node.get("class"), config, shapes]
        return ["other", node.get("class"), node.get("model")]

    def value(encoded: dict) -> Any:
        if encoded.get("kind") == "object":
            return ref(encoded.get("ref", ""))
        return [encoded.get("kind"), encoded.get("type")]

    return {name: value(encoded) for name, encoded in sorted(export.get(section, {}).items())}


def _histories(value: Any) -> list:
    """Keras's input_layers/output_layers: one [name, node, tensor] or a list of them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    return list(value) if isinstance(value, list) else []


def identities(record: dict, encoded: Any) -> frozenset | None:
    """The kernel identities (``id()``) of an object and of everything it reaches (layers, nested
    models, weight variables), from a hand-over or a pin; None when the record does not say."""
    if not isinstance(encoded, dict) or encoded.get("kind") != "object":
        return frozenset()
    objects, ids = record.get("objects", {}), record.get("ids", {})
    found, stack, seen = set(), [encoded.get("ref")], set()
    while stack:
        ref = stack.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if ref not in ids:
            return None
        found.add(ids[ref])
        if not str(ref).startswith("o"):
            continue
        node = objects.get(ref)
        if not isinstance(node, dict):
            return None
        stack += list(node.get("layers") or [])
        stack += [entry.get("ref") for entry in (node.get("graph") or {}).get("layers", []) if isinstance(entry, dict)]
        stack += [weight.get("var") for weight in node.get("weights") or [] if isinstance(weight, dict)]
    return frozenset(found)


def _without_names(nodes: Any) -> Any:
    """A functional graph's calls with layer names replaced by a placeholder (refs carry identity)."""
    if isinstance(nodes, dict):
        if nodes.get("class_name") == "__keras_tensor__":
            history = (nodes.get("config") or {}).get("keras_history") or [None, None, None]
            return ["tensor", history[1:] if isinstance(history, list) else None]
        return {k: _without_names(v) for k, v in nodes.items()}
    if isinstance(nodes, list):
        return [_without_names(v) for v in nodes]
    return nodes


def differences(student: Any, reference: Any, limit: int = 3) -> list[str]:
    """Which pinned names differ between two ``structure`` results, in words."""
    found = []
    for name in sorted(set(student) | set(reference)):
        if student.get(name) != reference.get(name):
            found.append(name)
    return found[:limit]


def assigned_names(source: str) -> set[str]:
    """Names a cell binds at module level (assignments, imports, defs, for/with targets)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics and the like: nothing the grader can rely on
        return set()
    names: set[str] = set()

    def targets(node: ast.AST) -> None:
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)

    def visit(statements: Iterable[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for target in getattr(statement, "targets", [getattr(statement, "target", None)]):
                    if target is not None:
                        targets(target)
            elif isinstance(statement, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in statement.names)
            elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(statement.name)
            elif isinstance(statement, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
                for item in getattr(statement, "items", []):
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
                if isinstance(statement, (ast.For, ast.AsyncFor)):
                    targets(statement.target)
                visit(statement.body)
                visit(getattr(statement, "orelse", []))
            elif isinstance(statement, (ast.If, ast.While)):
                visit(statement.body)
                visit(statement.orelse)
            elif isinstance(statement, ast.Try):
                visit(statement.body)
                for handler in statement.handlers:
                    visit(handler.body)
                visit(statement.orelse)
                visit(statement.finalbody)
    visit(tree.body)
    return names


# What to look for in the student's cells, for each kind of evidence the exporter reports.
_NEEDLES = [
    (re.compile(r"sys\.modules\[('[^']*')\]"), lambda m: [m.group(1).strip("'"), "sys.modules"]),
    (re.compile(r"^([\w.]+)\.(\w+) was rebound"), lambda m: [m.group(2)]),
    (re.compile(r"the code of ([\w.]+) was replaced"), lambda m: [m.group(1).rpartition(".")[2], "__code__"]),
    (re.compile(r"trace or profile function"), lambda m: ["settrace", "setprofile"]),
    (re.compile(r"a class posing as [\w.]*?(\w+) "), lambda m: ["__qualname__", "__module__", m.group(1)]),
    (re.compile(r"an activation function named '(\w+)'"), lambda m: [m.group(1), "Activation"]),
    (re.compile(r"the layer list of the Sequential model"), lambda m: ["_layers"]),
    (re.compile(r"runs an object that is not a Keras graph"), lambda m: ["_functional"]),
    (re.compile(r"carries its own (\w+)"), lambda m: [m.group(1)]),
]


def needles(seen: str) -> list[str]:
    """Words a student's line that did what ``seen`` describes would likely contain."""
    for pattern, words in _NEEDLES:
        match = pattern.search(seen)
        if match:
            return [w for w in words(match) if w]
    return []


def hint(cells: list[tuple[str, str]], words: list[str]) -> str:
    """The student-written line (``cells``: (label, source)) most likely to have done it: the first
    that assigns to something mentioning one of ``words``, else the first that mentions one, as
    "label, line N: text", or ""."""
    for assigns in (True, False):
        for word in words:
            store = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)[^=\n]*(?<![=!<>])=(?!=)")
            for label, source in cells:
                for number, line in enumerate(source_lines(source), start=1):
                    code = line.split("#", 1)[0]
                    if (store.search(code) if assigns else word in code):
                        return f"{label}, line {number}: {one_line(line.strip(), 160)}"
    return ""
