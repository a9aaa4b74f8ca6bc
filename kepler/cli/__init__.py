"""The ``kepler`` command: the stack's parts, models, jobs, schedules, monitors, files,
validate.

One module per verb family; each adds its commands to :data:`kepler.cli._app.app`.
"""

from __future__ import annotations

from kepler.cli import deploy, files, jobs, models, monitors, schedules, stack, validate
from kepler.cli._app import app

__all__ = ["app", "main"]
_FAMILIES = (stack, models, jobs, schedules, monitors, files, validate, deploy)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
