"""The committed notebooks are executed, clean and safe to publish (no kernel needed).

nbval (``pytest --nbval notebooks/``) re-runs them and compares every output; these checks
cover what it does not: that they were committed executed, in order, without errors, that no
cell shows a secret, that every plot of ``df.chartmogul.plot`` is shown, and that outputs are
ignored only where they truly vary.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode

from cm_frames.analysis.plotting import PlotMethods

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = [
    "01_quickstart.ipynb",
    "02_segmentation.ipynb",
    "03_writeback.ipynb",
    "04_todays_api.ipynb",
]
IGNORE = "# NBVAL_IGNORE_OUTPUT"
# Cells whose output varies by nature: the preview widget (model ids). Any other ignored cell
# hides output that nbval should be checking.
VARYING_CALLS = ("chartmogul.preview(",)


def _read(name: str) -> NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    return notebook


def _code_cells(notebook: NotebookNode) -> list[NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _output_texts(cell: NotebookNode) -> list[str]:
    texts: list[str] = []
    for output in cell.outputs:
        if "text" in output:
            texts.append(str(output.text))
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/"):
                texts.append(str(value))
    return texts


@pytest.mark.parametrize("name", NAMES)
def test_notebook_was_committed_executed_in_order_without_errors(name: str) -> None:
    notebook = _read(name)
    cells = _code_cells(notebook)

    assert notebook.metadata.kernelspec.name == "python3"
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    for cell in cells:
        assert all(output.output_type != "error" for output in cell.outputs), cell.source
        streams = [o for o in cell.outputs if o.output_type == "stream"]
        assert all(o.name == "stdout" for o in streams), f"stderr output in: {cell.source}"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_starts_its_own_emulator_and_stops_it_last(name: str) -> None:
    cells = _code_cells(_read(name))
    sources = [cell.source for cell in cells]

    assert any("cm.Emulator(" in source and "emu.start()" in source for source in sources)
    assert "emu.stop()" in sources[-1]


@pytest.mark.parametrize("name", NAMES)
def test_no_cell_shows_the_secret(name: str) -> None:
    for cell in _code_cells(_read(name)):
        for line in cell.source.splitlines():
            if ".secret" in line:
                # Only ever handed to the client, never printed or displayed.
                assert line.strip().startswith("client = cm.Client(emu.token, emu.secret"), line
        for text in _output_texts(cell):
            assert not re.search(r"secret\s*[=:]", text, flags=re.IGNORECASE), text
            assert "Authorization" not in text


@pytest.mark.parametrize("name", NAMES)
def test_outputs_are_ignored_only_where_they_vary(name: str) -> None:
    for cell in _code_cells(_read(name)):
        if IGNORE in cell.source:
            assert any(call in cell.source for call in VARYING_CALLS), cell.source


def test_the_notebooks_show_every_plot() -> None:
    # The reference's plots in the segmentation notebook, the MRR plot with today's API.
    cells = _code_cells(_read("02_segmentation.ipynb")) + _code_cells(_read("04_todays_api.ipynb"))
    plots = [
        name
        for name, _ in inspect.getmembers(PlotMethods, inspect.isfunction)
        if not name.startswith("_")
    ]
    assert len(plots) == 8

    for plot in plots:
        drawing = [cell for cell in cells if f"chartmogul.plot.{plot}(" in cell.source]
        assert drawing, f"df.chartmogul.plot.{plot} is not shown"
        assert all(
            any("image/png" in output.get("data", {}) for output in cell.outputs)
            for cell in drawing
        ), f"df.chartmogul.plot.{plot} has no image in the committed notebook"


def test_notebooks_folder_holds_no_checkpoints() -> None:
    assert not list(NOTEBOOKS.rglob(".ipynb_checkpoints"))
    assert (NOTEBOOKS / "nbval_sanitize.cfg").is_file()
