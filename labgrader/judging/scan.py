"""A static scan of the cells a student could have written, for code that tampers with grading.

``scan(submitted, release, protected_names)`` is pure: two nbformat notebooks in, a list of
``Finding`` out. It runs in the grader's process and never executes student code.

Which cells are scanned: what will actually run as the student's code.
  * answer cells: cells whose grade id is a *solution* cell of the release;
  * cells the student added: code cells with no nbgrader metadata, or with a grade id the release
    does not have (RestoreTestCells strips such ids), or an earlier copy of a cell whose grade id
    appears again later (nbgrader's DeduplicateIds keeps the id on the last copy only);
  * not locked cells of the release: nbgrader's OverwriteCells puts the gradebook's source back
    into every locked cell before it runs, so a student's edits there never run (and, after
    autograding, those cells hold our hidden tests, which are not the student's).
Markdown and raw cells never run. The lab's own locked cells are still *read* (from the release)
to learn which names the lab bound by ``import`` (``np`` is numpy), so that ``np.allclose = f`` in
an answer is recognised as monkeypatching numpy.

What is flagged: what this lab never needs and tampering always does (see RULES below and the
reason strings). The choices, in short:
  * ``exec``/``eval``/``compile``/``__import__``/``importlib``/``runpy`` are flagged *at all*,
    literal argument or not: the lab needs no dynamic code, literal code can be written out as
    code, and a literal string can still carry a patch (``exec("np.allclose = f")``).
  * attribute assignment is flagged when its target is an imported module or class (the names
    ``import`` statements bound, in the lab's cells or the student's, followed through plain
    aliases such as ``t = np.testing``), a class reached through ``type(...)`` or a dunder, or when
    a function is assigned to any attribute (``model3.call = f``). ``model3.foo = 1`` on the
    student's own object is fine.
  * ``get_ipython()`` is flagged except for a few read-only magics (``%matplotlib``, ``%time``,
    ``%timeit``, ``%who``, ``obj?``); the code ``%time``/``%%time`` runs is scanned as well.
  * the lab's names (``protected_names``) rebound in a cell added before the first answer cell:
    that is where the grader's references are taken. Rebinding them later (after using them, or
    to try a wrong idea) is legal and left to the checks; rebinding a *module or class the lab
    imported* (``np = FakeNumpy()``) is flagged anywhere.
Cells that do not parse (they would fail with a SyntaxError, so nothing in them runs) are only
searched for the flagged words.
"""
import ast
import re
from dataclasses import asdict, dataclass

from IPython.core.inputtransformer2 import TransformerManager

MAX_LINE = 200


@dataclass(frozen=True)
class Finding:
    cell_index: int   # index of the cell in the submitted notebook
    cell: str         # grade id, or "added cell after <grade id>"
    line: int         # 1-based line of the cell's source
    code: str         # the offending line, trimmed
    reason: str       # one sentence

    def as_dict(self):
        return asdict(self)

    def __str__(self):
        return f"{self.cell}, line {self.line}: {self.code}  ({self.reason})"


# ------------------------------------------------------------------ rules

