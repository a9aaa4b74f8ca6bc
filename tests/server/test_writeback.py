"""Scored rows as HEC events, and where the HEC settings for a request come from."""

from __future__ import annotations

from kepler.hec import HecSettings
from kepler.server.writeback import hec_target, rows_to_events


def test_rows_become_events_with_their_time_and_no_splunk_internals() -> None:
    rows = [
        {"_time": "1700000000.5", "_raw": "x", "temp": "12.5", "predicted(failure)": "no"},
        {"_time": "", "temp": None, "predicted(failure)": "yes", "score": float("nan")},
    ]
    first, second = rows_to_events(rows, index="scores", sourcetype=None, source="kepler:apply:p@1")
    assert first == {
        "event": {"temp": "12.5", "predicted(failure)": "no"},
        "time": 1700000000.5,
        "index": "scores",
        "sourcetype": "kepler:score",
        "source": "kepler:apply:p@1",
    }
    assert second["event"] == {"predicted(failure)": "yes"} and "time" not in second


def test_headers_override_the_bridges_settings() -> None:
    base = HecSettings(url="https://own:8088", token="own-token", index="kepler", ack=True)
    assert hec_target(base, {}) is base
    assert hec_target(base, {"X-Kepler-Hec-Url": "https://page:8088"}) is base  # no token
    page = hec_target(
        base,
        {
            "x-kepler-hec-url": "https://page:8088/services/collector",
            "x-kepler-hec-token": "page-token",
            "x-kepler-hec-ack": "false",
        },
    )
    assert page.url == "https://page:8088"
    assert page.token is not None and page.token.get_secret_value() == "page-token"
    assert (page.ack, page.verify_tls, page.index) == (False, True, "kepler")
    assert "page-token" not in repr(page)
