"""Follow one training job across execute chunks: a long poll of the bridge per chunk, an
INFO message each time the job's progress moves, its end, or its timeout.

After the search's last chunk, ``fit`` and ``automl`` answer ``finished: false`` and splunkd
asks again with an empty chunk (as it does for splunklib's generating commands that have
more rows), so each answer carries the progress made since the one before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kepler.core import wire
from kepler.core.errors import JobFailed, from_dict
from kepler.searchcommand.bridge import BridgeClient

DEFAULT_INTERVAL = 2.0  # seconds one execute chunk waits for the job before answering
MAX_INTERVAL = 30.0  # the longest long poll the bridge holds (GET /v1/jobs/{id}?wait=)


class JobWatch:
    """One job as the search shows it: ``poll`` waits at most ``interval`` seconds for the
    job to move and returns the messages to show; the percentage never goes back. Jobs
    come in as the bridge answers them and are kept as :class:`~kepler.core.wire.JobView`."""

    def __init__(
        self,
        bridge: BridgeClient,
        job: dict[str, Any],
        verb: str,
        *,
        timeout: float,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bridge = bridge
        self.job = wire.JobView.from_dict(job)
        self.verb = verb
        self.timeout = timeout
        self.interval = min(max(interval, 0.0), MAX_INTERVAL)
        self._clock = clock
        self.deadline = clock() + timeout
        self.percent = 0
        self._shown: tuple[int, str] = self._step(self.job)

    @property
    def job_id(self) -> str:
        return str(self.job.id)

    @property
    def succeeded(self) -> bool:
        return self.job.succeeded

    def queued(self) -> str:
        """The first message, as the job is handed to the workers."""
        return (
            f"kepler {self.verb}: job {self.job_id} {self.job.state or 'queued'}; "
            "its progress follows in these messages"
        )

    def poll(self) -> list[str]:
        """One long poll: the bridge answers as soon as the job changes, or after ``wait``."""
        wait = max(0.0, min(self.interval, self.deadline - self._clock()))
        params: dict[str, Any] = {"wait": f"{wait:.3f}"}
        if self.job.updated_at is not None:
            params["since"] = repr(float(self.job.updated_at))
        job = self.bridge.json(
            "GET", wire.job(self.job_id), params=params, timeout=self.bridge.timeout + wait
        )
        return self.observe(job)

    def observe(self, job: dict[str, Any]) -> list[str]:
        """Take the job as the bridge answered it: the messages to show now (none when its
        progress did not move); a failed job or a timeout raises the error to show."""
        self.job = view = wire.JobView.from_dict(job)
        if view.state in ("failed", "cancelled"):
            raise from_dict(view.error or {"message": f"the {self.verb} {view.state}"})
        step = self._step(view)
        messages = []
        if step != self._shown:
            self._shown = step
            messages.append(f"kepler {self.verb}: {step[0]}% {step[1]}".rstrip())
        if not self.succeeded and self._clock() > self.deadline:
            raise JobFailed(
                f"the {self.verb} (job {self.job_id}) did not finish within {self.timeout:g} s; "
                "it goes on in the background: follow it with | kepler jobs, or rerun with "
                "async=t"
            )
        return messages

    def _step(self, job: wire.JobView) -> tuple[int, str]:
        # Lanes of an AutoML search report one after the other: show the furthest.
        self.percent = max(self.percent, job.percent)
        return self.percent, job.message
