"""nbgrader settings for the course "rnn-course" (nbgrader 0.9.6).

nbgrader reads this file from the directory it is started in: run every
nbgrader command from ``assignments/`` (``assignments/course.sh`` does).
Paths are taken relative to this file, so a copy of the course directory
(e.g. the temporary one the pipeline tests use) grades into its own gradebook.
"""

import os
import sys
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, GetGrades

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

from course_checks.feedback import ShortenHiddenTracebacks  # noqa: E402

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

# Feedback must not show the hidden tests: drop their source, shorten the
# tracebacks of failed hidden tests to the failure message, remove mark schemes.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    ShortenHiddenTracebacks,
    ClearHiddenTests,
    ClearMarkScheme,
    CSSHTMLHeaderPreprocessor,
]
