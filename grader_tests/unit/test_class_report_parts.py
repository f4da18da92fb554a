"""The class report's pure parts: whole students on the histogram, each student's state."""
from labgrader.record import KERNEL_DIED, TIMED_OUT, Flag
from labgrader.reports.class_report import ClassData, flag_rows, histogram


def small_class():
    data = ClassData("lab", ["q1", "q2"], {"q1": 1.0, "q2": 1.0},
                     {"ok": {"q1": 1.0, "q2": 1.0}, "cheat": {"q1": 1.0, "q2": 0.0}, "slow": {"q1": 1.0, "q2": 0.0},
                      "broken": {"q1": 0.0, "q2": 0.0}})
    data.errors["broken"] = "not a valid notebook"
    data.flags["cheat"] = [Flag("q1", "json.dumps was rebound", "q1_answer, line 3: json.dumps = f"),
                           Flag("q2", "json.dumps was rebound", "q1_answer, line 3: json.dumps = f"),
                           Flag("q2", "a trace function was running")]
    data.fault_kinds.update({"slow": [TIMED_OUT], "cheat": [KERNEL_DIED]})
    data.faults.update({"slow": "timed out in cell q2_answer", "cheat": "the kernel died in an earlier cell"})
    return data


def test_the_histogram_counts_whole_students():
    ticks = histogram(small_class()).axes[0].get_yticks()  # 4 students: matplotlib's own ticks are 0.5 apart
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)


def test_each_students_state():
    data = small_class()
    assert [data.states(s) for s in ("ok", "cheat", "slow", "broken")] == \
        [["graded"], ["flagged", "kernel died"], ["timed out"], ["not gradable"]]
    assert data.reason("broken") == "not a valid notebook"


def test_a_flagged_students_findings_are_grouped_in_one_row():
    [row] = flag_rows(small_class())
    assert row["student"] == "cheat" and row["count"] == 3
    assert [(g["seen"], g["where"]) for g in row["groups"]] == [("json.dumps was rebound", ["q1", "q2"]),
                                                              ("a trace function was running", ["q2"])]
