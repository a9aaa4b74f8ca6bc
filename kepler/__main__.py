"""``python -m kepler``: the same as the ``kepler`` command."""

from kepler.cli import main

main()
