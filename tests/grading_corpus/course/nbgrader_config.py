"""nbgrader settings of the grader's fixture course (a copy is made for every test)."""

from pathlib import Path

c = get_config()  # noqa: F821 - provided by traitlets

COURSE_ROOT = Path(__file__).resolve().parent
c.CourseDirectory.course_id = "grader-fixture"
c.CourseDirectory.root = str(COURSE_ROOT)
c.CourseDirectory.db_url = f"sqlite:///{COURSE_ROOT / 'gradebook.db'}"
c.Execute.timeout = 20
