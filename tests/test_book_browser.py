"""The built book, served on localhost and read by real headless Chromium.

For every page in ``_toc.yml``: it loads without console errors or requests that
leave the machine, MathJax has typeset every formula (no MathJax error boxes), the
text a reader sees (solutions opened, after MathJax, outside code) holds no raw TeX,
no unrendered MyST syntax, no unresolved reference and no Python object repr, every
image has loaded, exercise solutions stay hidden until their toggle is clicked, and a
full-page screenshot is saved under ``_build/screenshots/``.

Accessibility: every page of the site passes an axe-core audit (WCAG 2.1 A and AA
rules plus axe's best practices) with no "serious" or "critical" violation; the
"moderate" and "minor" ones are reported as ``AccessibilityNote`` warnings in the
test output, and every page's counts go to ``_build/accessibility/``. axe-core is
the npm package in ``node_modules`` (``npm ci``, run by ``make test``), injected into
the page from that file. Figures have alt text that says what they show; the
solutions' toggles and the search work with the keyboard alone.

Uses Debian's ``/usr/bin/chromium`` through Playwright (never a downloaded browser).
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import REPO_ROOT, chapter_documents, toc_documents
from playwright.sync_api import Browser, Page, sync_playwright

from rnn_lib.plotting import LEGEND_FONTSIZE

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOT_DIR = REPO_ROOT / "_build" / "screenshots"
PAGES = toc_documents()
# Every page of the site: the book's pages and the ones Sphinx adds.
SITE_PAGES = [*PAGES, "search", "genindex"]
CHAPTERS = set(chapter_documents())
MIN_EXERCISES_PER_CHAPTER = 4
PAGE_TIMEOUT_MS = 60_000

# TeX that MathJax should have replaced. Code blocks are excluded before matching.
RAW_TEX = [
    re.compile(r"\$\$"),
    re.compile(r"\\\(|\\\)|\\\[|\\\]"),
    re.compile(r"\\begin\{"),
    re.compile(r"(?<![\w$])\$[^\s$][^$\n]{0,200}?\$(?![\w$])"),  # unrendered $...$
    re.compile(r"\$\\"),  # "$\mathbf..." of a formula whose closing $ went missing
    re.compile(r"\\[A-Za-z]{2,}"),  # any TeX command: \mathbf, \frac, \odot, \tanh ...
    re.compile(r"[_^]\{"),  # sub- and superscripts
]
# MyST syntax that Sphinx should have turned into a reference, a directive or a target.
RAW_MYST = [
    re.compile(r"\{[a-z][\w:-]*\}`"),  # roles: {eq}`...`, {ref}`...`, {numref}`...`
    re.compile(r"```|~~~"),  # a directive fence: ```{exercise}
    re.compile(r":::"),  # a colon fence
    re.compile(r"^\s*:(class|label|name|tags|width|align|dropdown|alt)\s*:", re.MULTILINE),
    re.compile(r"^\s*\([\w-]+\)=\s*$", re.MULTILINE),  # a target: (label)=
    re.compile(r"\?\?\?"),  # Sphinx's text for an equation or figure it could not number
]
# Python's default repr where a value was meant, e.g. print(model) or a cell ending in it.
RAW_REPR = [
    re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>"),
    re.compile(r"<(function|bound method|built-in function|module|class) [^>\n]{0,120}>"),
    re.compile(r"<(matplotlib\.|Figure size )[^>\n]{0,120}>"),
]

VISIBLE_TEXT_WITHOUT_CODE = """() => {
    const clone = document.querySelector('main').cloneNode(true);
    clone.querySelectorAll('pre, code, script, style, .highlight, mjx-container, '
                           + '.cell_output, .output').forEach(el => el.remove());
    // innerText of a detached clone ignores layout; attach it (invisibly) to get the
    // line breaks a reader sees.
    const holder = document.createElement('div');
    holder.style.cssText = 'position:absolute; left:-10000px; width:900px';
    holder.appendChild(clone);
    document.body.appendChild(holder);
    const text = clone.innerText;
    holder.remove();
    return text;
}"""

# Everything a reader sees except the code of the cells: prose and cell outputs.
TEXT_WITH_OUTPUTS = """() => {
    const clone = document.querySelector('main').cloneNode(true);
    clone.querySelectorAll('.cell_input, script, style, mjx-container')
         .forEach(el => el.remove());
    return clone.textContent;
}"""

# References Sphinx could not resolve are rendered as plain spans, not links.
UNRESOLVED_REFERENCES = """() => [...document.querySelectorAll('main .xref, main .std-ref, main .std-numref')]
    .filter(el => !el.closest('a'))
    .map(el => el.textContent.slice(0, 80))"""

OPEN_ALL_SOLUTIONS = """async () => {
    const buttons = [...document.querySelectorAll('main button.toggle-button')];
    for (const button of buttons) {
        if (button.closest('.toggle-hidden') || button.classList.contains('toggle-button-hidden')) {
            button.click();
        }
    }
    // Let layout, ResizeObservers and the toggles' transitions settle.
    await new Promise(resolve => setTimeout(resolve, 400));
    await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    return buttons.length;
}"""

MATH_STATUS = """() => {
    const math = [...document.querySelectorAll('main .math')];
    return {
        total: math.length,
        untypeset: math.filter(el => !el.querySelector('mjx-container'))
                       .map(el => el.textContent.slice(0, 80)),
        containers: document.querySelectorAll('main mjx-container').length,
        errors: [...document.querySelectorAll('mjx-merror')].map(el => el.textContent.slice(0, 80)),
    };
}"""

IMAGE_STATUS = """async () => {
    const images = [...document.images];
    images.forEach(img => { img.loading = 'eager'; });
    await Promise.all(images.map(img => img.complete ? null :
        new Promise(resolve => { img.onload = img.onerror = resolve; })));
    return images.map(img => ({src: img.getAttribute('src'), width: img.naturalWidth,
                               figure: !!img.closest('main figure, main .cell_output')}));
}"""


# Accessibility audit: axe-core from node_modules (package-lock.json; `make node-deps`, run by `make test`).
AXE_SCRIPT = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
AXE_BLOCKING = {"serious", "critical"}
AXE_REPORT_DIR = REPO_ROOT / "_build" / "accessibility"
AXE_RUN = """async (tags) => {
    const results = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                             resultTypes: ['violations']});
    return results.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help, tags: v.tags,
        nodes: v.nodes.map(n => ({target: n.target.join(' '),
                                  summary: (n.failureSummary || '').replace(/\\s+/g, ' ')
                                                                    .slice(0, 300)})),
    }));
}"""

# Alt text that names a file or says only "figure" does not tell a reader what is shown.
USELESS_ALT = re.compile(
    r"^\s*$|\.(png|svg|jpe?g|gif)\s*$|^\.\.?/|_images/|"
    r"^\s*(figure|image|plot|graph|chart|picture|output|png)\s*\d*\s*$", re.IGNORECASE)
MIN_ALT_WORDS = 5
IMAGE_ALTS = """() => [...document.querySelectorAll('main img')].map(img => ({
    src: img.getAttribute('src'), alt: img.getAttribute('alt'),
    decorative: img.getAttribute('role') === 'presentation'
                || img.getAttribute('aria-hidden') === 'true',
    figure: !!img.closest('figure, .cell_output'),
}))"""

ACTIVE_ELEMENT = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const solution = el.closest('div.solution');
    return {tag: el.tagName.toLowerCase(), classes: el.className || '',
            href: el.getAttribute('href'), solution: solution ? solution.id : null,
            inResults: !!el.closest('#search-results'),
            outline: getComputedStyle(el).outlineStyle, shadow: getComputedStyle(el).boxShadow};
}"""
MAX_TABS = 600


