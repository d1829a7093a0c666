"""The built book, served on localhost and read by real headless Chromium.

For every page in ``_toc.yml``: it loads without console errors or requests that
leave the machine, MathJax has typeset every formula (no raw TeX delimiters left,
no MathJax error boxes), every image has loaded, exercise solutions stay hidden
until their toggle is clicked, and a full-page screenshot is saved under
``_build/screenshots/``. Uses Debian's ``/usr/bin/chromium`` through Playwright
(never a downloaded browser).
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import REPO_ROOT, chapter_documents, toc_documents
from playwright.sync_api import Browser, Page, sync_playwright

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOT_DIR = REPO_ROOT / "_build" / "screenshots"
PAGES = toc_documents()
CHAPTERS = set(chapter_documents())
MIN_EXERCISES_PER_CHAPTER = 4
PAGE_TIMEOUT_MS = 60_000

# TeX that MathJax should have replaced. Code blocks are excluded before matching.
RAW_TEX = [
    re.compile(r"\$\$"),
    re.compile(r"\\\(|\\\)|\\\[|\\\]"),
    re.compile(r"\\begin\{"),
    re.compile(r"(?<![\w$])\$[^\s$][^$\n]{0,200}?\$(?![\w$])"),  # unrendered $...$
]

VISIBLE_TEXT_WITHOUT_CODE = """() => {
    const clone = document.querySelector('main').cloneNode(true);
    clone.querySelectorAll('pre, code, script, style, .highlight, mjx-container, '
                           + '.cell_output, .output').forEach(el => el.remove());
    return clone.innerText;
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

    def __init__(self, browser: Browser, url: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
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

    text = page.evaluate(VISIBLE_TEXT_WITHOUT_CODE)
    raw = [match.group(0) for pattern in RAW_TEX for match in pattern.finditer(text)]
    assert raw == [], f"{doc}: raw TeX left in the page text: {raw[:10]}"

    images = page.evaluate(IMAGE_STATUS)
    broken = [image["src"] for image in images if image["width"] == 0]
    assert broken == [], f"{doc}: images that did not load: {broken}"
    if doc in CHAPTERS:
        figures = [image for image in images if image["figure"]]
        assert figures, f"{doc}: a chapter without any figure made by its code"

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / f"{Path(doc).name}.png"), full_page=True)

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