# Dotted names (after resolving imports and aliases) the lab never uses. A prefix matches itself
# and everything under it ("gc" matches gc.get_referrers).
FORBIDDEN = {
    "gc": "uses gc, which can reach and change the grader's objects in the kernel",
    "inspect": "uses inspect, introspection the lab never needs",
    "ctypes": "uses ctypes, which can rewrite memory of the running interpreter",
    "importlib": "uses importlib, dynamic imports the lab never needs",
    "runpy": "runs code dynamically with runpy",
    "code": "uses the code module, which runs code from strings",
    "codeop": "uses codeop, which compiles code from strings",
    "marshal": "uses marshal, which builds code objects",
    "pickle": "unpickles, which can call any function (setattr on a module) from data",
    "copyreg": "changes how objects are pickled and rebuilt",
    "pdb": "uses a debugger module, which can trace and change running code",
    "bdb": "uses a debugger module, which can trace and change running code",
    "trace": "uses the trace module, which hooks running code",
    "builtins": "uses the builtins module, through which built-in functions can be replaced",
    "subprocess": "starts processes, which the lab never needs",
    "multiprocessing": "starts processes, which the lab never needs",
    "signal": "handles signals, which can defeat the grader's interrupts",
    "threading": "uses threads, which can run code beside the grader's checks",
    "_thread": "uses threads, which can run code beside the grader's checks",
    "concurrent": "uses threads or processes, which can run code beside the grader's checks",
    "sqlite3": "opens a database, which the lab never needs",
    "labgrader": "mentions labgrader, the grader's own package",
    "ipykernel": "reaches into the kernel's machinery",
    "IPython.core": "reaches into IPython's machinery",
    "IPython.get_ipython": "reaches into IPython's machinery",
    "IPython.display.publish_display_data": "publishes raw display data, which can imitate the grader's messages",
    "IPython.core.display_functions.publish_display_data": "publishes raw display data, which can imitate the grader's messages",
    "types.CodeType": "builds code objects",
    "types.FunctionType": "builds functions from code objects",
    "types.ModuleType": "builds fake modules",
    "types.MethodType": "binds functions onto objects (method patching)",
    "sys._getframe": "inspects interpreter frames (sys._getframe)",
    "sys._current_frames": "inspects interpreter frames",
    "sys.settrace": "installs a trace function (sys.settrace), which can change running code",
    "sys.setprofile": "installs a profile function (sys.setprofile), which can change running code",
    "sys.monitoring": "installs monitoring callbacks, which can change running code",
    "sys.modules": "reaches imported modules through sys.modules",
    "sys.addaudithook": "installs an audit hook (sys.addaudithook)",
    "sys.meta_path": "changes how modules are imported",
    "sys.path_hooks": "changes how modules are imported",
    "sys.excepthook": "replaces the interpreter's error hook",
    "sys.displayhook": "replaces the interpreter's display hook",
    "sys.breakpointhook": "replaces the interpreter's breakpoint hook",
    "os.kill": "sends signals to processes",
    "os.killpg": "sends signals to processes",
    "os.system": "runs shell commands",
    "os.popen": "runs shell commands",
    "os.fork": "forks processes",
    "os.forkpty": "forks processes",
    "os.setsid": "detaches processes from the grader",
    "os._exit": "kills the kernel",
    "os.exec": "replaces the kernel process",
    "os.mkfifo": "makes a FIFO, which can hang the grader's file handling",
    "os.mknod": "makes a special file, which can hang the grader's file handling",
    "os.symlink": "makes a link, which the grader's file handling could follow out of the working copy",
    "os.link": "makes a link, which the grader's file handling could follow out of the working copy",
    "os.spawn": "starts processes",
    "os.posix_spawn": "starts processes",
}
# os.exec*/os.spawn* are families: matched as name prefixes, not dotted prefixes.
FAMILIES = ("os.exec", "os.spawn", "os.posix_spawn")

BUILTIN_CALLS = {
    "exec": "runs code from a string (exec), which the lab never needs",
    "eval": "evaluates code from a string (eval), which the lab never needs",
    "compile": "compiles code from a string, which the lab never needs",
    "__import__": "imports dynamically (__import__), which the lab never needs",
    "breakpoint": "starts a debugger",
}

# Attributes that reach frames, code, closures, namespaces or the class hierarchy.
INTROSPECTION_ATTRS = {
    "__code__", "__globals__", "__closure__", "__subclasses__", "__dict__", "__builtins__", "__bases__",
    "__base__", "__mro__", "__func__", "__self__", "__wrapped__", "__defaults__", "__kwdefaults__",
    "__setattr__", "__delattr__", "__getattribute__", "__import__", "__loader__", "__spec__", "__reduce__",
    "__reduce_ex__", "__init_subclass__", "__set_name__",
    "f_globals", "f_locals", "f_back", "f_code", "f_builtins", "f_trace", "tb_frame", "tb_next", "gi_frame",
    "cr_frame", "ag_frame", "co_code", "co_consts", "cell_contents",
}
# Names that only appear in introspection (a bare ``__builtins__``).
INTROSPECTION_NAMES = {"__builtins__", "__loader__", "__spec__"}

