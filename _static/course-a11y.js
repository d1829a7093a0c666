// Accessibility fixes for the theme's markup, checked by the axe-core audit in
// tests/test_book_browser.py. Jupyter Book adds every .js file in _static/ to every page.
(function () {
  "use strict";

  // Icon buttons: an accessible name that contains the text the button shows
  // (WCAG 2.5.3 "label in name").
  function nameButtons() {
    document.querySelectorAll(".search-button-field[aria-label]").forEach(function (button) {
      button.querySelectorAll("i").forEach(function (icon) { icon.setAttribute("aria-hidden", "true"); });
      var shown = button.textContent.replace(/\s+/g, " ").trim();  // "Search Ctrl+K"
      button.setAttribute("aria-label", shown);
    });
    // myst-nb's "Show code cell source" toggles are named "Toggle hidden content":
    // let their visible text name them.
    document.querySelectorAll("details > summary[aria-label]").forEach(function (summary) {
      if (summary.textContent.trim()) { summary.removeAttribute("aria-label"); }
    });
    // The colour-mode button is named "Color mode"; the titles of its icons ("Light",
    // "Dark", "System Settings") would be text outside that name. Font Awesome turns
    // the <i> icons into <svg> (with a <title>) whenever its script gets to them, so
    // the fix is applied again after every such change.
    document.querySelectorAll(".theme-switch-button").forEach(function (button) {
      var quiet = function () {
        button.querySelectorAll(".theme-switch").forEach(function (icon) {
          if (icon.hasAttribute("title")) { icon.removeAttribute("title"); }
          if (icon.getAttribute("aria-hidden") !== "true") { icon.setAttribute("aria-hidden", "true"); }
          icon.querySelectorAll("title").forEach(function (title) { title.remove(); });
        });
      };
      quiet();
      if (window.MutationObserver) {
        new MutationObserver(quiet).observe(button, {childList: true, subtree: true});
      }
    });
  }

  // Code and outputs that scroll sideways must be reachable with the keyboard
  // (WCAG 2.1.1): such blocks get tabindex=0, re-checked whenever their size changes
  // (e.g. when a solution is opened).
  function keyboardScrollable() {
    var update = function (pre) {
      if (pre.scrollWidth > pre.clientWidth + 1 || pre.scrollHeight > pre.clientHeight + 1) {
        // Missing, or -1 (set by the theme while a solution was hidden).
        if (!pre.hasAttribute("tabindex") || pre.tabIndex < 0) {
          pre.setAttribute("tabindex", "0");
          pre.setAttribute("data-a11y-scroll", "");
        }
      } else if (pre.hasAttribute("data-a11y-scroll")) {
        pre.removeAttribute("tabindex");
        pre.removeAttribute("data-a11y-scroll");
      }
    };
    var blocks = document.querySelectorAll(".bd-content pre");
    if (window.ResizeObserver) {
      var observer = new ResizeObserver(function (entries) {
        entries.forEach(function (entry) { update(entry.target); });
      });
      blocks.forEach(function (pre) { observer.observe(pre); });
    }
    blocks.forEach(update);
  }

  function run() {
    nameButtons();
    keyboardScrollable();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", run);
  } else {
    run();
  }
})();
