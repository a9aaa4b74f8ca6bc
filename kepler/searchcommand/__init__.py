"""The ``kepler`` custom search command (protocol v2), as it runs inside Splunk's Python.

Standard library only (plus the app's vendored splunklib to read settings from splunkd):
no numpy, pandas or pyarrow. Chunks of Splunk's CSV are relayed to the bridge as bytes; no
record is parsed here.
"""
