"""nbgrader settings for the course "rnn-course" (nbgrader 0.9.6).

nbgrader reads this file from the directory it is started in: run every
nbgrader command from ``assignments/`` (``assignments/course.sh`` does).
Paths are taken relative to this file, so a copy of the course directory
(e.g. the temporary one the pipeline tests use) grades into its own gradebook.
"""

import os
import sys
from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parent
# The trusted helpers the hidden tests import (``course_checks``). The grading
# kernels inherit PYTHONPATH from nbgrader; this process imports the feedback
# preprocessor from there too.
GRADING_DIR = COURSE_ROOT / "grading"
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(GRADING_DIR), os.environ.get("PYTHONPATH", "")) if p
)
if str(GRADING_DIR) not in sys.path:
    sys.path.insert(0, str(GRADING_DIR))
# Long runs print tqdm progress bars to stderr; nobody watches them while grading.
os.environ.setdefault("TQDM_DISABLE", "1")


c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

c.CourseDirectory.course_id = "rnn-course"
c.CourseDirectory.root = str(COURSE_ROOT)
c.CourseDirectory.db_url = f"sqlite:///{COURSE_ROOT / 'gradebook.db'}"
c.CourseDirectory.assignment_id = ""

# Student code runs with the notebook's directory as working directory; every
# cell gets two minutes (the training cells of ps3 and ps5 take well under 30 s
# on one core), and the kernel may take a while to start on a busy machine.
c.Execute.timeout = 120
c.Execute.startup_timeout = 120

# A test cell with any stderr output scores zero. Warnings (numpy overflow in a
# saturated sigmoid, torch deprecations) and progress bars are not failures, so
# their stderr output is dropped before grading. Errors are separate outputs of
# type "error" and are never dropped.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(Warning|warnings\.warn|\d+%\|)"

# A missing test cell would otherwise need a manual grade.
c.OverwriteCells.add_missing_cells = True

# nbgrader's feedback would show the hidden tests (and `--force` deletes existing pages
# before anything runs): it is refused here, pointing to `python -m grader feedback`.
from grader.nbhooks import RefuseFeedback, refuse_generate_feedback, refuse_hook  # noqa: E402

refuse_generate_feedback()
c.GenerateFeedback.preprocessors = [RefuseFeedback]
c.GenerateFeedback.pre_convert_hook = refuse_hook

# --- The term (see book/instructor_guide.md, "Running a term") ---
# Due dates: `nbgrader db assignment add PS --duedate="2026-10-01 17:00:00 Europe/Paris"`.
# Extensions: `python -m grader extend STUDENT PS --until DATE` (assignments/extensions.json).
# Late policy, honoured by `python -m grader autograde` as by `nbgrader autograde`:
# nbgrader's own ("none" or "zero") ...
c.LateSubmissionPlugin.penalty_method = "none"
# ... or the course's per-hour deduction with a cap (uncomment):
# c.AssignLatePenalties.plugin_class = "grader.late.PerHourPenalty"
# c.PerHourPenalty.points_per_hour = 0.5
# c.PerHourPenalty.max_penalty = 4.0

# Canvas's "Download Submissions" zip: `nbgrader zip_collect PS` files each notebook,
# named <name>_<canvas user id>_<YYYYMMDDTHHMMSS>_<file>.ipynb (or <name>_LATE_<id>_...),
# under submitted/<roster id>/PS/ (the Canvas id mapped through the roster's lms_user_id)
# and writes the timestamp to timestamp.txt, from which lateness is measured.
from grader.collect import CANVAS_PATTERN  # noqa: E402

c.ZipCollectApp.collector_plugin = "grader.collect.CanvasCollector"
c.FileNameCollectorPlugin.named_regexp = CANVAS_PATTERN

# The exchange of a shared JupyterHub / server (release_assignment, fetch_assignment,
# submit, collect), kept under the course directory; make it group- or world-writable
# (`chmod 1777 assignments/exchange`) so that students can submit.
c.Exchange.root = str(COURSE_ROOT / "exchange")
