"""The hidden tests' toolkit. It runs *inside the student's kernel*, after student code.

Student code shares this interpreter, so nothing here trusts what it finds at check time:

* primitives (``type``, ``isinstance``, numpy's ``allclose``...) are captured when this module
  is imported, which the grader does before any student cell runs (see ``arm``);
* the objects the lab built (``model``, ``model2``, their embedding layer) are captured just
  before the first answer cell (see ``capture``), so rebinding those names later changes nothing;
* a graded cell passes only if it emits a *passing verdict*, signed with a key the grader sent
  at arming time. Swallowing exceptions (``set_custom_exc``, ``showtraceback``) just means no
  verdict, i.e. no points; a printed fake verdict has no valid signature.

Without ``arm`` (the instructor running the source notebook in Jupyter) the same checks run
against the notebook's globals and verdicts are unsigned.
"""
import builtins
import contextlib
import hashlib
import hmac
import json
import logging
import sys
import warnings

import numpy as _np

VERDICT_MIME = "application/vnd.labgrader.verdict+json"

# Pristine primitives, captured before student code could patch builtins or numpy.
_type, _isinstance, _issubclass, _id = builtins.type, builtins.isinstance, builtins.issubclass, builtins.id
_bool, _int, _float, _str, _repr = builtins.bool, builtins.int, builtins.float, builtins.str, builtins.repr
_getattr, _any, _tuple, _list, _sum = builtins.getattr, builtins.any, builtins.tuple, builtins.list, builtins.sum
_allclose, _asarray, _arange, _ndarray, _prod = _np.allclose, _np.asarray, _np.arange, _np.ndarray, _np.prod
_np_integer, _np_floating = _np.integer, _np.floating
_hmac_new, _sha256, _dumps = hmac.new, hashlib.sha256, json.dumps

_state = {"key": None, "refs": None, "hooks": None}


class CheckFailed(AssertionError):
    """A check did not hold; its message says what is wrong and what to do."""


# ---------------------------------------------------------------- arming (grader side calls)

def arm(key):
    """Called by the grader, silently, before the first cell a student could have written: keep
    the key and a fingerprint of IPython's exception and input machinery."""
    _state["key"] = key.encode()
    _state["hooks"] = _hook_fingerprint()


def capture(namespace):
    """Called by the grader, silently, before the first answer cell: keep the objects the locked
    cells built, so that rebinding ``model``, ``model2`` or ``embedding_layer`` later changes nothing."""
    _state["refs"] = _capture_refs(namespace)


def _capture_refs(ns):
    refs = {name: ns.get(name) for name in ("model", "model2", "vocab_size", "embedding_size")}
    refs["embedding_layer"] = _embedding_layer_of(refs["model"], refs["model2"])
    return refs


def _embedding_layer_of(model, model2):
    """The embedding layer *object* that model and model2 both use (not the global name)."""
    from keras.layers import Embedding

    def embeddings(m):
        return [l for l in _getattr(m, "layers", []) if _isinstance(l, Embedding)]

    shared = [l for l in embeddings(model2) if _any(l is k for k in embeddings(model))]
    return shared[0] if shared else None


def _shell():
    from IPython import get_ipython  # None outside IPython
    return get_ipython()


def _hook_fingerprint():
    shell = _shell()
    # In IPython a cell's error reaches the grader through these, not through sys.excepthook.
    fp = {}
    if shell is not None:
        fp["custom_exceptions"] = _repr(shell.custom_exceptions)
        for name in ("showtraceback", "_showtraceback", "showsyntaxerror", "run_cell", "run_cell_async",
                     "run_ast_nodes", "run_code", "transform_cell"):
            # patched on the instance, or on the class
            fp[name] = (name in shell.__dict__, _id(_getattr(_type(shell), name, None)))
        fp["input_transformers_cleanup"] = _tuple(_id(t) for t in shell.input_transformers_cleanup)
        fp["input_transformers_post"] = _tuple(_id(t) for t in shell.input_transformers_post)
        fp["ast_transformers"] = _tuple(_id(t) for t in shell.ast_transformers)
    return fp


def _tampering():
    """Names of exception/input machinery changed since arming (empty when not armed)."""
    before = _state["hooks"]
    if before is None:
        return []
    after = _hook_fingerprint()
    return [name for name in before if before[name] != after.get(name)]


# ---------------------------------------------------------------- what the hidden tests use

def _user_namespace():
    shell = _shell()
    return shell.user_ns if shell is not None else sys.modules["__main__"].__dict__


def refs():
    """The lab's own objects: captured at arming, else read from the notebook's globals."""
    if _state["refs"] is not None:
        return _state["refs"]
    return _capture_refs(_user_namespace())


def answer(name, how):
    """The student's value for ``name`` (from the notebook's globals), or a clear failure that
    ends with ``how`` (what to do)."""
    ns = _user_namespace()
    if name not in ns:
        fail(f"{name} is not defined: {how}")
    if ns[name] is None:
        fail(f"{name} is still None: {how}")
    return ns[name]


