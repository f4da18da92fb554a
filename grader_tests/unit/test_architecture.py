"""The shape of the engine: no import cycle between its modules or its packages, judging imports
no nbgrader step, and a lab is imported once per process however many steps ask for it."""
import ast
import functools
from pathlib import Path

from conftest import REPO
from labgrader import lab as lab_module

PACKAGE = REPO / "labgrader"


@functools.cache
def tree(path):
    """A module's syntax tree, parsed once per run (every test here walks the whole package)."""
    return ast.parse(path.read_text())


def modules():
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(name, path, known):
    """The engine modules ``name`` imports (``from . import x`` counts as importing x, not the package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            module = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
            names = {f"{module}.{alias.name}" for alias in node.names} & known
            found |= names or ({module} & known)
    return found - {name}


@functools.cache
def graph():
    known = modules()
    return {name: imports(name, path, set(known)) for name, path in known.items()}


def cycles(edges):
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"
    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_no_module_imports_itself_back():
    assert cycles(graph()) == []


def test_no_package_imports_itself_back():
    packages = {}
    for module, targets in graph().items():
        source = ".".join(module.split(".")[:2])
        packages.setdefault(source, set()).update(".".join(t.split(".")[:2]) for t in targets)
    for source in packages:
        packages[source].discard(source)
    assert cycles(packages) == []


def test_judging_is_pure():
    """The judging side imports no nbgrader step, kernel launcher or composer."""
    for module, targets in graph().items():
        if module.startswith("labgrader.judging"):
            assert not {t for t in targets if t.startswith(("labgrader.preprocessors", "labgrader.batch",
                                                          "labgrader.reference_run", "labgrader.sandbox"))}, module


def test_a_lab_is_imported_once_per_process(monkeypatch):
    from nbgrader.coursedir import CourseDirectory
    calls = []
    real = lab_module._import
    monkeypatch.setattr(lab_module, "_loaded", {})
    monkeypatch.setattr(lab_module, "_import", lambda *a: calls.append(a) or real(*a))
    coursedir = CourseDirectory(root=str(REPO))
    first = lab_module.load_lab(coursedir, "embeddings")
    for _ in range(5):  # every step of every notebook of every submission asks
        assert lab_module.load_lab(coursedir, "embeddings") is first
    assert len(calls) == 1


def private_uses(name, path, known):
    """``(module, private name)`` that ``name`` takes from a module of another package: imported
    (``from labgrader.batch.runner import _record_failure``) or reached (``distributed._OnWorkers``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    parsed = tree(path)
    found, aliases = [], {}
    for node in ast.walk(parsed):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            module = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
            for alias in node.names:
                if f"{module}.{alias.name}" in known:
                    aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
                elif module in known and alias.name.startswith("_"):
                    found.append((module, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(parsed):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                and node.attr.startswith("_") and not node.attr.startswith("__"):
            found.append((aliases[node.value.id], node.attr))
    return [(module, attr) for module, attr in found if _package(module) != _package(name)]


def _package(module):
    return ".".join(module.split(".")[:2])


def test_no_module_uses_another_packages_private_names():
    """What one package needs of another is a named, public API (the service's of the batch:
    ``warm_up``, ``OnWorkers``, ``Course.record_failure``...), never a ``_private`` name."""
    known = modules()
    crossings = {name: private_uses(name, path, set(known)) for name, path in known.items()}
    assert {name: uses for name, uses in crossings.items() if uses} == {}


def test_every_exception_of_the_engine_has_the_one_base():
    """__main__ reports any LabgraderError the same way (its message, exit status 2). Read from the
    source (no import): a class is an exception when a built-in exception is among its ancestors."""
    import builtins
    bases = {}  # class name -> the names of its bases, over the whole package
    for name, path in modules().items():
        if name == "labgrader.kernels.export":  # runs in the student's kernel: the standard library only
            continue
        for node in tree(path).body:
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                                    for b in node.bases]

    def ancestors(cls, seen=()):
        for base in bases.get(cls, []):
            if base not in seen:
                yield base
                yield from ancestors(base, (*seen, base))

    builtin_errors = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
    outside = [cls for cls in bases if cls != "LabgraderError" and set(ancestors(cls)) & builtin_errors
               and "LabgraderError" not in set(ancestors(cls))]
    assert outside == []
