"""Fault tests: real processes killed, signalled and restarted under work (a worker
SIGKILLed mid-fit, `kepler up` sent SIGTERM, redis-server restarted, HEC failing). Each
checks that the stack recovers, or fails with a reason, within a bound; none mocks our own
components. Shared fixtures live in tests/conftest.py."""
