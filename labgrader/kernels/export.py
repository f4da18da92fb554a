"""The in-kernel half of grading: hand the student's answers to the grader as data.

Runs in the student's kernel, so it decides nothing, holds no expectation and receives no probe
but plain data (the arguments a function-valued answer is to be called with, the inputs of the
cross-check). The grader runs every function here itself, as silent cells that hold no hidden test
text (``labgrader.preprocessors.guarded_execute``): after a graded test cell's visible code ran,
``answer(grade_id, globals(), "model3")`` encodes the named objects, plus the lab's own objects
pinned before any student code ran (``pin``), as plain data and publishes one display message of
type ``MIME``; ``outputs`` then runs the very Keras models it handed over on inputs the grader drew
and publishes what they returned (``OUTPUTS_MIME``); ``seal`` reports what student code changed.
The grader validates those records, rebuilds the objects from built-in classes in its own process,
checks that the rebuilt models compute what the kernel's computed, and runs every check there
(``labgrader.judging``). Forging a record gains nothing: points come only from an export that is
itself a correct answer and that the student's real objects compute.

The encoding (``encode``) in one call shares one identity space: an object reached twice, from two
names or from two models, gets one ``ref``, so weight sharing *is* the structure of the export.
Keras objects become a graph of layers (built-in class, config, weights); numbers, strings and
numpy arrays become values; a function becomes the results of calling it on the arguments the
grader sent (``arguments``); anything else is described by its type only. Keras classes and
activation functions are named by identity with the originals ``watch`` kept before student code
ran, never by the names a class or function gives itself; a built Sequential is described by the
graph Keras runs for it.

``watch`` also takes a snapshot of the modules and classes the export relies on; ``answer`` puts
back anything student code rebound there since, and lists it as evidence for the grader to flag
(the grade never depends on it).
"""
import importlib
import math
import sys
import threading
import types
from base64 import b64decode as _b64decode, b64encode as _b64encode  # bound now: student code may rebind base64's later

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
_handed: dict = {}         # grade id -> {ref: a Keras model it handed over}, until the grader's cross-check ran
_watch: dict = {}
_watched = False
PIN_MIME = "application/vnd.labgrader.pin+json"
OUTPUTS_MIME = "application/vnd.labgrader.outputs+json"
NOT_BUILT_IN = "not built-in: "  # prefix of the class of an object whose class is not one of Keras's own
MAX_OUTPUTS = 16             # arrays one model may return to the cross-check
KERAS_WRAPPERS = {"build", "quantize"}  # methods Keras itself wraps on every instance (Layer.__new__)
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


def watch(transport=(), modules=()):
    """Run by the grader, silently, just before the first cell a student could have written: load
    the lab's ``modules``, keep Keras's own classes and activation functions (the originals every
    later export names objects by), and take a snapshot of the bindings of the ``transport`` modules
    (the engine's: what a hand-over travels through) and of the lab's ``modules``, of the methods
    of the transport's classes and of Keras's (and of this module), to put back before exports."""
    global _watched
    for name in modules:
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:  # a module the lab lists but this kernel lacks: nothing of it to watch
                pass
    _watch.clear()
    originals = keras_originals()
    _watch.update(_snapshot([__name__, *transport], modules, originals))
    _watch["keras"] = originals
    shell = _shell()
    _watch["shell"], _watch["display_pub"] = shell, getattr(shell, "display_pub", None)
    _watched = True


def seal(grade_id):
    """Run by the grader, silently, after the test cell ``grade_id`` and its hand-over: put back
    what student code changed in the watched modules and classes and report what was seen (the
    hand-over's own call may have been rebound, so this check is the grader's, not the cell's)."""
    _publish({EVIDENCE_MIME: {"grade_id": grade_id, "seen": _evidence(), "watched": bool(_watch)}, "text/plain": ""})


