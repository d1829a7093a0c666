// The course book's own behaviour, with no server behind the page: accessibility fixes
// for the bibliography, check-your-understanding questions that answer in the page, and
// figures the reader moves (frames precomputed by rnn_lib.widgets at build time, drawn
// here as SVG). Jupyter Book adds every .js file in _static/ to every page.
// Tested by tests/test_book_browser.py (test_quiz_*, test_slider_*).
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  // Okabe-Ito colours with dash patterns, as rnn_lib.plotting: never colour alone.
  var COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
  var DASHES = ["", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4"];

  // sphinxcontrib-bibtex writes role="list" around entries with the deprecated
  // role="doc-biblioentry": axe-core requires the children of a list to be list items.
  function fixBibliography() {
    document.querySelectorAll(".citation-list[role='list'] > .citation").forEach(function (entry) {
      entry.setAttribute("role", "listitem");
    });
  }

  // Sphinx 7.4's search page fails ("appendChild ... not of type 'Node'") when a result
  // points at an index entry ({index} targets are empty spans): makeSearchSummary returns
  // null there. An empty summary keeps the other results coming.
  function fixSearchSummary() {
    // searchtools.js declares `const Search`: a global binding, not a window property.
    if (typeof Search === "undefined" || !Search.makeSearchSummary || Search._courseFixed) { return; }
    var original = Search.makeSearchSummary;
    Search.makeSearchSummary = function () {
      return original.apply(this, arguments) || document.createElement("p");
    };
    Search._courseFixed = true;
  }

  function el(tag, attrs, parent, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function html(tag, className, parent, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function formatTick(value, log) {
    if (log) {
      var exponent = Math.round(Math.log10(value));
      return exponent === 0 ? "1" : "1e" + exponent;
    }
    return Math.abs(value) >= 1000 || (value !== 0 && Math.abs(value) < 0.01)
      ? value.toExponential(0) : String(Math.round(value * 100) / 100);
  }

  function niceTicks(lo, hi, count) {
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count)));
    [1, 2, 5, 10].some(function (m) { if ((hi - lo) / (step * m) <= count) { step *= m; return true; } return false; });
    var ticks = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) { ticks.push(Math.round(v / step) * step); }
    return ticks;
  }

  // One frame of a slider figure as SVG (viewBox 640 x 300, scaled to the column).
  function draw(spec, index, svg) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var W = 640, H = 300, left = 70, right = 14, top = 14, bottom = 50;
    var frame = spec.frames[index], log = spec.ylog;
    var ys = spec.kind === "lines"
      ? [].concat.apply([], frame.series.map(function (s) { return s.y; })) : frame.y.concat([0]);
    var lo = spec.ylim ? spec.ylim[0] : Math.min.apply(null, ys);
    var hi = spec.ylim ? spec.ylim[1] : Math.max.apply(null, ys);
    if (log) { lo = Math.log10(Math.max(lo, 1e-300)); hi = Math.log10(Math.max(hi, 1e-300)); }
    if (hi <= lo) { hi = lo + 1; }
    var n = spec.kind === "lines" ? spec.x.length : spec.categories.length;
    var xlo = spec.kind === "lines" ? spec.x[0] : -0.5;
    var xhi = spec.kind === "lines" ? spec.x[n - 1] : n - 0.5;
    var px = function (x) { return left + (x - xlo) / (xhi - xlo) * (W - left - right); };
    var py = function (y) {
      var v = log ? Math.log10(Math.max(y, 1e-300)) : y;
      v = Math.min(Math.max(v, lo), hi);
      return top + (hi - v) / (hi - lo) * (H - top - bottom);
    };
    el("rect", {x: 0, y: 0, width: W, height: H, fill: "#ffffff"}, svg);
    var axes = el("g", {"font-size": 13, fill: "#222222", "font-family": "sans-serif"}, svg);
    var yticks = log ? niceTicks(Math.ceil(lo), Math.floor(hi), 6).filter(function (t) { return t === Math.round(t); })
                         .map(function (t) { return Math.pow(10, t); })
                     : niceTicks(lo, hi, 5);
    yticks.forEach(function (t) {
      el("line", {x1: left, x2: W - right, y1: py(t), y2: py(t), stroke: "#dddddd"}, axes);
      el("text", {x: left - 6, y: py(t) + 4, "text-anchor": "end"}, axes, formatTick(t, log));
    });
    if (spec.kind === "lines") {
      niceTicks(xlo, xhi, 8).forEach(function (t) {
        el("text", {x: px(t), y: H - bottom + 18, "text-anchor": "middle"}, axes, formatTick(t, false));
      });
    } else {
      spec.categories.forEach(function (c, i) {
        el("text", {x: px(i), y: H - bottom + 16, "text-anchor": "middle", "font-size": 11}, axes, c);
      });
    }
    el("line", {x1: left, x2: W - right, y1: H - bottom, y2: H - bottom, stroke: "#444444"}, axes);
    el("line", {x1: left, x2: left, y1: top, y2: H - bottom, stroke: "#444444"}, axes);
    el("text", {x: (left + W - right) / 2, y: H - 8, "text-anchor": "middle"}, axes, spec.xlabel);
    el("text", {x: 16, y: (top + H - bottom) / 2, "text-anchor": "middle",
                transform: "rotate(-90 16 " + (top + H - bottom) / 2 + ")"}, axes, spec.ylabel);
    var data = el("g", {"class": "course-widget-data"}, svg);
    if (spec.kind === "lines") {
      frame.series.forEach(function (s, k) {
        var d = s.y.map(function (y, i) { return (i ? "L" : "M") + px(spec.x[i]).toFixed(1) + " " + py(y).toFixed(1); }).join(" ");
        el("path", {d: d, fill: "none", stroke: COLOURS[k % COLOURS.length], "stroke-width": 2.2,
                    "stroke-dasharray": DASHES[k % DASHES.length]}, data);
      });
    } else {
      var width = (W - left - right) / n * 0.8;
      frame.y.forEach(function (y, i) {
        el("rect", {x: px(i) - width / 2, y: py(y), width: width, height: Math.max(0, py(0) - py(y)),
                    fill: COLOURS[0]}, data);
      });
    }
  }

  function buildSlider(container) {
    var spec = JSON.parse(container.getAttribute("data-spec"));
    var id = container.id;
    container.textContent = "";
    html("p", "course-widget-title", container, spec.title).id = id + "-title";
    var svg = el("svg", {viewBox: "0 0 640 300", role: "img", "aria-labelledby": id + "-title " + id + "-note",
                         "class": "course-widget-svg"}, container);
    if (spec.kind === "lines") {
      var legend = html("ul", "course-widget-legend", container);
      spec.frames[0].series.forEach(function (s, k) {
        var item = html("li", "", legend);
        var swatch = el("svg", {width: 34, height: 12, "aria-hidden": "true"}, item);
        el("line", {x1: 1, x2: 33, y1: 6, y2: 6, stroke: COLOURS[k % COLOURS.length], "stroke-width": 2.5,
                    "stroke-dasharray": DASHES[k % DASHES.length]}, swatch);
        html("span", "", item, " " + s.name);
      });
    }
    var controls = html("div", "course-widget-controls", container);
    var label = html("label", "", controls, spec.slider.label + " ");
    label.setAttribute("for", id + "-slider");
    var input = html("input", "", controls);
    input.type = "range"; input.id = id + "-slider"; input.min = 0; input.step = 1;
    input.max = spec.frames.length - 1; input.value = spec.slider.initial;
    var output = html("output", "course-widget-value", controls);
    output.setAttribute("for", input.id);
    var note = html("p", "course-widget-note", container);
    note.id = id + "-note";
    note.setAttribute("aria-live", "polite");
    var sample = spec.kind === "bars" ? html("p", "course-widget-text", container) : null;
    var update = function () {
      var index = Number(input.value);
      draw(spec, index, svg);
      output.textContent = spec.slider.values[index];
      input.setAttribute("aria-valuetext", spec.slider.label + " " + spec.slider.values[index]);
      note.textContent = spec.frames[index].note;
      if (sample) { sample.textContent = spec.frames[index].text; }
      container.setAttribute("data-frame", String(index));
    };
    input.addEventListener("input", update);
    input.addEventListener("change", update);
    update();
  }

  // Check-your-understanding questions: <div class="course-quiz-answer" data-kind="number"
  // data-answer="27" data-tolerance="0.01" data-right="..." data-wrong="..."> inside an
  // admonition whose text asks the question; data-kind="choice" takes data-choices
  // (a JSON list) and data-answer (the index of the right one).
  function buildQuiz(holder, number) {
    var kind = holder.getAttribute("data-kind");
    var id = "quiz-" + number;
    var form = html("form", "course-quiz-form", holder);
    form.setAttribute("novalidate", "");
    var read;
    if (kind === "choice") {
      var fieldset = html("fieldset", "", form);
      html("legend", "", fieldset, "Choose one answer");
      JSON.parse(holder.getAttribute("data-choices")).forEach(function (text, i) {
        var row = html("div", "course-quiz-choice", fieldset);
        var radio = html("input", "", row);
        radio.type = "radio"; radio.name = id; radio.value = String(i); radio.id = id + "-" + i;
        var label = html("label", "", row, text);
        label.setAttribute("for", radio.id);
      });
      read = function () {
        var chosen = form.querySelector("input[name='" + id + "']:checked");
        return chosen ? Number(chosen.value) === Number(holder.getAttribute("data-answer")) : null;
      };
    } else {
      var label = html("label", "", form, "Your answer ");
      label.setAttribute("for", id + "-input");
      var field = html("input", "", form);
      field.type = "text"; field.id = id + "-input"; field.setAttribute("inputmode", "decimal");
      field.setAttribute("autocomplete", "off");
      read = function () {
        var text = field.value.trim().replace(/\u2212/g, "-").replace(/,/g, "");
        if (text === "" || isNaN(Number(text))) { return null; }
        var answer = Number(holder.getAttribute("data-answer"));
        var tolerance = Number(holder.getAttribute("data-tolerance") || "0");
        return Math.abs(Number(text) - answer) <= tolerance * Math.max(1, Math.abs(answer));
      };
    }
    var button = html("button", "course-quiz-check", form, "Check");
    button.type = "submit";
    var feedback = html("p", "course-quiz-feedback", holder);
    feedback.setAttribute("role", "status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var verdict = read();
      holder.classList.remove("course-quiz-right", "course-quiz-wrong");
      if (verdict === null) {
        feedback.textContent = kind === "choice" ? "Choose an answer first." : "Type a number first.";
        return;
      }
      holder.classList.add(verdict ? "course-quiz-right" : "course-quiz-wrong");
      feedback.textContent = verdict ? "Right. " + holder.getAttribute("data-right")
                                     : "Not yet. " + holder.getAttribute("data-wrong");
    });
  }

  function ready(fn) {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", fn); }
    else { fn(); }
  }
  fixSearchSummary();
  ready(function () {
    fixSearchSummary();
    fixBibliography();
    document.querySelectorAll(".course-widget[data-spec]").forEach(buildSlider);
    document.querySelectorAll(".course-quiz-answer").forEach(buildQuiz);
  });
})();
