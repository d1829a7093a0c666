"""A late-submission policy for nbgrader: a deduction per started hour, with a cap.

nbgrader knows only ``none`` and ``zero`` (``LateSubmissionPlugin.penalty_method``);
other policies are plugin classes named in ``nbgrader_config.py``, as nbgrader's
documentation shows. This one works with ``nbgrader autograde`` and with
``python -m grader autograde`` alike::

    c.AssignLatePenalties.plugin_class = "grader.late.PerHourPenalty"
    c.PerHourPenalty.points_per_hour = 0.5   # per started hour after the due date
    c.PerHourPenalty.max_penalty = 4.0       # never more than this per notebook
    c.PerHourPenalty.grace_minutes = 5       # up to 5 minutes late: no penalty

(A penalty is never more than the notebook's score: nbgrader caps it too.)
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float


class PerHourPenalty(LateSubmissionPlugin):
    """``points_per_hour`` for every started hour late, at most ``max_penalty``."""

    points_per_hour = Float(1.0, help="points deducted per started hour late").tag(config=True)
    max_penalty = Float(5.0, help="the largest deduction, per notebook").tag(config=True)
    grace_minutes = Float(0.0, help="lateness forgiven entirely").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float,
                                total_seconds_late: float) -> float | None:
        if total_seconds_late <= self.grace_minutes * 60:
            return None
        hours = math.ceil(total_seconds_late / 3600.0)
        return min(self.max_penalty, hours * self.points_per_hour, score)
