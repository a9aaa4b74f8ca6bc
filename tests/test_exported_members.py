"""`kepler.__all__` is honest: every name exists, every public name is listed."""

from __future__ import annotations

import kepler


def test_all_names_resolve() -> None:
    for name in kepler.__all__:
        assert getattr(kepler, name) is not None, name


def test_public_functions_are_listed() -> None:
    sdk = (
        "fit",
        "apply",
        "predict",
        "models",
        "summary",
        "delete_model",
        "datasets",
        "dataset",
        "jobs",
        "Client",
        "to_splunk",
    )
    splunk = ("from_splunk", "schedule", "schedules", "unschedule", "SearchFailed")
    monitoring = ("drift", "baseline", "score", "monitor", "monitors", "remove_monitor")
    for name in sdk + splunk + monitoring:
        assert name in kepler.__all__


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        kepler.nope  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("kepler.nope should not exist")