# Methods a lab answer never defines on a class: they make an object lie about what it is or how
# it compares, or display itself as something else.
FAKING_METHODS = {
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__", "__len__",
    "__getattr__", "__getattribute__", "__setattr__", "__instancecheck__", "__subclasscheck__", "__class__",
    "__call__", "__array__", "__array_ufunc__", "__array_function__", "__index__", "__int__", "__float__",
    "__del__", "__init_subclass__", "__class_getitem__", "__new__",
    "_repr_mimebundle_", "_repr_json_", "_ipython_display_", "_ipython_display_formatter_",
}

NAMESPACE_CALLS = {"globals", "locals", "vars"}
NAMESPACE_WRITES = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"}

# get_ipython() uses that only read or time code (the timed code is scanned as well).
SAFE_LINE_MAGICS = {"matplotlib", "time", "timeit", "who", "whos", "pinfo", "pinfo2", "pdoc"}
SAFE_CELL_MAGICS = {"time", "timeit"}
RUNS_ITS_ARGUMENT = {"time", "timeit"}

WORDS = re.compile(r"labgrader|/proc\b|application/vnd\.", re.IGNORECASE)
# For cells that do not parse: the flagged words, found in the raw text.
UNPARSEABLE_WORDS = re.compile(
    r"\b(?:gc|inspect|ctypes|importlib|subprocess|settrace|setprofile|_getframe|addaudithook|exec|eval|"
    r"compile|__import__|get_ipython|setattr|delattr|globals|locals|vars|builtins|threading|signal)\b|"
    r"\bsys\s*\.\s*modules\b|" + "|".join(sorted(re.escape(a) for a in INTROSPECTION_ATTRS if a.startswith("__"))))


def _forbidden(dotted):
    if not dotted:
        return None
    for family in FAMILIES:
        if dotted.startswith(family):
            return FORBIDDEN[family]
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        reason = FORBIDDEN.get(".".join(parts[:n]))
        if reason:
            return reason
    return None


# ------------------------------------------------------------------ which cells

def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def classify(submitted, release):
    """[(index, label, kind)] for every code cell of ``submitted``: kind is "answer", "added" or
    "lab" (a locked released cell, whose source nbgrader restores before running)."""
    released = {_grade_id(c): c for c in release.cells if _grade_id(c)}
    # nbgrader's DeduplicateIds keeps a grade id on its last cell and strips it from earlier copies.
    last = {_grade_id(c): i for i, c in enumerate(submitted.cells)}
    last_id, out = None, []
    for index, cell in enumerate(submitted.cells):
        gid = _grade_id(cell)
        known = gid in released and last[gid] == index
        if known:
            last_id = gid
        if cell.cell_type != "code":
            continue
        if not known:
            out.append((index, f"added cell after {last_id}" if last_id else "added cell at the top", "added"))
            continue
        meta = released[gid].metadata.nbgrader
        if meta.get("solution"):
            out.append((index, gid, "answer"))
        elif meta.get("locked"):
            out.append((index, gid, "lab"))
        else:  # an unlocked released cell: its source is the student's and runs as such
            out.append((index, gid, "answer"))
    return out


# ------------------------------------------------------------------ the scan

_transformer = TransformerManager()


def to_python(source):
    """The Python IPython runs for a cell (magics and ``!shell`` lines turned into calls)."""
    try:
        return _transformer.transform_cell(source)
    except Exception:  # IPython cannot transform it: the kernel could not run it either
        return source


MUTATORS = {"clear", "update", "insert", "append", "extend", "pop", "remove", "setdefault", "popitem",
            "__setitem__", "__delitem__", "__setattr__", "__delattr__", "discard", "add_done_callback",
            "call_soon", "call_later", "call_at", "create_task", "run_in_executor"}
