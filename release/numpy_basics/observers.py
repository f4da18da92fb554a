"""What the NumPy basics lab's hidden tests observe in the student's kernel.

Nothing here decides a grade: it calls the student's function on the inputs the grader chose
for this submission (the probe) and reports what came back, as plain JSON; the grader judges it
(``grading.py``, which students never get).
"""
import numpy as np

from labgrader.kernels import observe

# Without a grader (the instructor running the notebook): inputs to show what would be reported.
EXAMPLE_CALLS = [[[[1.0, 2.0], [3.0, 5.0]]]]


def report_calls(grade_id, namespace, name):
    """Call ``namespace[name]`` on each argument list of the probe's ``calls`` (fresh arrays for
    every call) and report, per call, the array it returned or the error it raised."""
    calls = (observe.probe(grade_id) or {}).get("calls") or EXAMPLE_CALLS
    function = namespace.get(name, observe.UNDEFINED)
    facts = {"name": name, "function": observe.describe(function) if function is observe.UNDEFINED or function is None
             else {"kind": "callable" if callable(function) else "other", "type": type(function).__name__,
                   "module": type(function).__module__}}
    if facts["function"]["kind"] == "callable":
        facts["results"] = [_call(function, args) for args in calls]
    observe.report(grade_id, facts)


def _call(function, args):
    try:
        result = function(*[np.array(arg, dtype=np.float64) for arg in args])
    except Exception as exc:  # the student's function may raise anything
        return {"error": type(exc).__name__}
    return observe.array(result)