def new_model(name="model3"):
    """The student's model, which must be a model of its own (not ``model`` or ``model2``)."""
    candidate = answer(name, "build it with Sequential([...]) in the answer cell and run that cell.")
    lab = refs()
    for existing in ("model", "model2"):
        if candidate is lab[existing]:
            fail(f"{name} is {existing} itself: build a new model with Sequential([...]) that reuses embedding_layer.")
    return candidate


def fail(message):
    raise CheckFailed(message)


def that(condition, message):
    """Pass only on a genuine ``True`` (objects with a fake ``__eq__``/``__bool__`` do not count)."""
    if condition is not True:
        fail(message)


def whole_number(value):
    """``value`` as an int if it is an integer-valued number of a genuine numeric type, else None."""
    t = _type(value)
    if t is _int:
        return _int.__int__(value)
    if t is _float and _float.is_integer(value):
        return _int(_float.__float__(value))
    if t.__module__ == "numpy" and _issubclass(t, _np_integer):
        return _int(value.item())
    if t.__module__ == "numpy" and _issubclass(t, _np_floating) and _float(value.item()).is_integer():
        return _int(value.item())
    return None


def trainable_parameter_count(model):
    """Computed from the model's trainable variables, never typed in."""
    return _int(_sum(_int(_prod(_tuple(w.shape))) for w in model.trainable_weights))


def is_sequential(obj):
    from keras import Sequential
    return _issubclass(_type(obj), Sequential)


def contains_layer(model, layer):
    """True when ``layer`` (by identity) is one of model's layers, at any depth."""
    stack = _list(_getattr(model, "layers", []))
    while stack:
        current = stack.pop()
        if current is layer:
            return True
        stack.extend(_getattr(current, "layers", []) or [])
    return False


def column_of_ids(n):
    """A batch of every id 0..n-1, shaped (n, 1) like ``labels_to_encode`` in the lab."""
    return _arange(n).reshape(n, 1)


def outputs(model, ids, name="model3"):
    """``model(ids)`` as a float ndarray, called eagerly (Keras 3's cached ``predict`` can fail
    when a model was earlier called with inputs of another rank)."""
    from keras import ops
    try:
        result = _asarray(ops.convert_to_numpy(model(ids, training=False)))
    except Exception as exc:  # the student's model may raise anything
        fail(f"{name} raised {_type(exc).__name__} on a batch of ids shaped {_tuple(ids.shape)}: "
             f"it must accept the same input as model2, a column of integer ids.")
    if _type(result) is not _ndarray or result.dtype.kind != "f":
        fail(f"{name} did not return an array of embedding vectors.")
    return result


def follows_shared_weights(candidate, owner, ids):
    """Change the embedding weights through ``owner`` (another model using the shared layer) and
    see whether ``candidate``'s outputs follow; the weights are restored afterwards."""
    saved = owner.get_weights()
    probe = _arange(saved[0].size, dtype="float32").reshape(saved[0].shape) + 1000.0
    try:
        owner.set_weights([probe] + saved[1:])
        seen = outputs(candidate, ids)
    finally:
        owner.set_weights(saved)
    expected = probe[ids[:, 0]]
    return seen.size == expected.size and same_values(seen.reshape(expected.shape), expected)


def same_values(a, b):
    return _type(a) is _ndarray and _type(b) is _ndarray and a.shape == b.shape and _bool(_allclose(a, b))


# ---------------------------------------------------------------- verdicts

@contextlib.contextmanager
def graded_cell(grade_id):
    """Run a test cell's hidden checks quietly and emit its verdict.

    The verdict passes only if the block ran to its end *and* IPython's exception machinery is
    as the grader left it. A failure also raises, so nbgrader records an error either way.
    """
    failure = None
    try:
        with _quiet():
            yield
    except CheckFailed as exc:
        failure = _str(exc)
    except Exception as exc:
        failure = f"Checking your answer raised {_type(exc).__name__}: {exc}"
    if failure is None:
        changed = _tampering()
        if changed:
            failure = ("The grading environment was modified by code in the notebook "
                       f"({', '.join(changed)}): remove code that changes how IPython runs cells or shows errors.")
    _emit(grade_id, failure)
    if failure is not None:
        raise CheckFailed(failure)


@contextlib.contextmanager
def _quiet():
    """No stderr from TensorFlow/Keras while checking: nbgrader scores a cell 0 for any stderr."""
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        tf_logger.setLevel(level)


def _sign(payload):
    key = _state["key"]
    if key is None:
        return None
    return _hmac_new(key, _dumps(payload, sort_keys=True).encode(), _sha256).hexdigest()


def _emit(grade_id, failure):
    from IPython.display import display
    payload = {"grade_id": grade_id, "passed": failure is None, "message": failure or ""}
    record = dict(payload, signature=_sign(payload))
    text = "All hidden checks passed." if failure is None else failure
    display({VERDICT_MIME: record, "text/plain": text}, raw=True)


def verify(record, key):
    """Grader side: is this verdict record genuine for ``key``?"""
    if not _isinstance(record, dict) or "signature" not in record:
        return False
    payload = {k: record.get(k) for k in ("grade_id", "passed", "message")}
    expected = _hmac_new(key.encode(), _dumps(payload, sort_keys=True).encode(), _sha256).hexdigest()
    return _isinstance(record["signature"], str) and hmac.compare_digest(expected, record["signature"])
