"""The in-kernel half of the hidden tests: hand the student's answers to the grader as data.

Runs in the student's kernel, so it decides nothing, holds no expectation and receives no probe
(only the arguments a function-valued answer is to be called with). A hidden test cell calls
``answer(grade_id, globals(), "model3")``; the named objects, plus the lab's own objects pinned
before any student code ran (``pin``), are encoded as plain data and published as one display
message of type ``MIME``. The grader validates that record, rebuilds the objects from built-in
classes in its own process and runs every check there (``labgrader.judging``). Forging a record
gains nothing: points come only from an export that is itself a correct answer.

The encoding (``encode``) in one call shares one identity space: an object reached twice, from two
names or from two models, gets one ``ref``, so weight sharing *is* the structure of the export.
Keras objects become a graph of layers (built-in class, config, weights); numbers, strings and
numpy arrays become values; a function becomes the results of calling it on the arguments the
grader sent (``arguments``); anything else is described by its type only.

``pin`` also takes a snapshot of the modules the export relies on; ``answer`` puts back anything
student code rebound there since, and lists it as evidence for the grader to flag (the grade never
depends on it). Outside the grader (the instructor running the source notebook) nothing is pinned
and ``answer`` shows what would be handed in.
"""
import math
import sys
import threading
import types
from base64 import b64encode as _b64encode  # bound now: student code may rebind base64's later

MIME = "application/vnd.labgrader.export+json"
EVIDENCE_MIME = "application/vnd.labgrader.evidence+json"
MAX_OBJECTS = 500          # Keras objects in one export
MAX_NUMBERS = 2_000_000    # weight values in one export, all objects together
MAX_ITEMS = 1000           # items of a list or tuple answer
MAX_STRING = 2000
MAX_CALLS = 20

UNDEFINED = object()
_pinned: dict = {}
_arguments: dict = {}
_watch: dict = {}
_watched = False
PIN_MIME = "application/vnd.labgrader.pin+json"
MAX_BYTES = 16 * 1024 ** 2  # raw bytes of arrays in one hand-over (base64 makes it a third more)


def _shell():
    from IPython import get_ipython
    return get_ipython()


def _publish(data):
    """Through the display publisher the shell had at ``watch`` (student code may install another)."""
    publisher = _watch.get("display_pub")
    if publisher is None:
        from IPython.display import publish_display_data
        return publish_display_data(data)
    return type(publisher).publish(publisher, data=data, metadata={})


def _evidence():
    if _watch:
        return _restore()
    return ["the export's snapshot of the kernel was cleared"] if _watched else []


def watch(modules=()):
    """Run by the grader, silently, just before the first cell a student could have written: a
    snapshot of the ``modules`` the export relies on (and of this one), to put back before exports."""
    global _watched
    _watch.clear()
    _watch.update(_snapshot([__name__, *modules]))
    shell = _shell()
    _watch["shell"], _watch["display_pub"] = shell, getattr(shell, "display_pub", None)
    _watched = True


def seal(grade_id):
    """Run by the grader, silently, right after the test cell ``grade_id``: put back what student
    code changed in the watched modules and report what was seen (the hidden test's own call may
    have been rebound, so this check is the grader's, not the cell's)."""
    _publish({EVIDENCE_MIME: {"grade_id": grade_id, "seen": _evidence(), "watched": bool(_watch)}, "text/plain": ""})


def pin(namespace, names=(), failed=False):
    """Run by the grader, silently, right after a lab cell that binds ``names`` ran: keep the
    objects it built (UNDEFINED when the cell failed), whatever the names hold later, and hand the
    grader what they are now, with the identity (``id``) of every object reached: later hand-overs
    must carry the very same objects."""
    _pinned.update((name, UNDEFINED if failed else namespace.get(name, UNDEFINED)) for name in names)
    encoder = Encoder()
    record = {"names": {name: encoder.encode(_pinned[name]) for name in names}, "objects": encoder.objects,
              "ids": encoder.ids, "evidence": _evidence(), "watched": bool(_watch)}
    _publish({PIN_MIME: record, "text/plain": ""})