class AccessibilityNote(UserWarning):
    """A moderate or minor axe-core finding: listed in the test output, not a failure."""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass


@pytest.fixture(scope="session")
def site_url(book_html: Path) -> Iterator[str]:
    """Serve the built site on an ephemeral port of 127.0.0.1 for the session."""
    handler = functools.partial(QuietHandler, directory=str(book_html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"expected Debian's Chromium at {CHROMIUM}; install it with "
                    "`make system-deps` (tools/install_system_deps.sh)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class LoadedPage:
    """A page opened in a fresh context that records console errors and outside requests."""

    def __init__(self, browser: Browser, url: str, viewport: dict | None = None):
        self.context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
        self.page: Page = self.context.new_page()
        self.console_errors: list[str] = []
        self.outside_requests: list[str] = []
        self.failed_requests: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.console_errors.append(f"pageerror: {error}"))
        self.page.on("requestfailed", self._on_request_failed)
        self.page.route("**/*", self._only_localhost)
        self.response = self.page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT_MS)

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _on_request_failed(self, request) -> None:
        if urlparse(request.url).hostname == "127.0.0.1":
            self.failed_requests.append(f"{request.url}: {request.failure}")

    def _only_localhost(self, route) -> None:
        # The book must work offline: anything fetched from elsewhere is a defect.
        if urlparse(route.request.url).hostname in ("127.0.0.1", None):
            route.continue_()
        else:
            self.outside_requests.append(route.request.url)
            route.abort()

    def wait_for_mathjax(self) -> None:
        """Wait for MathJax's first typesetting pass (pages without math do not load it)."""
        if not self.page.evaluate("() => document.querySelector('main .math') !== null"):
            return
        self.page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=PAGE_TIMEOUT_MS)
        self.page.evaluate("() => MathJax.startup.promise")

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def open_page(browser: Browser, site_url: str):
    opened: list[LoadedPage] = []

    def _open(doc: str) -> LoadedPage:
        loaded = LoadedPage(browser, f"{site_url}/{doc}.html")
        opened.append(loaded)
        return loaded

    yield _open
    for loaded in opened:
        loaded.close()


