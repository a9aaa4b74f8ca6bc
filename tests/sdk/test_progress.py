"""Progress outside Jupyter: tqdm's text bar on a terminal with elapsed time and time left."""

from __future__ import annotations

import io
import sys

import pytest

from kepler._progress import clock, in_jupyter_kernel, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_bar_shows_elapsed_and_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    assert not in_jupyter_kernel()
    bar = progress_bar("automl", enabled=True, budget_s=125)
    bar.update(40, "3 trials done")
    shown = screen.getvalue()
    assert (
        "automl:  40%" in shown and "elapsed 0:00, 2:0" in shown and "left  3 trials done" in shown
    )
    bar.update(100, "done")
    bar.close()
    assert "100%" in screen.getvalue() and "of 2:05 budget" in screen.getvalue()


def test_no_bar_when_turned_off_or_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for stream, enabled in ((Terminal(), False), (io.StringIO(), True)):
        monkeypatch.setattr(sys, "stderr", stream)
        bar = progress_bar("fit", enabled=enabled)
        bar.update(50, "halfway")
        bar.close()
        assert stream.getvalue() == "", enabled


def test_clock_reads_minutes_and_hours() -> None:
    assert [clock(s) for s in (0, 5.9, 75, 3600 + 62, -3)] == [
        "0:00",
        "0:05",
        "1:15",
        "1:01:02",
        "0:00",
    ]
