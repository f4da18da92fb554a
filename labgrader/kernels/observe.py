"""The in-kernel half of the hidden tests: report observations, never judge them.

Runs in the student's kernel, so nothing here decides a grade or holds a secret. The grader
sends each graded test cell its probe (which inputs to try, a nonce) silently, right before
that cell runs; the cell's hidden code observes the student's objects and calls ``report``; the
grader validates the report and judges it in its own process (``labgrader.judging``).
Outside the grader (the instructor running the source notebook) there is no probe and
``report`` just shows what would be sent.

Student code runs before the hidden tests, so the grader also puts the kernel's machinery back
as it was before any student code (``arm`` then ``setup``): tracing and profiling hooks off,
IPython's event callbacks, input/AST transformers and exception handlers restored, patched
builtins and the attributes of the lab's protected modules and classes restored, and the lab's
observer module executed afresh from the grader's copy of its source (so functions patched or
rewritten earlier are not the ones that run). This raises the cost of forging observations; it
is not the boundary (the judge is), and what it cannot undo is flagged by the static scan.
"""
import builtins
import json
import math
import numbers
import sys
import threading
import types

MIME = "application/vnd.labgrader.observation+json"
UNDEFINED = object()

_probes = {}
_armed = {}
_kept = {}


def keep(name, value):
    """Keep references across test cells (the lab's objects, captured before student code); a
    dict is kept as a tuple of its items, so what ``kept`` hands out is a copy."""
    _kept[name] = tuple(value.items()) if isinstance(value, dict) else value


def kept(name, default=None):
    value = _kept.get(name, default)
    return dict(value) if type(value) is tuple else value


