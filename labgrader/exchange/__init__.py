"""nbgrader's exchange, hardened where the instructor reads what students wrote (plugged in
through ``c.ExchangeFactory``), and LMS downloads for ``nbgrader zip_collect``.

- ``entries``: one inbound entry read without trusting it (owner = student, ctime = time).
- ``collect.TrustedCollect``: ``nbgrader collect`` built on it; ``report``: what was refused, why.
- ``submit.PrivateSubmit``, ``release_feedback.PrivateReleaseFeedback``: private entries and feedback.
- ``layout``: the exchange's folders, owners and modes (``python -m labgrader.exchange setup``).
- ``times``: UTC timestamps, and due dates nbgrader would misread refused.
- ``zipcollect``: Canvas, Moodle and Blackboard downloads, archives extracted within caps.
"""
from .report import refusals  # noqa: F401  (what the batch summary and reports list)
