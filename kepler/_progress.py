"""Progress of a job where the user looks: a terminal, or Jupyter with or without ipywidgets.

tqdm's notebook bar needs ``ipywidgets``; without it tqdm warns and shows nothing. In a
Jupyter kernel without ``ipywidgets`` the bar is a line of HTML that one display handle
rewrites in place, so a notebook always shows the percentage, the elapsed time and, for a
time-budgeted AutoML search, the time left. Everywhere else it is tqdm's text bar (on a
terminal only, as before).
"""

from __future__ import annotations

import html
import importlib.util
import sys
import time
from typing import Any, Protocol

BAR_WIDTH = 24


class Bar(Protocol):
    def update(self, percent: int, message: str) -> None: ...

    def close(self) -> None: ...


def progress_bar(desc: str, *, enabled: bool, budget_s: float | None = None) -> Bar:
    """The bar for this environment; ``budget_s`` (AutoML's time budget) adds time left."""
    if not enabled:
        return _Quiet()
    if in_jupyter_kernel() and importlib.util.find_spec("ipywidgets") is None:
        return HtmlBar(desc, budget_s=budget_s)
    return _Tqdm(desc, budget_s=budget_s)


def in_jupyter_kernel() -> bool:
    """True inside a Jupyter kernel (IPython is only looked at when already imported)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def clock(seconds: float) -> str:
    """``seconds`` as ``m:ss`` (``h:mm:ss`` from an hour)."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _Timing:
    def __init__(self, budget_s: float | None) -> None:
        self.started = time.monotonic()
        self.budget_s = budget_s

    def text(self, percent: int) -> str:
        elapsed = time.monotonic() - self.started
        out = f"elapsed {clock(elapsed)}"
        if self.budget_s is not None:
            left = clock(self.budget_s - elapsed)
            out += f", {left} left" if percent < 100 else f" of {clock(self.budget_s)} budget"
        return out


class _Quiet:
    def update(self, percent: int, message: str) -> None:
        return None

    def close(self) -> None:
        return None


class _Tqdm:
    """tqdm's own bar: a notebook widget with ipywidgets, text on a terminal, else none."""

    def __init__(self, desc: str, *, budget_s: float | None) -> None:
        from tqdm.auto import tqdm

        self._timing = _Timing(budget_s)
        self._bar = tqdm(
            total=100,
            desc=desc,
            unit="%",
            disable=None,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
        )

    def update(self, percent: int, message: str) -> None:
        self._bar.n = percent
        text = f"{self._timing.text(percent)}  {message}".strip()
        self._bar.set_postfix_str(text, refresh=True)

    def close(self) -> None:
        self._bar.close()


class HtmlBar:
    """A text bar as HTML in one display handle: ``fit:  40% |#####.....| elapsed 0:03``."""

    def __init__(self, desc: str, *, budget_s: float | None = None) -> None:
        from IPython.display import HTML, display

        self._html = HTML
        self.desc = desc
        self._timing = _Timing(budget_s)
        self._last = ""
        self._handle: Any = display(HTML(self.render(0, "")), display_id=True)

    def render(self, percent: int, message: str) -> str:
        percent = min(100, max(0, percent))
        filled = round(BAR_WIDTH * percent / 100)
        bar = "█" * filled + "░" * (BAR_WIDTH - filled)
        line = f"{self.desc}: {percent:3d}% |{bar}| {self._timing.text(percent)}"
        if message:
            line += f"  {message}"
        return f'<pre class="kepler-progress" style="margin:0">{html.escape(line)}</pre>'

    def update(self, percent: int, message: str) -> None:
        body = self.render(percent, message)
        if body != self._last and self._handle is not None:
            self._handle.update(self._html(body))
            self._last = body

    def close(self) -> None:
        return None
