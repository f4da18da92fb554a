"""The in-kernel half of the hidden tests: report observations, never judge them.

Runs in the student's kernel, so nothing here decides a grade or holds a secret. The grader
sends each graded test cell its probe (which inputs to try, a nonce) silently, right before
that cell runs; the cell's hidden code observes the student's objects and calls ``report``; the
grader validates the report and judges it in its own process (``labgrader.judging``).
Outside the grader (the instructor running the source notebook) there is no probe and
``report`` just shows what would be sent.
"""
import json
import math
import numbers

MIME = "application/vnd.labgrader.observation+json"
UNDEFINED = object()

_probes = {}


def receive(grade_id, probe):
    """Called by the grader, silently, just before the test cell ``grade_id`` runs."""
    _probes[grade_id] = probe


def probe(grade_id, default=None):
    return _probes.get(grade_id, default)


def report(grade_id, observations):
    """Send ``observations`` (plain JSON) for ``grade_id`` to the grader."""
    from IPython.display import display
    record = {"grade_id": grade_id, "nonce": _probes.get(grade_id, {}).get("nonce", "not-graded"),
              "observations": observations}
    json.dumps(record, allow_nan=False)  # fail here, in the kernel, rather than send something invalid
    display({MIME: record, "text/plain": f"Observations for {grade_id} recorded for grading."}, raw=True)


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
