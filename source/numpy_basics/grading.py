"""How the NumPy basics lab is graded, on the grader's side (see labgrader/judging/lab.py).

The hidden test cells only observe (``observers.py`` calls the student's function on the inputs
chosen here and reports the arrays it returned); this module, run only in the grader's process,
chooses those inputs per submission and computes the expected results itself, with the
instructor's own formulas below: nothing expected comes from the student's kernel.
"""
import numpy as np

from labgrader.judging.values import array, failed, field, passed

observer_modules = ("observers",)
protected_modules = ("numpy",)
protected_names = ("scores", "x", "y")
warm_imports = ()  # numpy is warmed for every lab

# grade id -> (function name, the instructor's solution, how many array arguments)
QUESTIONS = {
    "q1_column_means": ("column_means", lambda a: a.mean(axis=0), 1),
    "q2_standardize": ("standardize", lambda a: (a - a.mean(axis=0)) / a.std(axis=0), 1),
    "q3_outer_sum": ("outer_sum", lambda x, y: x[:, None] + y[None, :], 2),
}
HINTS = {
    "q1_column_means": "use a.mean(axis=0), which averages down each column.",
    "q2_standardize": "subtract a.mean(axis=0) and divide by a.std(axis=0).",
    "q3_outer_sum": "add x[:, np.newaxis] and y[np.newaxis, :] (shapes (n, 1) and (1, m)).",
}


def reference_probes():
    """For the instructor's notebook: fixed inputs."""
    matrix = [[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]]
    return {"q1_column_means": {"calls": [[matrix]]}, "q2_standardize": {"calls": [[matrix]]},
            "q3_outer_sum": {"calls": [[[1.0, 2.0], [10.0, 20.0, 30.0]]]}}


def _matrix(rng):
    rows, columns = int(rng.integers(3, 7)), int(rng.integers(2, 6))
    return np.round(rng.normal(50, 15, size=(rows, columns)), 2).tolist()


def probes(rng, reference):
    """Per submission: a few random arrays of random shapes (a function that returns fixed
    values, or works only for the notebook's own arrays, fails)."""
    def vector():
        return np.round(rng.uniform(-10, 10, size=int(rng.integers(2, 7))), 2).tolist()
    return {"q1_column_means": {"calls": [[_matrix(rng)] for _ in range(3)]},
            "q2_standardize": {"calls": [[_matrix(rng)] for _ in range(3)]},
            "q3_outer_sum": {"calls": [[vector(), vector()] for _ in range(3)]}}


def judge(grade_id, observations, probe, reference):
    name, solution, arguments = QUESTIONS[grade_id]
    if field(observations, "name", str) != name:
        return failed(f"The observations are not about {name}: run the notebook unchanged.")
    kind = field(field(observations, "function", dict), "kind", str)
    if kind == "undefined":
        return failed(f"{name} is not defined: write it in the answer cell above and run that cell.")
    if kind != "callable":
        return failed(f"{name} is not a function: define it with def {name}(...):")
    results = field(observations, "results", list)
    calls = probe["calls"]
    if len(results) != len(calls):
        return failed(f"The observations of {name} are not for the inputs the grader chose: run the notebook unchanged.")
    for args, result in zip(calls, results):
        inputs = [np.array(arg, dtype=np.float64) for arg in args]
        shapes = ", ".join(str(a.shape) for a in inputs)
        if type(result) is dict and "error" in result:
            return failed(f"{name} raised {field(result, 'error', str)[:80]} on arguments of shape {shapes}: "
                          f"it must work for any such input; {HINTS[grade_id]}")
        got, expected = array(result), solution(*inputs)
        if got.shape != expected.shape:
            return failed(f"{name} returned shape {got.shape} for arguments of shape {shapes} instead of "
                          f"{expected.shape}: {HINTS[grade_id]}")
        if not np.allclose(got, expected):
            return failed(f"{name} returned the wrong values for arguments of shape {shapes}: {HINTS[grade_id]}")
    return passed()
