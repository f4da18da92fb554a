"""How the NumPy basics lab is graded, on the grader's side (the contract: labgrader/lab.py).

Each answer is a function. After each test cell the grader sends the arguments it drew for this
submission (``arguments``) and hands over only what the student's function returned for them;
this module computes the expected results itself, with the instructor's formulas below: nothing
expected comes from, or goes to, the student's kernel.
"""
import numpy as np

from labgrader.lab import Check, Lab, Verdict, failed, passed

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


def _matrix(rng):
    rows, columns = int(rng.integers(3, 7)), int(rng.integers(2, 6))
    return np.round(rng.normal(50, 15, size=(rows, columns)), 2).tolist()


def arguments(grade_id, rng):
    """Per submission: a few random arrays of random shapes (a function that returns fixed values,
    or works only for the notebook's own arrays, fails)."""
    if grade_id not in QUESTIONS:
        return None
    if QUESTIONS[grade_id][2] == 1:
        return [[_matrix(rng)] for _ in range(3)]

    def vector():
        return np.round(rng.uniform(-10, 10, size=int(rng.integers(2, 7))), 2).tolist()
    return [[vector(), vector()] for _ in range(3)]


def judge(check: Check) -> Verdict:
    name, solution, _ = QUESTIONS[check.grade_id]
    hint = HINTS[check.grade_id]
    function = check.answers.value(name)
    if function.kind == "undefined":
        return failed(f"{name} is not defined: write it in the answer cell above and run that cell.")
    if function.kind != "function":
        return failed(f"{name} is not a function: define it with def {name}(...):")
    calls = check.arguments or []
    if function.results is None or len(function.results) != len(calls):
        return failed(f"The results of {name} are not for the inputs the grader chose: run the notebook unchanged.")
    for args, result in zip(calls, function.results):
        inputs = [np.array(arg, dtype=np.float64) for arg in args]
        shapes = ", ".join(str(a.shape) for a in inputs)
        if result.kind == "raised":
            return failed(f"{name} raised {result.error[:80]} on arguments of shape {shapes}: it must work for "
                          f"any such input; {hint}")
        got, expected = result.as_array(), solution(*inputs)
        if got is None:
            return failed(f"{name} did not return an array of numbers for arguments of shape {shapes}: {hint}")
        if got.shape != expected.shape:
            return failed(f"{name} returned shape {got.shape} for arguments of shape {shapes} instead of "
                          f"{expected.shape}: {hint}")
        if not np.allclose(got, expected):
            return failed(f"{name} returned the wrong values for arguments of shape {shapes}: {hint}")
    return passed()


lab = Lab(judge=judge, arguments=arguments, watched_modules=("numpy",),
          handovers={grade_id: (name,) for grade_id, (name, _, _) in QUESTIONS.items()})
