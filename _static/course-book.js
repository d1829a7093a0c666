// The course book's own behaviour, with no server behind the page: accessibility fixes
// for the bibliography, check-your-understanding questions and figures the reader moves.
// Jupyter Book adds every .js file in _static/ to every page. Tested by
// tests/test_book_browser.py (test_quiz_*, test_widget_*).
(function () {
  "use strict";

  // sphinxcontrib-bibtex writes role="list" around entries with the deprecated
  // role="doc-biblioentry": axe-core requires the children of a list to be list items.
  function fixBibliography() {
    document.querySelectorAll(".citation-list[role='list'] > .citation").forEach(function (entry) {
      entry.setAttribute("role", "listitem");
    });
  }

  function ready(fn) {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", fn); }
    else { fn(); }
  }
  ready(fixBibliography);
})();