def _resolve(dotted):
    import importlib
    module, _, attribute = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def arm(modules=(), classes=()):
    """Called by the grader, silently, just before the first cell a student could have written:
    remember the kernel's machinery and what ``modules`` and ``classes`` (dotted names) hold."""
    from IPython import get_ipython
    shell = get_ipython()
    modules = [__name__, *modules]
    classes = [_resolve(name) for name in classes]
    _armed.clear()
    _armed.update(
        settrace=sys.settrace, setprofile=sys.setprofile,
        threading_settrace=threading.settrace, threading_setprofile=threading.setprofile,
        builtins=dict(vars(builtins)),
        modules={name: (sys.modules[name], dict(vars(sys.modules[name]))) for name in modules if name in sys.modules},
        classes=[(cls, dict(vars(cls))) for cls in classes],
        shell=shell)
    # functions keep their identity when their code is swapped (gc, __code__): remember the code too
    functions = {}
    for _, snapshot in [*_armed["modules"].values(), *_armed["classes"]]:
        for value in snapshot.values():
            if type(value) is types.FunctionType:
                functions[id(value)] = (value, value.__code__, value.__defaults__, value.__kwdefaults__)
    _armed["functions"] = functions
    # the objects the kernel's output travels through: their methods can be patched per instance
    streams = {name: getattr(sys, name) for name in ("stdout", "stderr", "displayhook", "excepthook")}
    carriers = [shell] + list(streams.values())
    if shell is not None:
        carriers += [shell.display_pub, getattr(shell.display_pub, "session", None), shell.displayhook,
                     getattr(getattr(shell, "kernel", None), "session", None), getattr(shell, "kernel", None)]
        _armed.update(
            events={name: list(callbacks) for name, callbacks in shell.events.callbacks.items()},
            transformers={name: list(getattr(shell, name)) for name in
                          ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")},
            custom=(shell.custom_exceptions, shell.CustomTB),
            display_hooks=list(getattr(shell.display_pub, "_hooks", [])) if hasattr(shell.display_pub, "_hooks") else None)
    _armed["streams"] = streams
    _armed["display"] = _display()  # report() uses this one: code run during a check may rebind the module's
    _armed["carriers"] = [(obj, {k: v for k, v in vars(obj).items() if callable(v)})
                          for obj in carriers if obj is not None and hasattr(obj, "__dict__")]


def _restore_dict(target, snapshot, drop_new=False):
    current = vars(target)
    for name, value in snapshot.items():
        if current.get(name, UNDEFINED) is not value:
            setattr(target, name, value)
    if drop_new:
        for name in set(current) - set(snapshot):
            delattr(target, name)


def restore():
    """Put back what ``arm`` remembered (no-op when not armed)."""
    if not _armed:
        return
    for name, stream in _armed["streams"].items():
        setattr(sys, name, stream)
    for obj, callables in _armed["carriers"]:
        current = vars(obj)
        for name in [n for n in current if n not in callables and callable(getattr(type(obj), n, None))]:
            delattr(obj, name)  # a method patched on the instance
        for name, value in callables.items():
            if current.get(name, UNDEFINED) is not value:
                current[name] = value
    _armed["settrace"](None)
    _armed["setprofile"](None)
    _armed["threading_settrace"](None)
    _armed["threading_setprofile"](None)
    _restore_dict(builtins, _armed["builtins"])
    for function, code, defaults, kwdefaults in _armed["functions"].values():
        if function.__code__ is not code:
            function.__code__ = code
        function.__defaults__, function.__kwdefaults__ = defaults, kwdefaults
    for name, (module, snapshot) in _armed["modules"].items():
        sys.modules[name] = module
        _restore_dict(module, snapshot)
    for cls, snapshot in _armed["classes"]:
        try:
            _restore_dict(cls, snapshot, drop_new=True)
        except (AttributeError, TypeError):
            pass
    shell = _armed["shell"]
    if shell is not None:
        for name, callbacks in _armed["events"].items():
            shell.events.callbacks[name] = list(callbacks)
        for name, items in _armed["transformers"].items():
            getattr(shell, name)[:] = items
        shell.custom_exceptions, shell.CustomTB = _armed["custom"]
        if _armed["display_hooks"] is not None:
            shell.display_pub._hooks[:] = _armed["display_hooks"]


def setup(grade_id, probe, sources=None):
    """Called by the grader, silently, just before the test cell ``grade_id`` runs: restore the
    machinery, hand over the probe, and load the lab's observer modules afresh from ``sources``
    ({module name: source text}, the grader's copies). Fails closed: if what ``arm`` remembered
    is gone (student code cleared it), nothing is handed over and the cell's observations will
    not carry the nonce (scored 0, flagged)."""
    if not _armed or "functions" not in _armed:
        raise RuntimeError("the grading machinery was tampered with")
    restore()
    _probes[grade_id] = probe
    load(sources)


def load(sources):
    """Execute the lab's observer modules afresh from ``sources`` ({module name: source text}, the
    grader's copies) into sys.modules. Also called when arming: the working copy is not on the
    kernel's sys.path, so ``import observers`` finds the grader's copy, never a handed-in one."""
    for name, source in (sources or {}).items():
        module = types.ModuleType(name)
        module.__file__ = f"<grader's copy of {name}.py>"
        sys.modules[name] = module
        exec(compile(source, module.__file__, "exec"), vars(module))


def probe(grade_id, default=None):
    return _probes.get(grade_id, default)


def report(grade_id, observations):
    """Send ``observations`` (plain JSON) for ``grade_id`` to the grader."""
    display = _armed.get("display") or _display()
    record = {"grade_id": grade_id, "nonce": _probes.get(grade_id, {}).get("nonce", "not-graded"),
              "observations": observations}
    json.dumps(record, allow_nan=False)  # fail here, in the kernel, rather than send something invalid
    display({MIME: record, "text/plain": f"Observations for {grade_id} recorded for grading."}, raw=True)


def _display():
    from IPython.display import display
    return display


def describe(value):
    """A JSON description of any value: its exact type and, for numbers, its value."""
    if value is UNDEFINED:
        return {"kind": "undefined", "type": "", "module": ""}
    try:
        return _describe(value)
    except Exception as exc:  # a student's object may raise anything, even from repr()
        return {"kind": "other", "type": "", "module": "", "repr": f"<cannot describe: {type(exc).__name__}>"}


def _describe(value):
    kind_of = type(value)
    described = {"type": kind_of.__name__, "module": kind_of.__module__}
    if value is None:
        described["kind"] = "none"
    elif isinstance(value, bool):
        described["kind"] = "bool"
    elif isinstance(value, numbers.Integral):
        described.update(kind="integer", value=int(value) if abs(int(value)) < 2 ** 63 else float(value))
    elif isinstance(value, numbers.Real) and math.isfinite(float(value)):
        described.update(kind="real", value=float(value))
    else:
        described.update(kind="other", repr=repr(value)[:200])
    return described


def array(values, max_size=100_000):
    """An array as {"shape", "values"} (flat, finite floats), or {"error": ...} if it is not one."""
    import numpy as np
    try:
        result = np.asarray(values, dtype=np.float64)
    except Exception as exc:
        return {"error": f"not an array of numbers ({type(exc).__name__})"}
    if result.size > max_size:
        return {"error": f"too large ({result.size} numbers)", "shape": list(result.shape)}
    if not np.isfinite(result).all():
        return {"error": "contains NaN or infinite values", "shape": list(result.shape)}
    return {"shape": list(result.shape), "values": result.ravel().tolist()}
