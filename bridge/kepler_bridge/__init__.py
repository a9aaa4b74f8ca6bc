"""Kepler's bridge: the HTTPS service the SDK and the Splunk command talk to."""