def _in_context(text: str, match: re.Match, width: int = 50) -> str:
    before = text[max(0, match.start() - width):match.start()]
    after = text[match.end():match.end() + width]
    return f"...{before}[{match.group(0)}]{after}...".replace("\n", "\\n")


def raw_markup(prose: str, with_outputs: str) -> list[str]:
    """Raw TeX or MyST in ``prose`` (text outside code) and object reprs in ``with_outputs``."""
    found = []
    for kind, patterns, text in (("raw TeX", RAW_TEX, prose), ("raw MyST", RAW_MYST, prose),
                                 ("object repr", RAW_REPR, with_outputs)):
        for pattern in patterns:
            found.extend(f"{kind}: {_in_context(text, match)}" for match in pattern.finditer(text))
    return found


@pytest.mark.parametrize("doc", PAGES)
def test_page_renders_completely(open_page, doc: str):
    loaded = open_page(doc)
    page = loaded.page
    assert loaded.response is not None and loaded.response.ok, f"{doc}: HTTP error"
    loaded.wait_for_mathjax()

    math = page.evaluate(MATH_STATUS)
    if doc in CHAPTERS or doc == PAGES[0]:
        assert math["total"] > 0, f"{doc}: a chapter without any typeset equation"
    assert math["untypeset"] == [], f"{doc}: formulas MathJax did not typeset"
    assert math["containers"] >= math["total"]
    assert math["errors"] == [], f"{doc}: MathJax reported TeX errors"

    images = page.evaluate(IMAGE_STATUS)
    broken = [image["src"] for image in images if image["width"] == 0]
    assert broken == [], f"{doc}: images that did not load: {broken}"
    if doc in CHAPTERS:
        figures = [image for image in images if image["figure"]]
        assert figures, f"{doc}: a chapter without any figure made by its code"

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / f"{Path(doc).name}.png"), full_page=True)

    # What a reader sees once every solution is open: no markup that failed to render.
    page.evaluate(OPEN_ALL_SOLUTIONS)
    problems = raw_markup(page.evaluate(VISIBLE_TEXT_WITHOUT_CODE),
                          page.evaluate(TEXT_WITH_OUTPUTS))
    unresolved = page.evaluate(UNRESOLVED_REFERENCES)
    if unresolved:
        problems.append(f"unresolved references: {unresolved}")
    assert problems == [], f"{doc}: the page shows markup instead of what it means:\n" + \
        "\n".join(problems)

    assert loaded.outside_requests == [], f"{doc}: requests leaving localhost"
    assert loaded.failed_requests == [], f"{doc}: failed requests"
    assert loaded.console_errors == [], f"{doc}: console errors"