def arguments(grade_id, calls):
    """Run by the grader, silently, before the test cell ``grade_id``: the arguments (lists of
    plain numbers) a function-valued answer is to be called with. The only data sent in."""
    _arguments[grade_id] = calls


def answer(grade_id, namespace, *names):
    """Publish the answers ``names`` of ``namespace`` and the pinned lab objects, as data."""
    evidence = _evidence()
    lab = dict(_pinned)
    encoder = Encoder(_arguments.get(grade_id))
    record = {"grade_id": grade_id,
              "answers": {name: encoder.encode(namespace.get(name, UNDEFINED)) for name in names},
              "lab": {name: encoder.encode(value) for name, value in lab.items()},
              "objects": encoder.objects, "ids": encoder.ids, "evidence": evidence, "watched": bool(_watch)}
    summary = ", ".join(f"{name}: {_short(record['answers'][name])}" for name in names)
    _publish({MIME: record, "text/plain": f"Handed to the grader for {grade_id}: {summary or 'nothing'}."})


def _short(encoded):
    kind = encoded.get("kind")
    if kind == "object":
        return "a Keras object"
    if kind in ("int", "float", "bool"):
        return repr(encoded.get("value"))
    return kind


# --- encoding -------------------------------------------------------------------------------

class Encoder:
    """Turns values into plain JSON; Keras objects go into ``objects``, keyed by ref."""

    def __init__(self, calls=None):
        self.calls = calls
        self.objects = {}
        self.ids = {}        # ref -> id() of the object (or variable) in this kernel
        self._refs = {}
        self._keep = []      # the objects encoded, alive until the export is done (ids stay unique)
        self._numbers = 0
        self._bytes = 0

    def encode(self, value, depth=0):
        try:
            return self._encode(value, depth)
        except OverflowError as exc:
            return {"kind": "error", "error": str(exc)}
        except Exception as exc:  # a student's object may raise anything, even from its type's methods
            return {"kind": "error", "error": f"{type(exc).__name__} while reading the value"}

    def _encode(self, value, depth):
        kind = type(value)
        if value is UNDEFINED:
            return {"kind": "undefined"}
        if value is None:
            return {"kind": "none"}
        if kind is bool:
            return {"kind": "bool", "value": value}
        if kind is int:
            return {"kind": "int", "type": "builtins.int", "value": value} if abs(value) < 2 ** 63 else \
                {"kind": "other", "type": "builtins.int"}
        if kind is float:
            return {"kind": "float", "type": "builtins.float", "value": value} if math.isfinite(value) else \
                {"kind": "float", "type": "builtins.float", "special": repr(value)}
        if kind is str:
            return {"kind": "str", "value": value[:MAX_STRING], "length": len(value)}
        if kind in (list, tuple) and depth < 4:
            items = [self.encode(item, depth + 1) for item in value[:MAX_ITEMS]]
            return {"kind": kind.__name__, "items": items, "length": len(value)}
        numpy = sys.modules.get("numpy")
        if numpy is not None and issubclass(kind, numpy.generic) and kind.__module__ == "numpy":
            return self._numpy_scalar(numpy, value)
        if numpy is not None and kind is numpy.ndarray:
            return self._array(numpy, value)
        layer_class = _keras_layer_class()
        if layer_class is not None and issubclass(kind, layer_class):
            return {"kind": "object", "ref": self._keras(value)}
        if kind in (types.FunctionType, types.BuiltinFunctionType) or (callable(value) and not isinstance(value, type)):
            return self._function(value)
        return {"kind": "other", "type": _qualified(kind)}

    def _numpy_scalar(self, numpy, value):
        name = f"numpy.{type(value).__name__}"
        item = numpy.generic.item(value)
        if type(item) is bool:
            return {"kind": "bool", "type": name, "value": item}
        if type(item) is int:
            return {"kind": "int", "type": name, "value": item} if abs(item) < 2 ** 63 else {"kind": "other", "type": name}
        if type(item) is float:
            return {"kind": "float", "type": name, "value": item} if math.isfinite(item) else \
                {"kind": "float", "type": name, "special": repr(item)}
        if isinstance(item, numpy.floating):  # a long double (item() keeps it): its exact value, or none
            return {"kind": "float", "type": name, **_exact(numpy, item)}
        return {"kind": "other", "type": name}

    def _array(self, numpy, value):
        if value.dtype.kind not in "biuf":
            return {"kind": "other", "type": f"numpy.ndarray of {value.dtype}"}
        if value.dtype.kind == "f" and value.dtype.itemsize > 8:  # long doubles: as the nearest float64s
            value = value.astype(numpy.float64)
        self._count(value.size, value.nbytes)
        data = numpy.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
        return {"kind": "array", "dtype": str(value.dtype.newbyteorder("=")), "shape": list(value.shape),
                "data": _b64encode(data.tobytes()).decode("ascii")}

    def _count(self, numbers, nbytes=0):
        self._numbers += int(numbers)
        self._bytes += int(nbytes)
        if self._numbers > MAX_NUMBERS or self._bytes > MAX_BYTES:
            raise OverflowError("too large to hand over")

    def _function(self, function):
        if self.calls is None:
            return {"kind": "function"}
        numpy = sys.modules.get("numpy")
        results = []
        for args in self.calls[:MAX_CALLS]:
            try:
                given = [numpy.array(arg, dtype=numpy.float64) for arg in args] if numpy else list(args)
                results.append(self.encode(function(*given), depth=1))
            except Exception as exc:  # the student's function may raise anything
                results.append({"kind": "raised", "error": type(exc).__name__})
        return {"kind": "function", "results": results}

    # Keras: each layer or model once, by identity

    def _keras(self, obj):
        key = id(obj)
        if key in self._refs:
            return self._refs[key]
        if len(self.objects) >= MAX_OBJECTS:
            raise OverflowError("too many objects")
        ref = f"o{len(self._refs) + 1}"
        self._refs[key] = ref
        self.ids[ref] = key
        self._keep.append(obj)
        self.objects[ref] = node = {"class": _qualified(type(obj))}
        try:
            node.update(self._keras_node(obj))
        except OverflowError as exc:
            node.clear()
            node.update({"class": _qualified(type(obj)), "error": str(exc)})
            raise
        except Exception as exc:
            node.clear()
            node.update({"class": _qualified(type(obj)), "error": f"{type(exc).__name__} while reading it"})
        return ref

    def _keras_node(self, obj):
        """Read through the object's own class (an instance may carry patched methods)."""
        from keras import Model, Sequential
        from keras.layers import InputLayer
        from keras.src.models.functional import Functional
        kind = type(obj)
        if issubclass(kind, Sequential):
            layers = list(obj._layers)
            first = layers[0] if layers and issubclass(type(layers[0]), InputLayer) else None
            return {"model": "sequential", "name": str(obj.name),
                    "input": _input_spec(first) if first is not None else None,
                    "layers": [self._keras(layer) for layer in layers if layer is not first]}
        if issubclass(kind, Functional):
            config = kind.get_config(obj)
            return {"model": "functional", "name": str(obj.name), "graph": self._graph(obj, config)}
        if issubclass(kind, Model):
            return {"model": "subclassed", "name": str(obj.name)}
        if issubclass(kind, InputLayer):
            return {"layer": True, "name": str(obj.name), "input": _input_spec(obj)}
        if type(obj.name) is not str:
            raise TypeError("a layer name that is not a string")
        numpy = sys.modules["numpy"]
        weights = []
        for variable in kind.weights.__get__(obj):
            encoded = self._array(numpy, numpy.asarray(variable.numpy()))
            weights.append({"var": self._variable(variable), "trainable": bool(variable.trainable),
                            "shape": encoded["shape"], "dtype": encoded["dtype"], "data": encoded["data"]})
        return {"layer": True, "name": str(obj.name), "config": _plain(kind.get_config(obj)),
                "trainable": bool(obj.trainable), "built": bool(obj.built), "weights": weights}

    def _variable(self, variable):
        key = id(variable)
        if key not in self._refs:
            self._refs[key] = f"v{len(self._refs) + 1}"
            self.ids[self._refs[key]] = key
            self._keep.append(variable)
        return self._refs[key]

    def _graph(self, model, config):
        """A functional model's own graph: its layers (by ref) and how each was called. Layers are
        looked up through the model's class (an instance's get_layer may have been replaced)."""
        own = {}
        for layer in type(model).layers.fget(model):
            own.setdefault(str(layer.name), layer)
        layers = []
        for entry in config["layers"]:
            layer = own[entry["name"]]
            layers.append({"name": entry["name"], "ref": self._keras(layer),
                           "nodes": [_plain(node) for node in entry.get("inbound_nodes", [])]})
        return {"layers": layers, "inputs": _plain(config["input_layers"]), "outputs": _plain(config["output_layers"])}


