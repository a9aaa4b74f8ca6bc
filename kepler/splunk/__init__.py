"""Data out of Splunk through splunkd's REST API (splunklib's service, extra ``splunk``).

``settings`` says where splunkd is and how to log in, ``service`` logs in and turns
splunkd's error answers into Kepler's error tree, ``results`` builds typed frames from
result streams batch by batch, ``search`` runs a search and returns its DataFrame.
"""