ALLOWED_MUTATION_TARGETS = {"add"}  # Sequential.add: how the lab builds a model


def strict_findings(source, allowed_imports):
    """The allow-list half of the scan (a deny-list over syntax is always one trick behind):
    imports outside the lab's ``allowed_imports``, and any store into an attribute or item, or
    mutating call, on an object the cell did not itself build from a literal. Honest answers to
    a lab like this one assign names and call constructors; tampering has to change something
    that is not its own."""
    try:
        tree = ast.parse(to_python(source))
    except SyntaxError:
        return []
    lines = source.splitlines()
    literal = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.List, ast.Dict, ast.Set, ast.ListComp,
                                                                    ast.DictComp, ast.SetComp, ast.Tuple)):
            literal |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    found = []

    def add(node, reason):
        line = getattr(node, "lineno", 1)
        found.append((line, reason, lines[line - 1] if 0 < line <= len(lines) else ""))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in allowed_imports:
                    add(node, f"imports {alias.name}, which this lab never needs")
        elif isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").split(".")[0] not in allowed_imports:
                add(node, f"imports from {node.module or '.'}, which this lab never needs")
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            add(node, f"changes the attribute {node.attr} of an object (answers only build new objects)")
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
            if not (isinstance(node.value, ast.Name) and node.value.id in literal):
                add(node, "changes an item of an object the cell did not build")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS
              and not (isinstance(node.func.value, ast.Name) and node.func.value.id in literal)):
            add(node, f"calls .{node.func.attr}() on an object the cell did not build")
        elif isinstance(node, ast.Name) and node.id == "Lambda" or isinstance(node, ast.Attribute) and node.attr == "Lambda":
            add(node, "uses a Lambda layer, which runs arbitrary code inside the grader's checks")
    return found


def scan(submitted, release, protected_names=(), allowed_imports=None):
    """Findings for every cell of ``submitted`` the student could have written (with
    ``allowed_imports``, also the allow-list rules of ``strict_findings``)."""
    cells = classify(submitted, release)
    released = {_grade_id(c): c for c in release.cells if _grade_id(c)}
    first_answer = next((i for i, _, kind in cells if kind == "answer"), None)
    state = _State(protected=set(protected_names))
    findings = []
    for index, label, kind in cells:
        if kind == "lab":
            # Read only, for the names the lab imports; what runs is the released source.
            state.learn(released[_grade_id(submitted.cells[index])].source, lab=True)
            continue
        before_answers = kind == "added" and first_answer is not None and index < first_answer
        for line, reason, code in state.check(submitted.cells[index].source, before_answers):
            findings.append(Finding(index, label, line, _trim(code), reason))
        if allowed_imports is not None and submitted.cells[index].cell_type == "code":
            for line, reason, code in strict_findings(submitted.cells[index].source, set(allowed_imports)):
                findings.append(Finding(index, label, line, _trim(code), reason))
    return _dedupe(findings)


def _trim(text):
    text = text.strip()
    return text if len(text) <= MAX_LINE else text[:MAX_LINE - 1] + "…"


def _dedupe(findings):
    seen, out = set(), []
    for f in findings:
        if (f.cell_index, f.line, f.reason) not in seen:
            seen.add((f.cell_index, f.line, f.reason))
            out.append(f)
    return out


