"""``nbgrader zip_collect`` for Canvas downloads (set in the course's ``nbgrader_config.py``).

The files of a Canvas submissions download are named (the pattern below is the
course's ``FileNameCollectorPlugin.named_regexp``)::

    <name>_<canvas user id>_<timestamp>_<file>.ipynb     e.g.
    adamsada_9001_20261001T165502_ps2_rnn_forward.ipynb
    adamsada_LATE_9001_20261002T101500_ps2_rnn_forward.ipynb

nbgrader itself would file each under ``submitted/<canvas user id>/``; this
plugin maps the Canvas id to the roster's student id (the gradebook's
``lms_user_id`` column, see ``python -m grader roster``), leaves ids it cannot
map as they are (they then show up as "not on the roster"), and passes the
timestamp on, which ``zip_collect`` writes to ``timestamp.txt`` for the late
policy. A file named with the roster id itself is accepted as well.
"""

from __future__ import annotations

from nbgrader.plugins import FileNameCollectorPlugin

# nbgrader matches the pattern against the extracted file's whole path
CANVAS_PATTERN = (r"^(?:.*/)?(?P<name>[^_/]+)_(?:LATE_)?(?P<student_id>[0-9]+)_"
                  r"(?P<timestamp>[0-9]{8}T?[0-9]{6})_(?P<file_id>.+)$")


class CanvasCollector(FileNameCollectorPlugin):
    """A FileNameCollectorPlugin that maps Canvas user ids to roster ids."""

    _ids: dict[str, str] | None = None

    def _lms_ids(self) -> dict[str, str]:
        if self._ids is None:
            from nbgrader.api import Gradebook

            self._ids = {}
            parent = self.parent
            db_url = getattr(getattr(parent, "coursedir", None), "db_url", None)
            if db_url:
                with Gradebook(db_url) as gb:
                    self._ids = {str(s.lms_user_id): s.id for s in gb.students if s.lms_user_id}
        return self._ids

    def collect(self, submitted_file: str) -> dict | None:
        if not self.named_regexp:
            self.named_regexp = CANVAS_PATTERN
        found = super().collect(submitted_file)
        if found is not None:
            found["student_id"] = self._lms_ids().get(found["student_id"], found["student_id"])
        return found