@pytest.mark.parametrize("doc", sorted(CHAPTERS))
def test_solutions_are_hidden_until_toggled(open_page, doc: str):
    loaded = open_page(doc)
    page = loaded.page
    page.wait_for_selector("button.toggle-button", state="attached", timeout=PAGE_TIMEOUT_MS)
    exercises = page.locator("main div.exercise")
    solutions = page.locator("main div.solution")
    assert exercises.count() >= MIN_EXERCISES_PER_CHAPTER, f"{doc}: too few exercises"
    assert solutions.count() >= MIN_EXERCISES_PER_CHAPTER, f"{doc}: too few solutions"

    for index in range(solutions.count()):
        solution = solutions.nth(index)
        body = solution.locator(":scope > :not(.admonition-title)")
        assert body.count() > 0, f"{doc}: solution {index} is empty"
        label = solution.get_attribute("id")
        assert "toggle-hidden" in (solution.get_attribute("class") or ""), \
            f"{doc}: solution {label} is not collapsible (missing ':class: dropdown')"
        hidden = [body.nth(i).is_visible() for i in range(body.count())]
        assert not any(hidden), f"{doc}: solution {label} is visible before clicking"

        solution.locator(":scope > .admonition-title button.toggle-button").click()
        body.first.wait_for(state="visible", timeout=10_000)
        assert all(body.nth(i).is_visible() for i in range(body.count())), \
            f"{doc}: solution {label} still hidden after clicking its toggle"
    assert loaded.console_errors == []


def test_search_finds_the_chapter_on_state_machines(browser: Browser, site_url: str):
    loaded = LoadedPage(browser, f"{site_url}/search.html?q=transduction")
    try:
        results = loaded.page.locator("#search-results ul.search li")
        results.first.wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)
        links = [results.nth(i).locator("a").first.get_attribute("href")
                 for i in range(results.count())]
        assert any("01_state_machines" in (href or "") for href in links), links
        assert loaded.console_errors == []
    finally:
        loaded.close()


def tab_until(page: Page, wanted, max_tabs: int = MAX_TABS) -> tuple[dict, int]:
    """Press Tab until ``wanted(active element info)`` holds; return the info and the count."""
    for presses in range(1, max_tabs + 1):
        page.keyboard.press("Tab")
        active = page.evaluate(ACTIVE_ELEMENT)
        if active and wanted(active):
            return active, presses
    pytest.fail(f"no matching element within {max_tabs} presses of Tab")


@pytest.mark.parametrize("doc", SITE_PAGES)
def test_page_passes_the_accessibility_audit(open_page, doc: str):
    """axe-core over the page with every solution open: no serious or critical violation."""
    if not AXE_SCRIPT.is_file():
        pytest.fail(f"axe-core is not installed ({AXE_SCRIPT} is missing): run `make node-deps` "
                    "(it runs `npm ci` from package-lock.json)")
    loaded = open_page(doc)
    page = loaded.page
    loaded.wait_for_mathjax()
    page.evaluate(OPEN_ALL_SOLUTIONS)
    page.add_script_tag(path=str(AXE_SCRIPT))
    violations = page.evaluate(AXE_RUN, AXE_TAGS)

    AXE_REPORT_DIR.mkdir(parents=True, exist_ok=True)
    counts = {impact: sum(len(v["nodes"]) for v in violations if v["impact"] == impact)
              for impact in ("critical", "serious", "moderate", "minor")}
    (AXE_REPORT_DIR / f"{Path(doc).name}.json").write_text(
        json.dumps({"page": doc, "counts": counts, "violations": violations}, indent=1))

    for violation in violations:
        if violation["impact"] not in AXE_BLOCKING:
            for node in violation["nodes"]:
                warnings.warn(AccessibilityNote(
                    f"{doc}: {violation['impact']} {violation['id']} ({violation['help']}) "
                    f"at {node['target']}"), stacklevel=1)
    blocking = [f"{v['impact']} {v['id']}: {v['help']}\n" + "\n".join(
                    f"    {node['target']}: {node['summary']}" for node in v["nodes"][:8])
                for v in violations if v["impact"] in AXE_BLOCKING]
    assert blocking == [], f"{doc}: accessibility violations (axe-core {AXE_TAGS}):\n" + \
        "\n".join(blocking)

    images = page.evaluate(IMAGE_ALTS)
    useless = [f"{image['src']}: alt={image['alt']!r}" for image in images
               if not image["decorative"] and (
                   image["alt"] is None or USELESS_ALT.search(image["alt"])
                   or (image["figure"] and len(image["alt"].split()) < MIN_ALT_WORDS))]
    assert useless == [], f"{doc}: images without alt text that says what they show:\n" + \
        "\n".join(useless)
    assert loaded.console_errors == [], f"{doc}: console errors"