class _State:
    """What the cells run so far have bound: names of imported modules and classes, across cells."""

    def __init__(self, protected):
        self.imported = {}     # local name -> dotted path it stands for
        self.lab_imports = {}  # the subset the lab's own cells imported
        self.namespaces = set()  # names bound to globals(), locals() or vars()
        self.functions = set()   # names of functions the cells defined
        self.protected = protected

    def learn(self, source, lab=False):
        try:
            tree = ast.parse(to_python(source))
        except SyntaxError:
            return
        visitor = _Visitor(self, source.splitlines(), before_answers=False)
        visitor.visit(tree)
        if lab:
            self.lab_imports.update(visitor.bound_imports)

    def check(self, source, before_answers):
        """[(line, reason, code)] for one student cell; learns its imports for later cells."""
        lines = source.splitlines()
        found = [(n, "mentions labgrader, the grader's own package" if "labgrader" in m.group(0).lower()
                  else "mentions /proc, the kernel's view of processes and memory" if "/proc" in m.group(0)
                  else "mentions a vendor MIME type, as the grader's messages use", line)
                 for n, line in enumerate(lines, 1) for m in [WORDS.search(line)] if m]
        python = to_python(source)
        try:
            tree = ast.parse(python)
        except SyntaxError:
            found += [(n, "does not parse, and holds a word the lab never needs: " + m.group(0), line)
                      for n, line in enumerate(lines, 1) for m in [UNPARSEABLE_WORDS.search(line)] if m]
            return found
        shown = lines if len(python.splitlines()) == len(lines) else python.splitlines()
        visitor = _Visitor(self, shown, before_answers)
        visitor.visit(tree)
        return found + visitor.found


