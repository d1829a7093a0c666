"""A feedback preprocessor: failed hidden tests report their message, not their code.

nbgrader's ``ClearHiddenTests`` removes the hidden source from the feedback, but
the traceback of a failed hidden test still quotes the hidden lines. This
preprocessor, placed before ``ClearHiddenTests``, replaces such a traceback by
the exception's name and message (a :class:`~course_checks.common.GradingFailure`
message says what is wrong without giving the answer away).
"""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode


class ShortenHiddenTracebacks(NbGraderPreprocessor):
    """Reduce error outputs of cells with hidden tests to ``ename: evalue``."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or self.begin_test_delimeter not in cell.source:
            return cell, resources
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
