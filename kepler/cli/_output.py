"""How the CLI prints: ``--json`` for machines, tables for people, errors on stderr.

Colours and rich tables only on a terminal; piped output is plain text with no ANSI
escapes, so ``grep`` and ``awk`` see the same columns a person does.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, NoReturn

import typer

JsonOut = Annotated[
    bool, typer.Option("--json", help="Machine-readable JSON on stdout (stable keys).")
]


def is_tty() -> bool:
    return sys.stdout.isatty()


def fail(message: object, code: int = 1) -> NoReturn:
    """``error: <message>`` on stderr, exit ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def kepler_errors() -> Iterator[None]:
    """Turn Kepler's typed errors into one ``error:`` line and exit status 1; a refusal
    for want of the admin level says which token to use."""
    from kepler.core.errors import Forbidden, KeplerError

    try:
        yield
    except Forbidden as exc:
        fail(
            f"{exc.message}. This needs the admin token: set KEPLER_TOKEN to it "
            "(`kepler up` keeps it in ~/.kepler/token), not the user-level token"
        )
    except KeplerError as exc:
        fail(exc.message)


def client() -> Any:
    from kepler._client import Client

    return Client()


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(_plain(value), indent=2, sort_keys=True))


def _plain(value: Any) -> Any:
    """JSON-safe: NaN becomes null, timestamps ISO text, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return str(value)


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    empty: str,
    colours: dict[str, dict[str, str]] | None = None,
) -> None:
    """Rows as a table: rich with colours on a terminal, aligned plain text otherwise.
    ``colours`` maps a column to the colour of each of its values (``{"state": {"failed":
    "red"}}``)."""
    if not rows:
        typer.echo(empty)
        return
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    if is_tty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        out = Table(header_style="bold cyan")
        for c in columns:
            out.add_column(c)
        painted = colours or {}
        for line in cells:
            out.add_row(
                *(
                    Text(v, style=painted.get(c, {}).get(v, ""))
                    for c, v in zip(columns, line, strict=True)
                )
            )
        Console().print(out)
        return
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    typer.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for line in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """``key: value`` lines (a record); keys bold on a terminal."""
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        label = f"{key}:".ljust(width + 1)
        typer.echo(f"{typer.style(label, bold=True) if is_tty() else label} {_cell(value)}")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def age(timestamp: float | None, now: float | None = None) -> str:
    """``12s``, ``5m``, ``3h``, ``2d`` since ``timestamp`` (epoch seconds)."""
    if not timestamp or timestamp != timestamp:
        return ""
    s = max(0.0, (now or time.time()) - float(timestamp))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{int(s // size)}{unit}"
    return f"{int(s)}s"


def style(text: str, colour: str) -> str:
    return typer.style(text, fg=colour) if is_tty() else text