def _exact(numpy, value):
    """A long double as JSON without rounding: a whole number as an int, else a float64 that equals
    it, else only its repr (no number the grader could read as another)."""
    if not numpy.isfinite(value):
        return {"special": repr(value)}
    if value == numpy.floor(value) and abs(value) < 2 ** 63:
        return {"value": int(value)}
    if float(value) == value:
        return {"value": float(value)}
    return {"special": repr(value)[:100]}


def _input_spec(input_layer):
    config = type(input_layer).get_config(input_layer)
    return {"batch_shape": _plain(config.get("batch_shape")), "dtype": str(config.get("dtype", "float32"))}


def _plain(value, depth=0):
    """A config as plain JSON (tuples as lists, other objects by their type name only)."""
    if depth > 12:
        return None
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) in (list, tuple):
        return [_plain(v, depth + 1) for v in value[:MAX_ITEMS]]
    if type(value) is dict:
        return {str(k): _plain(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    return {"unserializable": _qualified(type(value))}


def _qualified(kind):
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', '?')}"


def _keras_layer_class():
    if "keras" not in sys.modules:  # no Keras object can exist before keras is imported
        return None
    try:
        from keras.layers import Layer
    except Exception:
        return None
    return Layer


# --- evidence: what student code changed in the modules the export relies on ---------------

def _watched_value(value):
    """What a watched module's attribute holds that the export may call: functions and classes
    (not submodules, which lazy loaders legitimately swap in on first use)."""
    return callable(value) and not isinstance(value, types.ModuleType)


def _carriers():
    """The objects an export travels through (the display publisher, its socket, the kernel's
    session) and their classes: a method patched on either would rewrite what reaches the grader."""
    try:
        shell = _shell()
    except Exception:
        return []
    if shell is None:
        return []
    publisher = shell.display_pub
    objects = [publisher, getattr(publisher, "session", None), getattr(publisher, "pub_socket", None),
               getattr(shell, "kernel", None), getattr(getattr(shell, "kernel", None), "session", None)]
    found = []
    for obj in objects:
        if obj is None:
            continue
        found.append((f"the {type(obj).__name__} instance", obj))
        found += [(cls.__qualname__, cls) for cls in type(obj).__mro__[:-1]]
    return found


def _classes(modules):
    """Every class the watched modules offer (defined there or re-exported, as Keras's public
    modules re-export keras.src's), with the classes they derive from."""
    seen, found = set(), []
    for name, module in modules.items():
        for value in list(vars(module).values()):
            if isinstance(value, type):
                for cls in value.__mro__[:-1]:
                    if id(cls) not in seen:
                        seen.add(id(cls))
                        found.append((f"{cls.__module__}.{cls.__qualname__}", cls))
    return found


def _same(current, kept):
    """The same callable: identical, or a bound method of the same function and object (the kernel
    rebinds some for every request, e.g. builtins.input)."""
    if current is kept:
        return True
    return type(current) is type(kept) is types.MethodType and current.__func__ is kept.__func__ \
        and current.__self__ is kept.__self__


def _methods(obj):
    """What of an object's or class's own dict can be called or looked up as behaviour: functions,
    methods, descriptors such as properties (not plain data, which classes may change as they work)."""
    try:
        return {k: v for k, v in vars(obj).items()
                if (callable(v) or isinstance(v, (property, classmethod, staticmethod))) and not isinstance(v, types.ModuleType)}
    except TypeError:
        return {}


def _snapshot(names):
    modules = {name: sys.modules[name] for name in names if name in sys.modules}
    attributes, code = {}, {}
    for name, module in modules.items():
        attributes[name] = {k: v for k, v in vars(module).items() if _watched_value(v) or _own_submodule(name, k, v)}
    classes = _classes(modules)
    functions = [v for name in modules for v in attributes[name].values()
                 if type(v) is types.FunctionType and v.__module__ == name]
    functions += [v for label, cls in classes if cls.__module__ == __name__ for v in vars(cls).values()
                  if type(v) is types.FunctionType]
    for value in functions:
        code[id(value)] = (value, value.__code__, value.__defaults__)
    carriers = [(label, obj, _methods(obj)) for label, obj in _carriers() + classes]
    return {"modules": modules, "attributes": attributes, "code": code, "carriers": carriers,
            "tracing": (sys.gettrace(), sys.getprofile())}


def _own_submodule(name, attribute, value):
    """A package's binding of one of its own submodules (``labgrader.kernels.export``): rebinding
    it sends every ``from labgrader.kernels import export`` elsewhere."""
    return name.startswith("labgrader") and isinstance(value, types.ModuleType) \
        and getattr(value, "__name__", "") == f"{name}.{attribute}"


def _restore():
    """Put back what student code changed since ``watch``; return what was seen, for the grader."""
    seen = []
    for name, module in _watch["modules"].items():
        if sys.modules.get(name) is not module:
            seen.append(f"sys.modules[{name!r}] was replaced (by {_qualified(type(sys.modules.get(name)))})")
            sys.modules[name] = module
        current = vars(module)
        for attribute, value in _watch["attributes"][name].items():
            if not _same(current.get(attribute, UNDEFINED), value):
                seen.append(f"{name}.{attribute} was rebound")
                setattr(module, attribute, value)
    for function, code, defaults in _watch["code"].values():
        if function.__code__ is not code or function.__defaults__ is not defaults:
            seen.append(f"the code of {function.__module__}.{function.__qualname__} was replaced")
            function.__code__, function.__defaults__ = code, defaults
    for label, obj, methods in _watch["carriers"]:
        current = _methods(obj)
        for attribute in set(current) | set(methods):
            if not _same(current.get(attribute, UNDEFINED), methods.get(attribute, UNDEFINED)):
                seen.append(f"{label}.{attribute} was replaced (it carries the hand-over to the grader)")
                try:
                    if attribute in methods:
                        setattr(obj, attribute, methods[attribute])
                    else:
                        delattr(obj, attribute)
                except (AttributeError, TypeError):
                    pass
    shell = _shell() if _watch.get("shell") is not None else None
    if shell is not None and shell.display_pub is not _watch["display_pub"]:
        seen.append("the shell's display_pub was replaced (it carries the hand-over to the grader)")
        shell.display_pub = _watch["display_pub"]
    if (sys.gettrace(), sys.getprofile()) != _watch["tracing"]:
        seen.append("a trace or profile function was running")
        sys.settrace(None)
        sys.setprofile(None)
        threading.settrace(None)
    return seen[:50]