def pin(namespace, names=(), failed=False):
    """Run by the grader, silently, right after a lab cell that binds ``names`` ran: keep the
    objects it built (UNDEFINED when the cell failed), whatever the names hold later, and hand the
    grader what they are now, with the identity (``id``) of every object reached: later hand-overs
    must carry the very same objects."""
    _pinned.update((name, UNDEFINED if failed else namespace.get(name, UNDEFINED)) for name in names)
    encoder = Encoder()
    record = {"names": {name: encoder.encode(_pinned[name]) for name in names}, "objects": encoder.objects,
              "ids": encoder.ids, "evidence": (_evidence() + encoder.seen)[:50], "watched": bool(_watch)}
    _publish({PIN_MIME: record, "text/plain": ""})


def arguments(grade_id, calls):
    """Run by the grader, silently, before the hand-over of ``grade_id``: the arguments (lists of
    plain numbers) a function-valued answer is to be called with."""
    _arguments[grade_id] = calls


def answer(grade_id, namespace, *names):
    """Run by the grader, silently, after the test cell ``grade_id``: publish the answers
    ``names`` of ``namespace`` and the pinned lab objects, as data. The Keras models among them
    are kept for the cross-check that follows (``outputs``)."""
    evidence = _evidence()
    lab = dict(_pinned)
    encoder = Encoder(_arguments.get(grade_id))
    answers = {name: encoder.encode(namespace.get(name, UNDEFINED)) for name in names}
    lab_values = {name: encoder.encode(value) for name, value in lab.items()}
    _handed[grade_id] = encoder.models([*answers.values(), *lab_values.values()])
    record = {"grade_id": grade_id, "answers": answers, "lab": lab_values, "objects": encoder.objects,
              "ids": encoder.ids, "evidence": (evidence + encoder.seen)[:50], "watched": bool(_watch)}
    summary = ", ".join(f"{name}: {_short(answers[name])}" for name in names)
    _publish({MIME: record, "text/plain": f"Handed to the grader for {grade_id}: {summary or 'nothing'}."})


def outputs(grade_id, inputs):
    """Run by the grader, silently, right after the hand-over of ``grade_id`` and its seal: call
    each Keras model it handed over (by ref) on the inputs the grader drew (plain arrays: dtype, shape,
    base64 data) and publish what it returned, with the model's identity. Only inputs come in; the
    grader compares the results with its own rebuild of the model."""
    handed = _handed.pop(grade_id, {})
    numpy = sys.modules.get("numpy")
    results = {}
    for ref, arrays in list(inputs.items())[:MAX_OBJECTS]:
        model = handed.get(ref)
        if model is None or numpy is None:
            results[ref] = {"id": 0, "raised": "not handed over"}
            continue
        try:
            given = [numpy.frombuffer(_b64decode(a["data"]), dtype=a["dtype"]).reshape(a["shape"]) for a in arrays]
            returned = model(given[0] if len(given) == 1 else given, training=False)
            values = list(returned) if type(returned) in (list, tuple) else [returned]
            encoder = Encoder()
            results[ref] = {"id": id(model), "values": [encoder._array(numpy, numpy.asarray(value))
                                                        for value in values[:MAX_OUTPUTS]]}
        except Exception as exc:  # the student's model may raise anything
            results[ref] = {"id": id(model), "raised": type(exc).__name__}
    _publish({OUTPUTS_MIME: {"grade_id": grade_id, "outputs": results}, "text/plain": ""})


def _short(encoded):
    kind = encoded.get("kind")
    if kind == "object":
        return "a Keras object"
    if kind in ("int", "float", "bool"):
        return repr(encoded.get("value"))
    return kind


# --- encoding -------------------------------------------------------------------------------

class _Unreadable(Exception):
    """A Keras object the export will not describe; the message says why (for the student)."""


