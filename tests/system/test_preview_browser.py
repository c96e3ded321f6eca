"""The preview widget rendered in headless Chromium, from a notebook executed by a real kernel.

A tiny notebook (emulator, client, load, edit, ``edited.chartmogul.preview(client)``) runs under
nbconvert's ExecutePreprocessor with the widget state stored; the HTML export loads the widget
JavaScript from the npm package ``@jupyter-widgets/html-manager`` served by a local HTTP server
(never a CDN: there is no internet here). Chromium dumps the rendered DOM, which must show the
summary, a change row and the Apply button, and takes a screenshot.

Needs /usr/bin/chromium and the npm package: ``tests/browser/setup.sh`` installs both; without
them the test is skipped with the reason.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
HTML_MANAGER = (
    Path(__file__).parents[1]
    / "browser"
    / "node_modules_dir"
    / "node_modules"
    / "@jupyter-widgets"
    / "html-manager"
    / "dist"
)
SETUP = "run tests/browser/setup.sh"

NOTEBOOK_CODE = """\
import tempfile
import cm_frames as cm

emulator = cm.Emulator(customers=40, seed=7).start()
client = cm.Client(emulator.token, emulator.secret, emulator.url,
                   cache_dir=tempfile.mkdtemp(), rate_limit=None)
df = cm.read_customers(client, progress=False)
edited = df.copy()
edited["tag.browser-hot"] = False
edited.loc[edited.index[:5], "tag.browser-hot"] = True
edited.loc[edited.index[:3], "custom.CAC"] = 1234
edited.chartmogul.preview(client)
"""
CLEANUP_CODE = "client.close()\nemulator.stop()\n"


def _requirements() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} ({SETUP})")
    if not (HTML_MANAGER / "embed.js").is_file():
        pytest.skip(f"the npm package @jupyter-widgets/html-manager is missing ({SETUP})")
    for module in ("nbformat", "nbconvert", "ipykernel"):
        pytest.importorskip(module)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over http://127.0.0.1 (the page and the widget JavaScript)."""
    _requirements()
    root = tmp_path / "site"
    shutil.copytree(HTML_MANAGER, root / "html-manager")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _executed_notebook(workdir: Path) -> Any:
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(NOTEBOOK_CODE),
        nbformat.v4.new_code_cell(CLEANUP_CODE),
    ]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    executor = ExecutePreprocessor(timeout=120, kernel_name="python3", store_widget_state=True)
    executor.preprocess(notebook, {"metadata": {"path": str(workdir)}})
    return notebook


def _export(notebook: Any, base_url: str) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.widget_renderer_url = base_url + "html-manager/embed.js"
    body, _ = exporter.from_notebook_node(notebook)
    # Nothing may come from the internet: drop every remote script (require.js, MathJax...).
    return re.sub(r'<script[^>]*\bsrc="https?://(?!127\.0\.0\.1)[^"]*"[^>]*>\s*</script>', "", body)


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=15000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _visible_text(dom: str) -> str:
    """The DOM's text outside <script> and <style> (where the widget state also sits)."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


@pytest.mark.slow
def test_the_preview_renders_in_chromium(
    tmp_path: Path, site: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base_url = site
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's own future default
    notebook = _executed_notebook(tmp_path)

    outputs = notebook.cells[0].outputs
    assert outputs
    assert "application/vnd.jupyter.widget-view+json" in outputs[-1]["data"]
    assert "widgets" in notebook.metadata  # the stored widget state
    page = _export(notebook, base_url)
    assert not re.search(r'<script[^>]*\bsrc="https?://(?!127\.0\.0\.1)', page)  # no CDN
    assert f"'{base_url}html-manager/embed.js'" in page  # the widget JavaScript, served here
    (root / "preview.html").write_text(page, encoding="utf-8")
    url = base_url + "preview.html"

    dumped = _chromium("--dump-dom", url, profile=tmp_path / "profile-dom")
    dom = dumped.stdout
    assert "<html" in dom, dumped.stderr[-2000:]
    text = " ".join(_visible_text(dom).split())
    assert "Write-back plan" in text  # the summary, rendered by the widget manager
    assert "8 operations on 5 customers" in text
    assert "tag.browser-hot" in text  # a change row
    assert re.search(r"<button[^>]*>.*?Apply.*?</button>", dom, flags=re.S)
    assert "widget-button" in dom  # a real widget, not the text fallback

    screenshot = tmp_path / "preview.png"
    shot = _chromium(
        f"--screenshot={screenshot}",
        "--window-size=1200,1400",
        url,
        profile=tmp_path / "profile-png",
    )
    assert screenshot.is_file(), shot.stderr[-2000:]
    assert screenshot.stat().st_size > 10_000  # a page with content, not a blank one
    keep = os.environ.get("CM_FRAMES_KEEP_SCREENSHOT")
    if keep:  # for a human to look at: CM_FRAMES_KEEP_SCREENSHOT=/tmp/preview.png pytest ...
        shutil.copy(screenshot, keep)
    print(f"screenshot: {screenshot}", file=sys.stderr)


@pytest.mark.slow
def test_the_committed_writeback_notebook_renders_its_preview(
    tmp_path: Path, site: tuple[Path, str]
) -> None:
    """notebooks/03_writeback.ipynb as committed (executed, widget state kept), in Chromium."""
    import nbformat

    root, base_url = site
    path = Path(__file__).parents[2] / "notebooks" / "03_writeback.ipynb"
    notebook = nbformat.read(path, as_version=4)
    assert "widgets" in notebook.metadata, "03_writeback must be committed with widget state"
    page = _export(notebook, base_url)
    assert not re.search(r'<script[^>]*\bsrc="https?://(?!127\.0\.0\.1)', page)
    (root / "writeback.html").write_text(page, encoding="utf-8")

    dumped = _chromium("--dump-dom", base_url + "writeback.html", profile=tmp_path / "dom")
    dom = dumped.stdout
    assert "<html" in dom, dumped.stderr[-2000:]
    text = " ".join(_visible_text(dom).split())
    assert "Write-back plan" in text
    assert "custom.health_score" in text
    assert "tag.hot" in text
    assert re.search(r"<button[^>]*>.*?Apply.*?</button>", dom, flags=re.S)
    assert "widget-button" in dom

    screenshot = tmp_path / "writeback.png"
    _chromium(
        f"--screenshot={screenshot}",
        "--window-size=1200,2400",
        base_url + "writeback.html",
        profile=tmp_path / "png",
    )
    assert screenshot.is_file()
    assert screenshot.stat().st_size > 10_000
    keep = os.environ.get("CM_FRAMES_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(screenshot, Path(keep).with_name("writeback-" + Path(keep).name))
