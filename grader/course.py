"""The nbgrader course directory, read through nbgrader's own configuration and paths."""

from __future__ import annotations

import os
import re

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")


class CourseError(RuntimeError):
    """A problem with the course directory or its configuration (exit status 2)."""


class Course:
    """Paths and settings of one course directory (``nbgrader_config.py`` honoured)."""

    def __init__(self, root: str):
        root = os.path.abspath(root)
        if not os.path.isdir(root):
            raise CourseError(f"course: {root} is not a directory")
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        config = Config()
        config_file = os.path.join(root, "nbgrader_config.py")
        if os.path.exists(config_file):
            try:
                config = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
            except Exception as error:  # noqa: BLE001 - any failure of the instructor's config
                raise CourseError(f"course: {config_file} failed to load: {error}") from error
        self.coursedir = CourseDirectory(config=config)
        self.coursedir.root = root
        self.root = root
        self.config_file = config_file if os.path.exists(config_file) else None

    @property
    def db_url(self) -> str:
        return self.coursedir.db_url

    def path(self, step: str, student: str, assignment: str) -> str:
        directory = {"source": self.coursedir.source_directory,
                     "release": self.coursedir.release_directory,
                     "submitted": self.coursedir.submitted_directory,
                     "autograded": self.coursedir.autograded_directory,
                     "feedback": self.coursedir.feedback_directory}[step]
        return self.coursedir.format_path(directory, student, assignment)

    def source_notebook(self, assignment: str, notebook: str) -> str:
        return os.path.join(self.path("source", ".", assignment), f"{notebook}.ipynb")

    def submitted_students(self, assignment: str) -> list[str]:
        """Students with a ``submitted/<student>/<assignment>/`` directory (sorted)."""
        base = os.path.join(self.root, self.coursedir.submitted_directory)
        if not os.path.isdir(base):
            return []
        return sorted(s for s in os.listdir(base)
                      if SAFE_ID.match(s) and os.path.isdir(self.path("submitted", s, assignment)))

    @property
    def state_dir(self) -> str:
        """The grader's private files (results, reference checks, sandbox copies)."""
        return os.path.join(self.root, ".grader")

    def results_dir(self, assignment: str) -> str:
        return os.path.join(self.state_dir, "results", assignment)

    def result_path(self, assignment: str, student: str) -> str:
        return os.path.join(self.results_dir(assignment), f"{student}.json")

    @property
    def helpers_dir(self) -> str | None:
        """The course's test helpers (``grading/``), importable by hidden tests."""
        path = os.path.join(self.root, "grading")
        return path if os.path.isdir(path) else None

    def reports_dir(self) -> str:
        return os.path.join(self.root, "reports")
