"""Feedback seconds after Submit: ``python -m labgrader serve``, a grading service for a course on
JupyterHub (nbgrader #988).

It watches the course's inbound, collects each new entry with the hardened collector
(labgrader/exchange/entries.py: owner = student, ctime = time), grades it on the batch's warm pool
(or a Dask cluster), writes the gradebook, generates the student's feedback with nbgrader, and
releases a page to that student alone (POSIX ACL) as the course's policy allows
(``c.GradingService``: labgrader/service/policy.py). The student fetches it with nbgrader's own
*Fetch Feedback* (the Assignments tab) or ``nbgrader fetch_feedback``: one page per submission.

Threat model: everything in inbound is the students' (see labgrader/exchange/entries.py); a
student may submit as often as they like (the per-hour cap bounds what they learn about the hidden
tests before the due date), copy another student's feedback secret into their entry (the first
owner keeps a page name), or hand in code that crashes or hangs a grading (sandboxed kernels, time
limits, a crashed grading retried once alone, then flagged; the queue goes on). The service runs
as the instructor and trusts the course, the gradebook and the exchange's layout.

Modules: ``server`` (the loop), ``policy`` (what is shown when; the cap; queue order), ``journal``
(what was done: restarts lose nothing and grade nothing twice), ``worker`` (one grading, in a
worker), ``shadow`` (resubmissions the gradebook does not keep), ``pages`` (the student's page),
``pool`` (local pool or Dask), ``watch`` (inotify and rescans), ``status`` (``--status``).
"""
from .policy import GradingService  # noqa: F401  (configured as c.GradingService in nbgrader_config.py)
