"""Sphinx extension for the course book's HTML assets.

1. MathJax 3 is served from the built site itself instead of a CDN. The book must
   read the same offline (a student's laptop, the CI browser test) as online, so
   the HTML points at ``_static/mathjax/tex-mml-chtml.js`` and the needed part of
   MathJax 3.2.2 is copied there from the PyPI package ``django-static-mathjax``
   (pinned in requirements.txt; it ships MathJax's files and nothing else,
   importable as ``mathjax``).
2. Inline scripts registered after the builder starts (sphinx-thebe's and
   sphinx-togglebutton's configuration) are emitted twice by Sphinx 7.4, once as
   ``_JavaScript(None)`` and once as ``_JavaScript('')``. The second ``const``
   declaration is a JavaScript error on every page ("Identifier 'THEBE_JS_URL'
   has already been declared"), so duplicates are dropped per page.
3. myst-nb 1.4 writes ``_build/jupyter_execute/<page>.ipynb`` *without outputs*
   when a page's outputs come from the execution cache (it saves the notebook it
   parsed, not the one merged with the cache). That file is what the page's
   "download .ipynb" button serves, so after reading the sources the cached
   outputs are merged back into it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

OUTPUT_SUBDIR = "mathjax"
ENTRY_POINT = "tex-mml-chtml.js"
# The combined component plus what it loads lazily: TeX extensions (autoload of
# \boldsymbol and friends), the CHTML fonts, the context menu and accessibility.
NEEDED_PARTS = (ENTRY_POINT, "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y")


def mathjax_es5_dir() -> Path:
    """Return the ``es5`` folder of the installed MathJax 3 distribution."""
    try:
        import mathjax  # provided by django-static-mathjax
    except ImportError as err:
        raise ExtensionError(
            "local_mathjax: the package 'django-static-mathjax' (MathJax 3 files) is not "
            "installed; install requirements.txt (expected importable module 'mathjax')."
        ) from err
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / ENTRY_POINT).is_file():
        raise ExtensionError(
            f"local_mathjax: expected MathJax entry point {es5 / ENTRY_POINT}, "
            "which does not exist; reinstall django-static-mathjax==3.2.2.1."
        )
    return es5


def point_sphinx_at_local_copy(app: Sphinx, config: Config) -> None:
    """Relative mathjax_path values are resolved against the site's _static folder."""
    mathjax_es5_dir()  # fail at start-up, not after a long execution
    config.mathjax_path = f"{OUTPUT_SUBDIR}/{ENTRY_POINT}"


def copy_mathjax_into_site(app: Sphinx, exception: Exception | None) -> None:
    """Copy the needed MathJax files next to the theme's static files."""
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_es5_dir()
    target = Path(app.outdir) / "_static" / OUTPUT_SUBDIR
    for part in NEEDED_PARTS:
        src, dst = source / part, target / part
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    shutil.copy2(source.parent / "LICENSE", target / "LICENSE")


def drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict,
                           doctree) -> None:
    """Keep the first of several scripts with the same source, body and attributes."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (script.filename or "", tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _has_no_outputs(notebook) -> bool:
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return bool(code) and not any(cell.get("outputs") for cell in code)


def restore_cached_outputs(app: Sphinx, env) -> None:
    """Merge cached outputs into executed notebooks that myst-nb wrote without them."""
    config = getattr(env, "mystnb_config", None)
    if config is None or not config.output_folder or not config.execution_cache_path:
        return
    cache_dir = Path(config.execution_cache_path)
    notebooks = sorted(Path(config.output_folder).rglob("*.ipynb"))
    if not cache_dir.is_dir() or not notebooks:
        return
    from jupyter_cache import get_cache  # installed with myst-nb

    cache = get_cache(str(cache_dir))
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        if not _has_no_outputs(notebook):
            continue
        try:
            _, merged = cache.merge_match_into_notebook(notebook)
        except KeyError:  # no cached execution for this code: leave it as it is
            continue
        nbformat.write(merged, path)


def setup(app: Sphinx) -> dict:
    app.connect("env-updated", restore_cached_outputs)
    app.connect("config-inited", point_sphinx_at_local_copy)
    app.connect("html-page-context", drop_duplicate_scripts)
    app.connect("build-finished", copy_mathjax_into_site)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
