"""examples/quickstart.ipynb runs in a real kernel against the embedded stack, and what a
notebook shows without ipywidgets: the progress line as HTML, updated in place."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from kepler._stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.ipynb"
CELL_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    s = LocalStack(tmp_path_factory.mktemp("nb-stack"), beat=False, concurrency=2)
    s.start()
    yield s
    s.stop()


def run(nb: Any, cwd: Path) -> Any:
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": cwd}}
    )
    return client.execute()


def outputs_of(cell: Any) -> list[dict[str, Any]]:
    return [dict(o) for o in cell.get("outputs", [])]


def mimetypes(cell: Any) -> set[str]:
    return {m for o in outputs_of(cell) for m in (o.get("data") or {})}


def cell_with(nb: Any, text: str) -> Any:
    return next(c for c in nb.cells if c.cell_type == "code" and text in c.source)


@pytest.mark.system
def test_quickstart_notebook_runs_and_shows_tables_and_charts(
    stack: LocalStack, tmp_path: Path
) -> None:
    nb = nbformat.read(QUICKSTART, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = f"URL = {stack.url!r}\nTOKEN = {stack.token!r}"
    done = run(nb, tmp_path)

    for cell in done.cells:
        if cell.cell_type == "code":
            errors = [o for o in outputs_of(cell) if o["output_type"] == "error"]
            assert not errors, (cell.source, errors)
            warned = [o for o in outputs_of(cell) if o.get("name") == "stderr"]
            assert not any("Warning" in o["text"] for o in warned), (cell.source, warned)

    fit = cell_with(done, '"RandomForestClassifier"')
    html = "".join(o["data"].get("text/html", "") for o in outputs_of(fit) if "data" in o)
    assert "fit pump@1" in html and "accuracy" in html
    # Without ipywidgets the fit's progress is an HTML line that ends at 100%.
    assert importlib.util.find_spec("ipywidgets") is None
    assert "kepler-progress" in html and "fit: 100%" in html and "elapsed" in html

    assert "image/png" in mimetypes(cell_with(done, "clf.plot()"))
    assert "image/png" in mimetypes(cell_with(done, 'reg.plot("residuals")'))
    assert "image/png" in mimetypes(cell_with(done, "best.plot()"))
    # The hotter window drifts on temp and not on the untouched line.
    drift = "".join(
        o["data"].get("text/html", "") for o in outputs_of(cell_with(done, "kp.drift(hotter"))
    )
    assert "temp" in drift and "True" in drift and "line" in drift
    assert "image/png" in mimetypes(cell_with(done, "kp.plot_drift(drift)"))
    automl = cell_with(done, "kp.automl(")
    automl_html = "".join(o["data"].get("text/html", "") for o in outputs_of(automl) if "data" in o)
    assert "AutoML pump_auto@1" in automl_html and "leaderboard" in automl_html
    assert "of 1:00 budget" in automl_html  # the progress line knows the time budget
    assert "pump@1" in "".join(
        o["data"].get("text/html", "") for o in outputs_of(cell_with(done, 'kp.summary("pump")'))
    )
    for text in ("kp.models()", "kp.jobs()", "scored"):
        assert "text/html" in mimetypes(cell_with(done, text)), text


@pytest.mark.system
def test_progress_without_ipywidgets_is_an_html_line_updated_in_place(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from kepler._progress import progress_bar\n"
            "bar = progress_bar('automl', enabled=True, budget_s=90)\n"
            "bar.update(40, '3 trials done')\n"
            "bar.update(100, 'done')\n"
            "bar.close()\n"
            "type(bar).__name__"
        )
    ]
    nb.cells.append(nbformat.v4.new_code_cell("bar.render(40, '3 trials done')"))
    done = run(nb, tmp_path)
    outputs = outputs_of(done.cells[0])
    # One display, rewritten in place (nbclient applies update_display_data to it).
    shown = [o for o in outputs if o["output_type"] == "display_data"]
    assert len(shown) == 1
    last = shown[0]["data"]["text/html"]
    assert "automl: 100%" in last and "elapsed 0:0" in last and "of 1:30 budget" in last
    assert "done" in last and "left" not in last
    assert not any(o.get("name") == "stderr" for o in outputs)
    result = next(o for o in outputs if o["output_type"] == "execute_result")
    assert result["data"]["text/plain"] == "'HtmlBar'"
    midway = next(o for o in outputs_of(done.cells[1]) if o["output_type"] == "execute_result")
    text = midway["data"]["text/plain"]
    assert "automl:  40% |██████████" in text and "1:2" in text and "left  3 trials done" in text
