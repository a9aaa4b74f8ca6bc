"""Kepler's core: the model-spec language, algorithm metadata and the exception tree.

Standard library only. This package also runs inside Splunk's own Python, which has no
numpy, pandas, pyarrow or network libraries: keep it that way (a test imports it under
``python -S`` with those modules blocked).
"""
