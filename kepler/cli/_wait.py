"""Bounded waits for a job: every CLI wait ends by ``--timeout`` with a clear error, and
shows a progress bar on stderr when that is a terminal (never in piped output)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer

from kepler.cli._output import fail

DEFAULT_TIMEOUT_S = 600.0
LONG_POLL_S = 10.0  # the longest one request waits; the bridge allows 30

Timeout = Annotated[
    float,
    typer.Option(
        "--timeout", min=1.0, help="Seconds to wait at most; exit 1 if the job is still running."
    ),
]


def wait_for_job(client: Any, job_id: str, timeout: float, *, show: str | None = None) -> Any:
    """The job once finished (a :class:`kepler.core.wire.JobView`), long-polling the
    bridge; ``timeout`` seconds at most, then ``error:`` and exit status 1 (the job goes
    on: cancel it with `kepler job cancel`). ``show`` names a progress bar (TTY only)."""
    from kepler.core.wire import JobView

    deadline = time.monotonic() + timeout
    with _progress(show) as update:
        job = JobView.from_dict(client.job(job_id))
        while not job.finished:
            update(job.percent, job.message)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            step = min(LONG_POLL_S, max(0.1, left))
            job = JobView.from_dict(client.job(job_id, wait=step, since=job.updated_at))
        update(job.percent, job.message)
    if not job.finished:
        fail(
            f"job {job_id} is still {job.state} ({job.percent}%"
            f"{', ' + job.message if job.message else ''}) after {timeout:g} s; wait longer "
            f"with --timeout, follow it with `kepler job show {job_id} --wait`, or stop it "
            f"with `kepler job cancel {job_id}`"
        )
    return job


@contextlib.contextmanager
def _progress(name: str | None) -> Iterator[Callable[[int, str], None]]:
    if name is None or not sys.stderr.isatty():
        yield lambda percent, message: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
        console=Console(stderr=True),
        transient=False,
    )
    task = bar.add_task(name, total=100, message="")
    with bar:
        yield lambda percent, message: bar.update(task, completed=percent, message=message)
