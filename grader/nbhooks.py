"""Hooks the course's ``nbgrader_config.py`` installs into nbgrader.

``nbgrader generate_feedback`` renders the hidden tests (their source and the
tracebacks of failed ones) into every student's page, and with ``--force``
deletes the existing pages before any preprocessor runs. The course therefore
refuses it before anything happens, and points to ``python -m grader feedback``:

- :func:`refuse_generate_feedback` is called by ``nbgrader_config.py`` itself,
  which nbgrader loads before the command does anything;
- :class:`RefuseFeedback` (as ``GenerateFeedback.preprocessors``) and
  :func:`refuse_hook` (as ``GenerateFeedback.pre_convert_hook``) stop the same
  converter when it is started another way (formgrader's "generate feedback").
"""

from __future__ import annotations

import os
import sys

from nbconvert.preprocessors import Preprocessor

MESSAGE = ("nbgrader generate_feedback is disabled in this course: its pages can show the "
           "hidden tests. Use `python -m grader feedback ASSIGNMENT` (or `make feedback`) from "
           "the repository root instead.")


class FeedbackRefused(RuntimeError):
    pass


def refuse_generate_feedback(argv: list[str] | None = None) -> None:
    """Exit with the message (status 2) when the running command is ``generate_feedback``."""
    argv = sys.argv if argv is None else argv
    command = os.path.basename(argv[0]) if argv else ""
    words = [os.path.basename(a) for a in argv[1:3]]
    if "generate_feedback" in words or command.endswith("generate_feedback"):
        print(f"error: {MESSAGE}", file=sys.stderr)
        raise SystemExit(2)


def refuse_hook(**_kwargs) -> None:
    raise FeedbackRefused(MESSAGE)


class RefuseFeedback(Preprocessor):
    """A preprocessor that stops nbgrader's feedback converter."""

    def preprocess(self, nb, resources):
        raise FeedbackRefused(MESSAGE)