def _dotted(node):
    """``a.b.c`` -> ["a", "b", "c"]; None if the chain does not start with a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def _literal_str(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Visitor(ast.NodeVisitor):
    def __init__(self, state, lines, before_answers):
        self.state, self.lines, self.before_answers = state, lines, before_answers
        self.found = []
        self.bound_imports = {}
        self.depth = 0  # inside a def/lambda/class body: bindings there are not the notebook's

    # -- helpers
    def flag(self, node, reason):
        line = getattr(node, "lineno", 1)
        code = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        self.found.append((line, reason, code))

    def resolve(self, node):
        """The dotted path an expression stands for when it names an imported object, else None."""
        parts = _dotted(node)
        if not parts or parts[0] not in self.state.imported:
            return None
        return ".".join([self.state.imported[parts[0]]] + parts[1:])

    def aliases_import(self, node):
        """The path a bound value stands for when it is (a plain reference to) an imported object."""
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.resolve(node)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return next(filter(None, map(self.aliases_import, node.elts)), None)
        if isinstance(node, ast.IfExp):
            return self.aliases_import(node.body) or self.aliases_import(node.orelse)
        if isinstance(node, ast.Subscript):
            return self.aliases_import(node.value)
        return None

    def bind(self, name, node, path=None, by_import=False):
        """``name`` is bound at notebook level; ``path`` when it stands for an imported object."""
        if name in self.state.protected and self.before_answers:
            self.flag(node, f"rebinds {name}, a name of the lab, in a cell added before the answers, "
                            "where the grader takes its references")
        lab_path = self.state.lab_imports.get(name)
        if not by_import and lab_path and path != lab_path and self.depth == 0:
            self.flag(node, f"rebinds {name}, which the lab imported ({lab_path}), to something else")
        if path:
            self.state.imported[name] = path
            if by_import:
                self.bound_imports[name] = path
        elif self.depth == 0:
            self.state.imported.pop(name, None)

    def bind_target(self, target, value_path, node):
        if isinstance(target, ast.Name):
            if self.depth == 0:
                self.bind(target.id, node, value_path)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.bind_target(elt, value_path, node)
        elif isinstance(target, ast.Starred):
            self.bind_target(target.value, value_path, node)

    # -- imports
    def visit_Import(self, node):
        for alias in node.names:
            reason = _forbidden(alias.name)
            if reason:
                self.flag(node, reason)
            if alias.asname:
                self.bind(alias.asname, node, alias.name, by_import=True)
            else:
                top = alias.name.split(".")[0]
                self.bind(top, node, top, by_import=True)

    def visit_ImportFrom(self, node):
        module = "." * node.level + (node.module or "")
        if _forbidden(module):
            self.flag(node, _forbidden(module))
        for alias in node.names:
            path = f"{module}.{alias.name}"
            if alias.name == "*":
                continue
            if not _forbidden(module) and _forbidden(path):
                self.flag(node, _forbidden(path))
            self.bind(alias.asname or alias.name, node, path, by_import=True)

    # -- bindings
    def visit_Assign(self, node):
        self.generic_visit(node)
        path = self.aliases_import(node.value)
        for target in node.targets:
            self.check_store(target, node.value)
            self.bind_target(target, path, node)
            if self._is_namespace(node.value) and isinstance(target, ast.Name):
                self.state.namespaces.add(target.id)

    def visit_AnnAssign(self, node):
        self.generic_visit(node)
        self.check_store(node.target, node.value)
        if node.value is not None:
            self.bind_target(node.target, self.aliases_import(node.value), node)

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        self.check_store(node.target, node.value)
        self.bind_target(node.target, None, node)

    def visit_NamedExpr(self, node):
        self.generic_visit(node)
        self.bind_target(node.target, self.aliases_import(node.value), node)

    def visit_For(self, node):
        self.bind_target(node.target, self.aliases_import(node.iter), node)
        self.check_store(node.target, None)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_withitem(self, node):
        if node.optional_vars is not None:
            self.bind_target(node.optional_vars, self.aliases_import(node.context_expr), node.context_expr)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self.check_store(target, None, deleting=True)
            self.bind_target(target, None, node)
        self.generic_visit(node)

    def check_store(self, target, value, deleting=False):
        """Assignments (or deletions) to attributes and items of things the student does not own."""
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.check_store(elt, None, deleting)
            return
        if isinstance(target, ast.Starred):
            return self.check_store(target.value, value, deleting)
        if isinstance(target, ast.Attribute):
            base_path = self.resolve(target.value)
            if base_path:
                self.flag(target, f"assigns to {base_path}.{target.attr}, an attribute of an imported "
                                  "module or class (monkeypatching)")
            elif target.attr == "__class__":
                self.flag(target, "changes an object's __class__")
            elif self._reaches_a_class(target.value):
                self.flag(target, "assigns to an attribute of a class reached through type() or a dunder")
            elif value is not None and self._is_function(value):
                self.flag(target, "assigns a function to an attribute (method patching)")
        elif isinstance(target, ast.Subscript):
            base = target.value
            if self._is_namespace(base):
                self.flag(target, "writes into a namespace (globals(), locals() or vars())")
            elif isinstance(base, ast.Attribute) and base.attr == "__dict__":
                self.flag(target, "writes into an object's __dict__")

    def _reaches_a_class(self, node):
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
                return True
            node = node.value
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("type", "getattr")

    def _is_namespace(self, node):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in NAMESPACE_CALLS:
            return True
        return isinstance(node, ast.Name) and node.id in self.state.namespaces

    def _is_function(self, node):
        return isinstance(node, ast.Lambda) or (isinstance(node, ast.Name) and node.id in self.state.functions)

    # -- definitions
    def visit_FunctionDef(self, node):
        if self.depth == 0:
            self.state.functions.add(node.name)
            self.bind(node.name, node)
        for decorator in node.decorator_list:
            self.visit(decorator)
        self.depth += 1
        for child in node.body:
            self.visit(child)
        self.visit(node.args)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_ClassDef(self, node):
        for base in node.bases:
            path = self.resolve(base)
            if path:
                self.flag(node, f"subclasses {path}: a lab answer uses the library's classes as they are")
        for item in node.body:
            names = []
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [item.name]
            elif isinstance(item, ast.Assign):
                names = [t.id for t in item.targets if isinstance(t, ast.Name)]
            for name in names:
                if name in FAKING_METHODS:
                    self.flag(item, f"defines {name} on a class, which makes objects lie about what they are "
                                    "or how they compare")
        if self.depth == 0:
            self.bind(node.name, node)
        for decorator in node.decorator_list:
            self.visit(decorator)
        for item in node.bases + node.keywords:
            self.visit(item)
        self.depth += 1
        for child in node.body:
            self.visit(child)
        self.depth -= 1

    # -- uses
    def visit_Name(self, node):
        if node.id == "get_ipython":  # the safe calls never get here (check_ipython)
            self.flag(node, "uses get_ipython(), through which IPython's hooks can be changed")
        elif node.id in INTROSPECTION_NAMES:
            self.flag(node, f"uses {node.id}, introspection the lab never needs")
        elif node.id in BUILTIN_CALLS and node.id not in self.state.imported:
            self.flag(node, BUILTIN_CALLS[node.id])
        elif isinstance(node.ctx, ast.Load):
            reason = _forbidden(self.state.imported.get(node.id))
            if reason:
                self.flag(node, reason)

    def visit_Attribute(self, node):
        if node.attr in INTROSPECTION_ATTRS:
            self.flag(node, f"uses {node.attr}, introspection the lab never needs")
        path = self.resolve(node)
        reason = _forbidden(path)
        if reason and not _forbidden(self.resolve(node.value)):  # flag the chain once, at its shortest
            self.flag(node, reason)
            return
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            for attr in INTROSPECTION_ATTRS:
                if attr.startswith("__") and attr in node.value:
                    self.flag(node, f"names {attr} in a string, introspection the lab never needs")
                    break

    def visit_Call(self, node):
        func = node.func
        name = func.id if isinstance(func, ast.Name) and func.id not in self.state.imported else None
        if name in ("setattr", "delattr"):
            self.flag(node, f"calls {name}, which changes attributes the lab never needs changed")
        elif name == "getattr" and len(node.args) >= 2 and _literal_str(node.args[1]) is None:
            self.flag(node, "reads an attribute whose name is computed, hiding which one")
        elif name == "vars" and node.args:
            self.flag(node, "reads an object's namespace with vars(), introspection the lab never needs")
        elif (isinstance(func, ast.Attribute) and func.attr in NAMESPACE_WRITES and self._is_namespace(func.value)):
            self.flag(node, "writes into a namespace (globals(), locals() or vars())")
        elif self._is_display(func) and any(k.arg == "raw" for k in node.keywords):
            self.flag(node, "displays a raw MIME bundle, which can imitate the grader's messages")
        if self._is_ipython(func):
            self.check_ipython(node)
            return
        self.generic_visit(node)

    def _is_display(self, func):
        if isinstance(func, ast.Name):
            return func.id == "display" or self.state.imported.get(func.id, "").endswith(".display")
        return isinstance(func, ast.Attribute) and func.attr == "display"

    def _is_ipython(self, func):
        """``get_ipython().<method>``"""
        return (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
                and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython")

    def check_ipython(self, node):
        """Only a few read-only magics are allowed; the code they time is scanned too."""
        method, args = node.func.attr, node.args
        magic = _literal_str(args[0]) if args else None
        literal = all(_literal_str(a) is not None for a in args) and not node.keywords
        if literal and method == "run_line_magic" and magic in SAFE_LINE_MAGICS and len(args) == 2:
            if magic in RUNS_ITS_ARGUMENT:
                self.scan_nested(node, _literal_str(args[1]))
            return
        if literal and method == "run_cell_magic" and magic in SAFE_CELL_MAGICS and len(args) == 3:
            self.scan_nested(node, _literal_str(args[2]))
            return
        magic = re.sub(r"\W", "", magic or "")[:40]  # a word in the reason, whatever the student wrote
        what = {"system": "runs a shell command", "getoutput": "runs a shell command",
                "run_cell_magic": f"runs the cell magic %%{magic}" if magic else "runs a cell magic",
                "run_line_magic": f"runs the magic %{magic}" if magic else "runs a magic"}.get(method)
        self.flag(node, (what or f"calls get_ipython().{method}") + ", changing or escaping IPython, which the lab never needs")

    def scan_nested(self, node, source):
        for _, reason, _ in _State.check(self.state, source, self.before_answers):
            self.flag(node, reason)