class Encoder:
    """Turns values into plain JSON; Keras objects go into ``objects``, keyed by ref.

    Keras objects are named by ``originals`` (``keras_originals``): by default the ones ``watch``
    kept before student code ran, or, outside the grader (tests), Keras as it is now. What the
    encoding saw that only tampering explains goes to ``seen`` (evidence for the grader)."""

    def __init__(self, calls=None, originals=UNDEFINED):
        self.calls = calls
        self.originals = _current_originals() if originals is UNDEFINED else originals
        self.objects = {}
        self.ids = {}        # ref -> id() of the object (or variable) in this kernel
        self.seen = []
        self._refs = {}
        self._by_ref = {}    # ref -> the Keras object
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

    def models(self, encoded_values):
        """{ref: model} for the Keras models (Sequential or functional) among ``encoded_values``."""
        refs = [value.get("ref") for value in encoded_values if value.get("kind") == "object"]
        return {ref: self._by_ref[ref] for ref in refs
                if ref in self._by_ref and self.objects.get(ref, {}).get("model") in ("sequential", "functional")}

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
        layer_class = self.originals["Layer"] if self.originals else _keras_layer_class()
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
        return {"kind": "other", "type": name}

    def _array(self, numpy, value):
        if value.dtype.kind not in "biuf":
            return {"kind": "other", "type": f"numpy.ndarray of {value.dtype}"}
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
        self._by_ref[ref] = obj
        self.ids[ref] = key
        self._keep.append(obj)
        if self.originals is None:
            self.objects[ref] = {"class": _qualified(type(obj)), "error": (
                "the grader's snapshot of the kernel was cleared" if _watched and not _watch else
                "Keras was not loaded when the grader's snapshot was taken (Lab.watched_modules)")}
            return ref
        name = self._class_name(type(obj))
        self.objects[ref] = node = {"class": name}
        try:
            self._own_methods(obj, name)
            node.update(self._keras_node(obj))
        except OverflowError as exc:
            node.clear()
            node.update({"class": name, "error": str(exc)})
            raise
        except _Unreadable as exc:
            node.clear()
            node.update({"class": name, "error": str(exc)})
        except Exception as exc:
            node.clear()
            node.update({"class": name, "error": f"{type(exc).__name__} while reading it"})
        return ref

    def _own_methods(self, obj, name):
        """A built-in Keras object carrying its own methods in place of its class's (``model.call
        = ...``): Keras would run those, which no description shows."""
        if name.startswith(NOT_BUILT_IN):
            return
        kind = type(obj)
        shadowing = sorted(key for key, value in vars(obj).items()
                           if key not in KERAS_WRAPPERS and callable(value) and hasattr(kind, key))
        if shadowing:
            self.seen.append(f"the Keras object {str(obj.name)[:80]!r} carries its own {', '.join(shadowing[:5])} in "
                             "place of its class's (Keras runs the object's)")
            raise _Unreadable(f"it carries its own {shadowing[0]} in place of its class's")

    def _class_name(self, kind):
        """The name the grader knows a class by: Keras's own classes by identity with the originals;
        any other class is marked as not built-in (and reported when it is named like one)."""
        entry = self.originals["classes"].get(id(kind))
        if entry is not None and entry[0] is kind:
            return entry[1]
        claimed = _qualified(kind)
        if claimed in self.originals["names"]:
            self.seen.append(f"a class posing as {claimed} (a class of the notebook's own, named like Keras's)")
        return NOT_BUILT_IN + claimed

    def _keras_node(self, obj):
        """Read through the original classes (an instance may carry patched methods)."""
        keras = self.originals
        kind = type(obj)
        if issubclass(kind, keras["Sequential"]):
            return self._sequential(obj)
        if issubclass(kind, keras["Functional"]):
            config = kind.get_config(obj)
            return {"model": "functional", "name": str(obj.name), "graph": self._graph(obj, config)}
        if issubclass(kind, keras["Model"]):
            return {"model": "subclassed", "name": str(obj.name)}
        if issubclass(kind, keras["InputLayer"]):
            return {"layer": True, "name": str(obj.name), "input": _input_spec(obj)}
        if type(obj.name) is not str:
            raise TypeError("a layer name that is not a string")
        numpy = sys.modules["numpy"]
        weights = []
        for variable in kind.weights.__get__(obj):
            encoded = self._array(numpy, numpy.asarray(variable.numpy()))
            weights.append({"var": self._variable(variable), "trainable": bool(variable.trainable),
                            "shape": encoded["shape"], "dtype": encoded["dtype"], "data": encoded["data"]})
        config = _plain(kind.get_config(obj))
        for key in [k for k in config if k.endswith("activation") and type(config[k]) is str]:
            config[key] = self._activation(obj, key)
        return {"layer": True, "name": str(obj.name), "config": config,
                "trainable": bool(obj.trainable), "built": bool(obj.built), "weights": weights}

    def _activation(self, layer, key):
        """The name of the activation function ``layer`` calls, by identity with Keras's own."""
        function = getattr(layer, key, None)
        entry = self.originals["activations"].get(id(function))
        if entry is not None and entry[0] is function:
            return entry[1]
        claimed = getattr(function, "__name__", None)
        if type(claimed) is str and claimed in self.originals["activation_names"]:
            self.seen.append(f"an activation function named {claimed!r} that is not Keras's own "
                             f"(in the layer {str(layer.name)[:80]!r})")
        raise _Unreadable(f"its {key} is a function of the notebook's own")

    def _sequential(self, obj):
        """A Sequential as Keras runs it: once built, the chain of its graph (``_functional``),
        whatever its layer list says since."""
        keras = self.originals
        name = str(obj.name)
        declared = list(obj._layers)
        functional = vars(obj).get("_functional")
        if functional is None:  # not built: Keras calls the listed layers one after the other
            first = declared[0] if declared and issubclass(type(declared[0]), keras["InputLayer"]) else None
            return {"model": "sequential", "name": name, "input": _input_spec(first) if first is not None else None,
                    "layers": [self._keras(layer) for layer in declared if layer is not first]}
        if type(functional) is not keras["Functional"]:
            self.seen.append(f"the Sequential model {name[:80]!r} runs an object that is not a Keras graph")
            raise _Unreadable("it runs something other than the graph Keras built for it")
        input_layer, chain = self._chain(functional)
        listed = [layer for layer in declared if not issubclass(type(layer), keras["InputLayer"])]
        if [id(layer) for layer in chain] != [id(layer) for layer in listed]:
            self.seen.append(f"the layer list of the Sequential model {name[:80]!r} was changed after it was built "
                             "(Keras runs the layers it was built with)")
        return {"model": "sequential", "name": name, "input": _input_spec(input_layer),
                "layers": [self._keras(layer) for layer in chain]}

    def _chain(self, functional):
        """The input layer and the layers, in order, of a graph that calls them one after the other."""
        kind = self.originals["Functional"]
        config = _plain(kind.get_config(functional))  # tuples as lists
        own = {}
        for layer in kind.layers.fget(functional):
            own.setdefault(str(layer.name), layer)
        inputs, outputs = _histories(config["input_layers"]), _histories(config["output_layers"])
        if len(inputs) != 1 or len(outputs) != 1:
            raise _Unreadable("its graph has more than one input or output")
        consumers = {}
        for entry in config["layers"]:
            if entry["name"] == inputs[0][0]:
                continue
            nodes = entry.get("inbound_nodes") or []
            args = nodes[0].get("args") if len(nodes) == 1 and type(nodes[0]) is dict else None
            if type(args) is not list or len(args) != 1 or type(args[0]) is not dict:
                raise _Unreadable("its graph is not a chain of layers")
            history = (args[0].get("config") or {}).get("keras_history")
            if type(history) is not list or len(history) != 3:
                raise _Unreadable("its graph is not a chain of layers")
            consumers.setdefault(history[0], []).append(entry["name"])
        chain, current = [], inputs[0][0]
        while current != outputs[0][0]:
            following = consumers.get(current, [])
            if len(following) != 1 or len(chain) >= len(config["layers"]):
                raise _Unreadable("its graph is not a chain of layers")
            current = following[0]
            chain.append(own[current])
        if len(chain) != len(config["layers"]) - 1:
            raise _Unreadable("its graph is not a chain of layers")
        return own[inputs[0][0]], chain

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