@pytest.mark.parametrize("doc", sorted(CHAPTERS))
def test_solutions_toggle_with_the_keyboard(open_page, doc: str):
    """Tab reaches a solution's toggle; Enter opens it, Space closes and reopens it."""
    loaded = open_page(doc)
    page = loaded.page
    page.wait_for_selector("button.toggle-button", state="attached", timeout=PAGE_TIMEOUT_MS)
    page.locator("body").focus()
    active, presses = tab_until(
        page, lambda el: el["solution"] is not None and "toggle-button" in el["classes"])
    assert active["tag"] == "button"
    assert active["outline"] != "none" or active["shadow"] != "none", \
        f"{doc}: the focused toggle has no visible focus indicator"
    solution = page.locator(f"main div.solution[id='{active['solution']}']")
    body = solution.locator(":scope > :not(.admonition-title)").first
    assert not body.is_visible(), f"{doc}: solution {active['solution']} open before any key"

    page.keyboard.press("Enter")
    body.wait_for(state="visible", timeout=10_000)
    page.keyboard.press("Space")
    body.wait_for(state="hidden", timeout=10_000)
    page.keyboard.press("Space")
    body.wait_for(state="visible", timeout=10_000)
    assert page.evaluate(ACTIVE_ELEMENT)["solution"] == active["solution"], \
        f"{doc}: the toggle lost the keyboard focus"
    assert loaded.console_errors == []


def test_search_works_with_the_keyboard(open_page):
    """From the first page: Tab to the search button, Enter, type, Enter, Tab to a result, Enter."""
    loaded = open_page(PAGES[0])
    page = loaded.page
    page.locator("body").focus()
    tab_until(page, lambda el: "search-button__button" in el["classes"], max_tabs=60)
    page.keyboard.press("Enter")
    field = page.locator("#pst-search-dialog input[name='q'], .bd-search input[name='q']").first
    field.wait_for(state="visible", timeout=10_000)
    active = page.evaluate(ACTIVE_ELEMENT)
    assert active and active["tag"] == "input", f"the search field did not get the focus: {active}"

    page.keyboard.type("transduction")
    with page.expect_navigation(timeout=PAGE_TIMEOUT_MS):
        page.keyboard.press("Enter")
    assert "search.html" in page.url and "q=transduction" in page.url, page.url
    page.locator("#search-results ul.search li a").first.wait_for(
        state="attached", timeout=PAGE_TIMEOUT_MS)
    page.locator("body").focus()
    tab_until(page, lambda el: el["inResults"] and "01_state_machines" in (el["href"] or ""))
    with page.expect_navigation(timeout=PAGE_TIMEOUT_MS):
        page.keyboard.press("Enter")
    assert "01_state_machines" in page.url, page.url
    assert loaded.console_errors == []


# --- reading at desktop width and on a phone ------------------------------------------

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Figures are drawn at 110 dpi with text and legends of LEGEND_FONTSIZE = 10 pt
# (rnn_lib.plotting.colorblind_safe_rc). Shown at a fraction s of their pixel width, a
# legend measures 10 * s * 110 / 96 CSS points: at least 9 pt needs s >= 0.785.
FIGURE_DPI = 110
MIN_FIGURE_SCALE = 9 / (LEGEND_FONTSIZE * FIGURE_DPI / 96)

