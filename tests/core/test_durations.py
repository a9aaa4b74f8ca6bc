import pytest

from kepler.core.durations import duration_seconds


@pytest.mark.parametrize(
    ("value", "bare", "seconds"),
    [
        ("90", "s", 90.0),
        (90, "s", 90.0),
        ("5", "m", 300.0),
        (2, "m", 120.0),
        ("250ms", "s", 0.25),
        ("30 SECS", "m", 30.0),
        ("10mins", "s", 600.0),
        ("1.5h", "s", 5400.0),
        ("2hrs", "s", 7200.0),
        ("1d", "m", 86400.0),
    ],
)
def test_duration_seconds_reads_numbers_and_units(value: object, bare: str, seconds: float) -> None:
    assert duration_seconds(value, bare=bare) == seconds


@pytest.mark.parametrize("value", ["ten minutes", "-5m", "5 weeks", "10y", "", True, None])
def test_duration_seconds_is_none_for_what_is_not_a_duration(value: object) -> None:
    assert duration_seconds(value) is None
