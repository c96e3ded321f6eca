"""The live preview widget in JupyterLab, driven by a real browser: untick, Apply, Undo.

The test process runs an Emulator (so it can read the server state) and a ``jupyter lab``
server in a temporary directory, with temporary Jupyter config, data, runtime and settings
directories (nothing of the user's is read or written). Playwright drives Debian's Chromium
(never a downloaded browser): it opens a small notebook that connects to the emulator, runs
all cells, unticks one attribute, clicks Apply and Undo, and the test checks the server after
each. It also checks the layout at a 1024 px wide window (the table fits, rows do not wrap,
Apply is above the table, borders follow the dark theme) and saves screenshots in the test's
tmp dir (``CM_FRAMES_KEEP_SCREENSHOT=/tmp/lab.png`` keeps copies).

Skipped, with the reason, without /usr/bin/chromium (``tests/browser/setup.sh`` installs it)
or the ``playwright`` and ``jupyterlab`` packages (the dev extras).
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

import cm_frames as cm

CHROMIUM = Path("/usr/bin/chromium")
# Chromium as the project's other browser test runs it: nothing phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTH, HEIGHT = 1024, 900
WAIT_MS = 60_000  # the longest any one step may take (a cold kernel on a busy machine)
TAGGED, SCORED = 6, 4  # customers given tag.lab_hot, and custom.lab_score (left out)

NOTEBOOK_CODE = """\
import cm_frames as cm

client = cm.Client({token!r}, {secret!r}, {url!r}, cache_dir={cache!r}, rate_limit=None)
df = cm.read_customers(client, progress=False)
edited = df.copy()
edited["tag.lab_hot"] = False
edited.loc[edited.index[:{tagged}], "tag.lab_hot"] = True
edited["custom.lab_score"] = pd.Series(pd.NA, index=edited.index, dtype="int64[pyarrow]")
edited.loc[edited.index[:{scored}], "custom.lab_score"] = 70
edited.chartmogul.preview(client)
"""

pytestmark = pytest.mark.slow


def _requirements() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (run tests/browser/setup.sh)")
    for module in ("playwright.sync_api", "jupyterlab", "ipykernel"):
        pytest.importorskip(module, reason=f"{module} is not installed (pip install -e '.[dev]')")


@dataclass
class Lab:
    url: str
    token: str
    notebook: str


@pytest.fixture
def lab_emulator() -> Iterator[cm.Emulator]:
    """A small emulator of this test's own, in the test process."""
    _requirements()
    with cm.Emulator(customers=30, seed=11) as emulator:
        yield emulator


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _private_jupyter_env(home: Path) -> dict[str, str]:
    """The environment of a Jupyter that reads and writes only under ``home``."""
    env = dict(os.environ)
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": home / "settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "workspaces",
        "IPYTHONDIR": home / "ipython",
    }
    for name, path in dirs.items():
        path.mkdir(parents=True)
        env[name] = str(path)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    # Nothing may reach for the internet: no news, no update check, no extension catalogue.
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "LabApp": {
                    "news_url": None,
                    "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                    "extension_manager": "readonly",
                }
            }
        )
    )
    labconfig = home / "config" / "labconfig"
    labconfig.mkdir()
    (labconfig / "page_config.json").write_text(
        json.dumps(
            {
                # No check whether the lab needs a rebuild (seconds of CPU at start-up).
                "buildCheck": False,
                "buildAvailable": False,
                "disabledExtensions": {
                    "@jupyterlab/apputils-extension:announcements": True,
                    "@jupyterlab/extensionmanager-extension": True,
                },
            }
        )
    )
    return env


def _write_notebook(path: Path, emulator: cm.Emulator, cache: Path) -> None:
    import nbformat

    code = NOTEBOOK_CODE.format(
        token=emulator.token,
        secret=emulator.secret,
        url=emulator.url,
        cache=str(cache),
        tagged=TAGGED,
        scored=SCORED,
    )
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import pandas as pd"),
        nbformat.v4.new_code_cell(code),
    ]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(notebook, path)


def _drain(stream: Any, lines: queue.SimpleQueue[str], log: list[str]) -> None:
    # Read the server's log to the end, so that a full pipe never blocks it.
    for line in stream:
        log.append(line)
        lines.put(line)
    lines.put("")  # the server exited


