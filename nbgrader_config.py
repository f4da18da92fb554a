"""nbgrader configuration for the Categorical Embeddings course (used from the repo root)."""
import os
import sys

# The grader's own package lives next to this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearOutput, DeduplicateIds, IgnorePattern, LimitOutput  # noqa: E402
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402

from labgrader.preprocessors import (  # noqa: E402
    CheckCellMetadata,  # nbgrader's, its JSON schema checked once per process instead of once per cell
    ClearHiddenTests, FlagEvidence, GuardedExecute, JudgeAnswers, KeepRecord, PrepareGrading, ReclaimWorkingCopy,
    RecordChecks, RefuseUnsafeIds, RenderMath, RestoreTestCells, ResumeGrading, SanitizeAutograded, SanitizeOutputs,
    SummarizeChecks)
from labgrader.preprocessors.feedback_base import FEEDBACK_TEMPLATE, feedback_template_dirs  # noqa: E402
# nbgrader's gradebook steps, on the submission's one gradebook session when the batch lends one
# (plain nbgrader: exactly nbgrader's own; labgrader/preprocessors/one_gradebook.py).
from labgrader.preprocessors.one_gradebook import (  # noqa: E402
    AssignLatePenalties, GetGrades, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)
from labgrader.reference_run import PreAutograde  # noqa: E402
from labgrader.student_ids import exclude_unsafe  # noqa: E402

c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "categorical-embeddings"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")

# Student folders named like globs (a*, [ab]x) would make nbgrader grade another student's
# notebook in their place: skip them, saying why (labgrader/student_ids.py).
exclude_unsafe(c, c.CourseDirectory.root)

# The lab's grading module (source/<assignment>/grading.py) is the grader's: never released,
# never copied into a student's working copy.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "grading.py"]

# Students are created on the fly when their submission is graded.
c.Autograde.create_student = True

# Before the first submission, the instructor's notebook is run as a submission is, and the lab's
# judges must give it full marks, else the command stops, before any submission is recorded, with
# what to fix (labgrader/reference_run.py).
# Student-controlled paths: a hand-in holding links, FIFOs, devices or oversized files is refused
# before nbgrader opens it; feedback copies only regular files within caps (labgrader/safety/).
def stop_the_command(reason: str) -> None:
    raise SystemExit(reason)


c.Autograde.pre_convert_hook = PreAutograde(c, stop=stop_the_command)
c.GenerateFeedback.pre_convert_hook = "labgrader.safety.hooks.reclaim_autograded"
from labgrader.safety.hooks import exclude_unsafe_handins  # noqa: E402
exclude_unsafe_handins(c, c.CourseDirectory.root)  # so nbgrader does not even copy their files

# Before execution: nbgrader's sanitizing, plus putting back deleted or renamed test cells.
c.Autograde.sanitize_preprocessors = [
    RefuseUnsafeIds,  # a student id nbgrader would expand as a glob (a*, [ab]x) is refused, with the reason
    PrepareGrading,  # the notebook's grading context and record (labgrader/context.py); hand-in code kept out
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    RestoreTestCells,
    OverwriteCells,
    CheckCellMetadata,
    KeepRecord,  # the record so far, into the notebook the grading pass reads
]

# Execution: the hidden tests hand the answers over as data; the grader rebuilds them and judges them.
c.Autograde.autograde_preprocessors = [
    ResumeGrading,
    GuardedExecute,
    ReclaimWorkingCopy,  # the kernel is gone: nothing it left is written, chmod'ed or copied through
    JudgeAnswers,
    SanitizeAutograded,  # student output inert in the autograded notebook (formgrader renders it as the instructor)
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    FlagEvidence,  # after SaveAutoGrades (which resets needs_manual_grade): evidence -> manual review
    AssignLatePenalties,
    CheckCellMetadata,
    RecordChecks,  # every graded cell's points, score, message and visibility, into the record
    KeepRecord,  # last: the notebook's record, kept in the autograded notebook (both paths)
]

# A cell of this lab needs well under a second; 30 s leaves room for a slow machine.
# (GuardedExecute and nbgrader validate's Execute both read it.)
c.Execute.timeout = 30
c.LimitOutput.max_lines = 200
# `nbgrader validate` cuts lines at 90 characters by default: show students whole messages.
c.Validator.width = 250

# Feedback: no hidden test code (jupyter/nbgrader#917), and a verdict line per check.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    ClearHiddenTests,
    SanitizeOutputs,  # students' outputs and cells shown as text, never run (before the grader's verdicts)
    RenderMath,  # the instructor's $...$ as MathML: math shows offline, without scripts
    SummarizeChecks,
    CSSHTMLHeaderPreprocessor,
]

# The feedback page: nbgrader's, with each check named in its table of contents and no MathJax
# from a CDN (the math is MathML already). Set for the feedback's exporter only (traitlets'
# parent-scoped config): the formgrader renders submissions with the same HTMLExporter class and
# its own template, and its API forces HTMLExporter.template_name = 'feedback' (the scoped value wins).
c.GenerateFeedback.HTMLExporter.template_name, c.GenerateFeedback.HTMLExporter.template_file = FEEDBACK_TEMPLATE
c.GenerateFeedback.HTMLExporter.extra_template_basedirs = feedback_template_dirs()

# `nbgrader export`: the same CSV, with cells a spreadsheet will not run as formulas.
c.ExportApp.plugin_class = "labgrader.reports.export.SafeCsvExportPlugin"

# ---- Exchange, late hand-ins, LMS downloads (labgrader/exchange/; docs/hub.md) ----
# Who submitted = the owner of the inbound entry; when = its latest ctime; never the name or timestamp.txt.
c.ExchangeFactory.collect = "labgrader.exchange.collect.TrustedCollect"
# Released feedback readable by its student only (POSIX ACL), not by whoever learns its name.
c.ExchangeFactory.release_feedback = "labgrader.exchange.release_feedback.PrivateReleaseFeedback"
c.ExchangeFactory.submit = "labgrader.exchange.submit.PrivateSubmit"
c.Exchange.timezone = "UTC"
c.NbGraderAPI.timezone = "UTC"
# A hand-in later than the due date (plus the student's extension) scores 0; re-grading after the
# due date moved clears it (AssignLatePenalties resets the penalty first).
c.LateSubmissionPlugin.penalty_method = "zero"
# LMS archives are extracted within caps (zip bombs, zip-slip, links refused).
c.ZipCollectApp.extractor_plugin = "labgrader.exchange.zipcollect.SafeExtractor"
# nbgrader misreads numeric offsets (+0200) and abbreviations (CEST) in --duedate: refuse them.
from labgrader.exchange.times import ambiguous_duedate  # noqa: E402
if ambiguous_duedate():
    raise SystemExit(f"[labgrader] refused: {ambiguous_duedate()}")
