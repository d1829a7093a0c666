"""Trustworthy autograding for the course's nbgrader assignments.

``python -m grader autograde ASSIGNMENT`` grades every submission with
nbgrader's data model (``gradebook.db``) but its own executor: each notebook
runs in a bubblewrap sandbox kernel, hidden checks are judged outside the
kernel from plain serialised data, a crash costs only the cells it prevented,
and submissions are graded in parallel worker processes. See ``grader/README.md``
for the commands, the check API used by hidden tests and the exit codes.

Modules (the kernel side imports only :mod:`grader.checks`, :mod:`grader.payload`
and :mod:`grader.kernel`; everything else runs in the trusted grading process):

- :mod:`grader.checks`: ``record(...)``, the API hidden and visible test cells call.
- :mod:`grader.payload`: strict serialisation of plain data (no pickle).
- :mod:`grader.sandbox`: the bubblewrap command line, limits and process clean-up.
- :mod:`grader.kernel`: the launcher that runs inside the sandbox.
- :mod:`grader.executor`: runs a notebook cell by cell, recovers from crashes.
- :mod:`grader.notebook`: rebuilds the notebook to grade from the gradebook.
- :mod:`grader.verdicts`: trusted judgement of recorded checks, cell scores.
- :mod:`grader.autograde`: submissions, workers, resume, gradebook commits.
- :mod:`grader.feedback`, :mod:`grader.report`: student feedback, instructor report.
"""

import sys as _sys

__version__ = "1.0.0"

# jsonschema (under nbformat) compiles an IRI grammar at import when the optional
# rfc3987_syntax package is installed: a second or more per grading process,
# although nbformat's schema never uses that format. Marked absent, it is skipped.
# (grader.kernel undoes this in the student's kernel.)
if "jsonschema" not in _sys.modules:
    _sys.modules.setdefault("rfc3987_syntax", None)
