"""The fault suite: each test breaks one thing Kepler depends on while a real stack runs
(``kepler._stack.LocalStack``: the bridge under uvicorn, workers as processes) and checks
what users are promised: nothing accepted is lost or duplicated, requests past a bound fail
at once with a clear error, and nothing hangs (every wait has a bound that fails the test).

One file per dependency: ``test_hec_faults.py`` (Splunk's HTTP Event Collector, with the
receiver double of ``tests/hec/receiver.py``), others as they come.
"""