# Every block a reader scrolls sideways when it is wider than the column: code cells,
# outputs, display equations, tables; and images wider than the column or shrunk.
WIDE_BLOCKS = """() => {
    const column = document.querySelector('main article') || document.querySelector('main');
    const right = column.getBoundingClientRect().right;
    const found = [];
    const name = el => (el.closest('[id]') ? '#' + el.closest('[id]').id + ' ' : '')
        + el.tagName.toLowerCase() + '.' + (el.className.baseVal ?? el.className).toString()
              .split(' ').slice(0, 2).join('.')
        + ': ' + el.textContent.replace(/\\s+/g, ' ').slice(0, 60);
    const selectors = 'main .cell_input pre, main .cell_output pre, main .cell_output, '
        + 'main div.math, main mjx-container[display="true"], main table, main .highlight pre, '
        + 'main .course-widget';
    for (const el of document.querySelectorAll(selectors)) {
        if (el.offsetParent === null) continue;  // hidden (a closed solution or toggle)
        const box = el.getBoundingClientRect();
        if (el.scrollWidth > el.clientWidth + 1 || box.right > right + 1) {
            found.push(`${name(el)} (${el.scrollWidth} px in ${el.clientWidth} px)`);
        }
    }
    const images = [];
    for (const img of document.querySelectorAll('main .cell_output img, main figure img')) {
        if (img.offsetParent === null || !img.naturalWidth) continue;
        const box = img.getBoundingClientRect();
        if (box.right > right + 1) found.push(`image ${img.getAttribute('src')} overflows`);
        images.push({src: img.getAttribute('src'), scale: box.width / img.naturalWidth});
    }
    return {found, images};
}"""


@pytest.mark.parametrize("doc", PAGES)
def test_nothing_is_wider_than_the_column_at_desktop_width(browser: Browser, site_url: str,
                                                           doc: str):
    loaded = LoadedPage(browser, f"{site_url}/{doc}.html", viewport=DESKTOP)
    try:
        loaded.wait_for_mathjax()
        loaded.page.evaluate(OPEN_ALL_SOLUTIONS)
        result = loaded.page.evaluate(WIDE_BLOCKS)
        assert result["found"] == [], f"{doc}: wider than the column at 1280 px:\n" + \
            "\n".join(result["found"])
        small = [f"{image['src']}: shown at {image['scale']:.0%}" for image in result["images"]
                 if image["scale"] < MIN_FIGURE_SCALE]
        assert small == [], f"{doc}: figures shrunk so far that their legends fall below " \
            "9 pt:\n" + "\n".join(small)
        page_width = loaded.page.evaluate("() => document.documentElement.scrollWidth")
        assert page_width <= DESKTOP["width"], f"{doc}: the page scrolls sideways"
    finally:
        loaded.close()


@pytest.mark.parametrize("doc", PAGES)
def test_page_renders_on_a_phone(browser: Browser, site_url: str, doc: str):
    loaded = LoadedPage(browser, f"{site_url}/{doc}.html", viewport=PHONE)
    try:
        loaded.wait_for_mathjax()
        assert loaded.response is not None and loaded.response.ok
        assert loaded.page.locator("main article h1").first.is_visible()
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        loaded.page.screenshot(path=str(SCREENSHOT_DIR / f"{Path(doc).name}-390.png"))
        assert loaded.console_errors == [], f"{doc} at 390 px: console errors"
        assert loaded.outside_requests == [] and loaded.failed_requests == []
    finally:
        loaded.close()


# --- active reading: slider figures and questions, with no server -------------------

SLIDERS = {
    "book/04_bptt": "ch4-slider-lag",
    "book/05_gating": "ch5-slider-forget-bias",
    "book/06_char_lm": "ch6-slider-temperature",
}
FIGURE_STATE = """id => {
    const widget = document.getElementById(id);
    return {frame: widget.getAttribute('data-frame'),
            data: widget.querySelector('.course-widget-data').innerHTML,
            note: widget.querySelector('.course-widget-note').textContent,
            value: widget.querySelector('output').textContent};
}"""


