"""Kepler's SDK: train, version and serve models on Splunk data from Python."""

__version__ = "0.1.0"
