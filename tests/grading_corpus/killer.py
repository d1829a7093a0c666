"""A stand-in for grading one submission, for the worker-death test: "killer" kills its worker."""

from __future__ import annotations

import os
import time


def graded(student: str) -> dict:
    return {"student": student, "assignment": "ps", "notebooks": [], "score": 1.0,
            "max_score": 1.0, "attention": False, "problems": []}


def grade(task: dict) -> dict:
    if task["student"] == "killer":
        time.sleep(0.2)  # let the neighbours start, so that they share the broken pool
        os._exit(9)
    time.sleep(0.5)
    return graded(task["student"])
