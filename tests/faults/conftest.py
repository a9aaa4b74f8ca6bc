"""The fault suite: each test breaks one thing Kepler depends on while a real stack runs
(``kepler._stack.LocalStack``: the bridge under uvicorn, workers and beat as processes) and
checks what users are promised: nothing accepted is lost or duplicated, requests past a
bound fail at once with a clear error, a job finishes or fails with a reason, and nothing
hangs (every wait has a bound that fails the test). None mocks our own components.

One file per dependency: ``test_hec_faults.py`` (Splunk's HTTP Event Collector, with the
receiver double of ``tests/hec/receiver.py``), ``test_process_faults.py`` (a worker
SIGKILLed mid-fit, `kepler up` sent SIGTERM, redis-server restarted under load),
``test_bridge_faults.py`` (a bridge killed mid-upload, a delete racing applies on two
bridges). Shared fixtures live in tests/conftest.py.
"""