def _histories(value):
    """Keras's input_layers/output_layers: one [name, node, tensor] or a list of them."""
    if type(value) is list and len(value) == 3 and type(value[0]) is str:
        return [value]
    return [item for item in value if type(item) is list and len(item) == 3] if type(value) is list else []


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


def keras_originals():
    """Keras's classes and activation functions as they are now, by identity, with the names the
    grader knows them by (``watch`` calls it before any student code ran); None without Keras."""
    if "keras" not in sys.modules:
        return None
    try:
        import keras
        from keras.src.activations import ALL_OBJECTS_DICT
        from keras.src.models.functional import Functional
    except Exception:
        return None
    classes = {}
    for module in (keras, keras.layers, keras.models):
        for value in list(vars(module).values()):
            if isinstance(value, type):
                classes[id(value)] = (value, f"{value.__module__}.{value.__qualname__}")
    classes[id(Functional)] = (Functional, f"{Functional.__module__}.{Functional.__qualname__}")
    activations = {}
    for name, function in ALL_OBJECTS_DICT.items():
        own = getattr(function, "__name__", name)
        activations[id(function)] = (function, own if ALL_OBJECTS_DICT.get(own) is function else name)
    return {"classes": classes, "names": {name for _, name in classes.values()},
            "activations": activations, "activation_names": set(ALL_OBJECTS_DICT),
            "Layer": keras.layers.Layer, "Model": keras.Model, "Sequential": keras.Sequential,
            "Functional": Functional, "InputLayer": keras.layers.InputLayer, "Variable": keras.Variable}