@pytest.mark.parametrize("doc", sorted(SLIDERS))
def test_slider_figure_moves_with_mouse_and_keys(open_page, doc: str):
    loaded = open_page(doc)
    page, widget_id = loaded.page, SLIDERS[doc]
    slider = page.locator(f"#{widget_id} input[type='range']")
    slider.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
    drawn = page.locator(f"#{widget_id} .course-widget-data > *").count()
    assert drawn >= (10 if doc == "book/06_char_lm" else 2), f"{doc}: {drawn} marks drawn"
    before = page.evaluate(FIGURE_STATE, widget_id)

    slider.fill(slider.get_attribute("max"))  # drag to the end
    moved = page.evaluate(FIGURE_STATE, widget_id)
    assert moved["frame"] != before["frame"] and moved["data"] != before["data"]
    assert moved["note"] != before["note"] and moved["value"] != before["value"]

    slider.focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    by_key = page.evaluate(FIGURE_STATE, widget_id)
    assert by_key["frame"] == "1", by_key["frame"]
    assert by_key["data"] not in (moved["data"], before["data"]) or before["frame"] == "1"
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(FIGURE_STATE, widget_id)["frame"] == "0"
    assert "course-widget-fallback" not in page.locator(f"#{widget_id}").inner_html()
    assert loaded.console_errors == [] and loaded.outside_requests == []


QUIZ_ANSWERS = {
    # page: [(kind, right answer, wrong answer)] in the order of the page's questions
    "book/01_state_machines": [("number", "0.5", "0.25"), ("choice", 1, 0)],
    "book/02_rnns": [("number", "7772", "7744"), ("choice", 1, 0)],
    "book/03_language_models": [("number", "4", "0.25"), ("number", "27", "28")],
    "book/04_bptt": [("number", "0.000977", "0.35"), ("choice", 1, 0)],
    "book/05_gating": [("number", "0.45", "0.2"), ("choice", 0, 1)],
    "book/06_char_lm": [("number", "2.72", "1"), ("choice", 1, 2)],
}


def answer_question(page: Page, quiz, kind: str, answer) -> str:
    if kind == "number":
        quiz.locator("input[type='text']").fill(str(answer))
    else:
        quiz.locator("input[type='radio']").nth(answer).check()
    quiz.locator("button.course-quiz-check").click()
    return quiz.locator(".course-quiz-feedback").inner_text()


@pytest.mark.parametrize("doc", sorted(QUIZ_ANSWERS))
def test_questions_answer_right_and_wrong_in_the_page(open_page, doc: str):
    loaded = open_page(doc)
    page = loaded.page
    quizzes = page.locator("main .course-quiz-answer")
    quizzes.first.locator("button").wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
    expected = QUIZ_ANSWERS[doc]
    assert quizzes.count() == len(expected)
    assert any(kind == "number" for kind, _, _ in expected), f"{doc}: no numeric question"
    for index, (kind, right, wrong) in enumerate(expected):
        quiz = quizzes.nth(index)
        assert quiz.get_attribute("data-kind") == kind
        feedback = answer_question(page, quiz, kind, wrong)
        assert feedback.startswith("Not yet."), f"{doc} question {index}: {feedback!r}"
        assert "course-quiz-wrong" in quiz.get_attribute("class")
        feedback = answer_question(page, quiz, kind, right)
        assert feedback.startswith("Right."), f"{doc} question {index}: {feedback!r}"
        assert "course-quiz-right" in quiz.get_attribute("class")
    assert loaded.console_errors == [] and loaded.outside_requests == []


def test_question_answers_with_the_keyboard(open_page):
    loaded = open_page("book/03_language_models")
    page = loaded.page
    field = page.locator("main .course-quiz-answer input[type='text']").first
    field.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
    field.focus()
    page.keyboard.type("4")
    page.keyboard.press("Enter")
    feedback = page.locator("main .course-quiz-answer .course-quiz-feedback").first
    assert feedback.inner_text().startswith("Right.")


def test_figures_stay_legible_in_dark_mode(open_page):
    """The book defaults to light mode; in dark mode figures sit on white cards."""
    loaded = open_page("book/04_bptt")
    page = loaded.page
    assert page.evaluate("() => document.documentElement.dataset.theme") == "light"
    page.evaluate("() => { document.documentElement.dataset.theme = 'dark'; }")
    backgrounds = page.evaluate("""() => [
        ...[...document.querySelectorAll('main .cell_output img')].slice(0, 3),
        document.querySelector('main .course-widget')]
        .map(el => getComputedStyle(el).backgroundColor)""")
    assert backgrounds and all(b == "rgb(255, 255, 255)" for b in backgrounds), backgrounds