@pytest.fixture
def lab(tmp_path: Path, lab_emulator: cm.Emulator) -> Iterator[Lab]:
    """``jupyter lab`` on a free loopback port, with a token, in a temporary directory."""
    work = tmp_path / "work"
    work.mkdir()
    _write_notebook(work / "preview.ipynb", lab_emulator, tmp_path / "cache")
    token = secrets.token_hex(16)
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}",
        # window.jupyterapp: the theme is switched by its command, not by hovering a submenu
        # (a hover-opened submenu missed its click on a busy machine).
        "--LabApp.expose_app_in_browser=True",
    ]
    if os.geteuid() == 0:  # CI and the dev machines run as root; Jupyter refuses it unasked
        command.append("--allow-root")
    server = subprocess.Popen(
        command,
        cwd=work,
        env=_private_jupyter_env(tmp_path / "jupyter"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    log: list[str] = []
    reader = threading.Thread(target=_drain, args=(server.stderr, lines, log), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}/"
    try:
        # The server says when it listens: wait for that line, not for a guessed time.
        while True:
            try:
                line = lines.get(timeout=WAIT_MS / 1000)
            except queue.Empty:
                pytest.fail("jupyter lab did not start in time:\n" + "".join(log[-40:]))
            if not line:
                pytest.fail("jupyter lab exited:\n" + "".join(log[-40:]))
            if f"127.0.0.1:{port}/lab" in line:
                break
        yield Lab(base, token, "preview.ipynb")
    finally:
        _stop_lab(server, base, token)
        reader.join(10)
        if server.stderr is not None:
            server.stderr.close()
        print("".join(log[-20:]), file=sys.stderr)  # shown by pytest when the test failed


def _stop_lab(server: subprocess.Popen[str], base: str, token: str) -> None:
    """Shut the kernels down, then the server; kill it if it does not go."""
    if server.poll() is None:
        headers = {"Authorization": f"token {token}"}
        try:
            for kernel in requests.get(base + "api/kernels", headers=headers, timeout=5).json():
                requests.delete(base + f"api/kernels/{kernel['id']}", headers=headers, timeout=10)
        except (requests.RequestException, ValueError):
            pass  # the server's own shutdown below stops its kernels too
        server.send_signal(signal.SIGTERM)
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


@pytest.fixture
def page(tmp_path: Path, lab: Lab) -> Iterator[Any]:
    """A Chromium page 1024 px wide (Debian's browser, a fresh profile)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": WIDTH, "height": HEIGHT},
        )
        try:
            context.set_default_timeout(WAIT_MS)
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def _server_state(emulator: cm.Emulator) -> dict[int, dict[str, Any]]:
    """Every customer's attributes on the server (tags as a set: the API keeps no order)."""
    with requests.Session() as session:
        session.auth = (emulator.token, emulator.secret)
        answer = session.get(emulator.url + "customers", params={"per_page": 200}, timeout=10)
    answer.raise_for_status()
    entries = answer.json()["entries"]
    return {e["id"]: e["attributes"] | {"tags": sorted(e["attributes"]["tags"])} for e in entries}


def _keep(path: Path) -> None:
    keep = os.environ.get("CM_FRAMES_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(path, Path(keep).with_name(path.name))
    print(f"screenshot: {path}", file=sys.stderr)


def _layout(page: Any) -> dict[str, Any]:
    """Where the widget's parts are, measured in the page."""
    measured: dict[str, Any] = page.evaluate(
        """() => {
        const box = (el) => el && el.getBoundingClientRect().toJSON();
        const table = document.querySelector("table.cm-frames-changes");
        const output = table.closest(".jp-OutputArea-output");
        const apply = [...document.querySelectorAll("button.widget-button")]
            .find((b) => b.textContent.includes("Apply"));
        const rows = [...table.querySelectorAll("tbody tr")].map((r) => r.getBoundingClientRect().height);
        const cells = [...table.querySelectorAll("tr:first-child td, tr:first-child th")];
        return {
            table: box(table), output: box(output), apply: box(apply), rows: rows,
            overflowing: cells.filter((c) => c.getBoundingClientRect().right > box(output).right + 0.5).length,
        };
    }"""
    )
    return measured


# A table cell's border colour and the theme's --jp-border-color2, both as computed.
BORDER_COLOURS = """() => {
    const cell = document.querySelector("table.cm-frames-changes td");
    const probe = document.createElement("div");
    probe.style.borderBottom = "1px solid var(--jp-border-color2)";
    cell.parentElement.appendChild(probe);
    const theme = getComputedStyle(probe).borderBottomColor;
    probe.remove();
    return {cell: getComputedStyle(cell).borderBottomColor, theme: theme};
}"""


def _border_colours(page: Any) -> dict[str, str]:
    colours: dict[str, str] = page.evaluate(BORDER_COLOURS)
    return colours


def test_untick_apply_and_undo_in_jupyterlab(
    tmp_path: Path, lab_emulator: cm.Emulator, lab: Lab, page: Any
) -> None:
    from playwright.sync_api import expect

    emulator = lab_emulator
    seeded = _server_state(emulator)
    tagged = list(seeded)[:TAGGED]  # the frame's first rows: both are in the API's order
    expect.set_options(timeout=WAIT_MS)
    page.goto(f"{lab.url}lab/tree/{lab.notebook}?token={lab.token}")
    # The menus work before the notebook is ready: wait for its kernel to be idle first.
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible()

    # Run all cells as a person would: the Run menu.
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    widget = page.locator(".cm-frames-preview")
    expect(widget.get_by_text("Write-back plan")).to_be_visible()
    apply = widget.get_by_role("button", name=f"Apply {TAGGED + SCORED} operations")
    expect(apply).to_be_enabled()

    layout = _layout(page)
    assert layout["overflowing"] == 0, layout  # old → new is not pushed off the right edge
    assert layout["table"]["right"] <= layout["output"]["right"] + 0.5, layout
    assert len(set(layout["rows"])) == 1, layout["rows"]  # every row one line high: no wraps
    assert layout["apply"]["bottom"] < layout["table"]["top"], layout  # Apply before the table
    page.screenshot(path=str(tmp_path / "jupyterlab-planned-1024.png"))
    _keep(tmp_path / "jupyterlab-planned-1024.png")
    widget.screenshot(path=str(tmp_path / "jupyterlab-widget-1024.png"))  # all of it, scrolled
    _keep(tmp_path / "jupyterlab-widget-1024.png")

    widget.get_by_label("custom.lab_score").uncheck()
    apply = widget.get_by_role("button", name=f"Apply {TAGGED} operations")
    expect(apply).to_be_enabled()  # the kernel took the untick: the button says what it sends
    expect(widget.get_by_text("left out: custom.lab_score")).to_be_visible()

    apply.click()
    expect(widget.get_by_text(f"applied {TAGGED} of {TAGGED}", exact=True)).to_be_visible()
    expect(widget.get_by_text(f"{TAGGED} of {TAGGED} operations are on the server")).to_be_visible()
    expect(widget.get_by_role("button", name=f"Applied {TAGGED}")).to_be_disabled()
    expect(widget.get_by_label("custom.lab_score")).to_be_disabled()
    page.screenshot(path=str(tmp_path / "jupyterlab-applied-1024.png"))
    _keep(tmp_path / "jupyterlab-applied-1024.png")

    after = _server_state(emulator)
    expected = {
        c: a | {"tags": sorted([*a["tags"], "lab_hot"])} if c in tagged else a
        for c, a in seeded.items()
    }
    assert after == expected  # exactly the ticked change, and not the unticked lab_score
    assert all("lab_score" not in a["custom"] for a in after.values())

    widget.get_by_role("button", name=f"Undo {TAGGED}").click()
    expect(widget.get_by_text(f"undone {TAGGED} of {TAGGED}", exact=True)).to_be_visible()
    expect(widget.get_by_text("this apply wrote are reverted")).to_be_visible()
    expect(widget.get_by_role("button", name="Undone")).to_be_disabled()
    assert _server_state(emulator) == seeded

    # The same widget in the dark theme: its borders follow the theme's colour.
    light = _border_colours(page)
    page.evaluate(
        "() => window.jupyterapp.commands.execute("
        "'apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    expect(page.locator("body[data-jp-theme-light='false']")).to_be_attached()
    # Wait until the dark style sheet is in force (the theme's own colour has changed).
    page.wait_for_function(f"(light) => ({BORDER_COLOURS})().theme !== light", arg=light["theme"])
    expect(page.locator("#jupyterlab-splash")).to_have_count(0)  # nothing covers the widget
    dark = _border_colours(page)
    assert dark["cell"] == dark["theme"], dark
    assert dark["cell"] != light["cell"], (light, dark)
    page.screenshot(path=str(tmp_path / "jupyterlab-dark-1024.png"))
    _keep(tmp_path / "jupyterlab-dark-1024.png")