def _current_originals():
    """The originals ``watch`` kept; outside the grader (nothing watched), Keras as it is now."""
    return _watch.get("keras") if _watched else keras_originals()


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
    """Every class the given modules offer (defined there or re-exported), with the classes they
    derive from: for the engine's transport modules (json, IPython's display, jupyter_client's
    session), whose classes carry the hand-over."""
    return _with_bases(value for module in modules.values() for value in list(vars(module).values())
                       if isinstance(value, type))


def _relied(originals):
    """The classes whose methods the export and the cross-check read or run: Keras's own classes
    (layers, models, variables), with the classes they derive from. Not the data classes around
    them (tf.Tensor...): numpy behaviour adds methods there, and what models compute is cross-checked."""
    if originals is None:
        return []
    return _with_bases([cls for cls, _ in originals["classes"].values()] + [originals["Variable"]])


def _with_bases(classes):
    seen, found = set(), []
    for value in classes:
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


def _snapshot(transport, modules, originals):
    """What ``_restore`` puts back: the bindings of the ``transport`` and lab ``modules``, the code
    of this module's functions, and the methods of the carriers, of the transport modules' classes
    and of the Keras classes the export relies on."""
    modules = {name: sys.modules[name] for name in [*transport, *modules] if name in sys.modules}
    attributes, code = {}, {}
    for name, module in modules.items():
        attributes[name] = {k: v for k, v in vars(module).items() if _watched_value(v) or _own_submodule(name, k, v)}
    classes = _classes({name: module for name, module in modules.items() if name in transport})
    functions = [v for name in modules for v in attributes[name].values()
                 if type(v) is types.FunctionType and v.__module__ == name]
    functions += [v for label, cls in classes if cls.__module__ == __name__ for v in vars(cls).values()
                  if type(v) is types.FunctionType]
    for value in functions:
        code[id(value)] = (value, value.__code__, value.__defaults__)
    carried = "it carries the hand-over to the grader"
    carriers = [(label, obj, _methods(obj), carried) for label, obj in _carriers() + classes]
    carriers += [(label, cls, _methods(cls), "the export reads Keras objects through it")
                 for label, cls in _relied(originals)]
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
    for label, obj, methods, why in _watch["carriers"]:
        current = _methods(obj)
        for attribute in set(current) | set(methods):
            if not _same(current.get(attribute, UNDEFINED), methods.get(attribute, UNDEFINED)):
                seen.append(f"{label}.{attribute} was replaced ({why})")
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
