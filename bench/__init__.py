"""Kepler's benchmarks: ``make bench`` measures, side by side in one run, what Kepler costs
over doing the same work in-process, and writes the figures to ``docs/benchmarks.md``.

Timings are reported, never asserted. Each section is one function of
:mod:`bench.run`'s ``SECTIONS`` list.
"""
