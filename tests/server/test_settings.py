"""ServerSettings: placeholder secrets are refused, real ones kept secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kepler.server.settings import PLACEHOLDER_SECRETS, ServerSettings


@pytest.mark.parametrize("placeholder", [*sorted(PLACEHOLDER_SECRETS), "  Change-Me "])
def test_placeholder_token_is_refused(placeholder: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        ServerSettings(home=tmp_path, token=placeholder)
    message = str(info.value)
    assert "KEPLER_TOKEN is still the example placeholder" in message
    assert "secrets.token_urlsafe" in message


def test_placeholder_in_the_env_example_is_one_the_settings_refuse() -> None:
    example = Path(__file__).resolve().parents[2] / "packaging" / "kepler.env.example"
    line = next(ln for ln in example.read_text().splitlines() if ln.startswith("KEPLER_TOKEN="))
    assert line.partition("=")[2] in PLACEHOLDER_SECRETS


def test_real_token_is_kept_and_never_shown(tmp_path: Path) -> None:
    s = ServerSettings(home=tmp_path, token="a-long-random-value-nobody-guesses")
    assert s.token is not None
    assert s.token.get_secret_value() == "a-long-random-value-nobody-guesses"
    assert "a-long-random" not in repr(s)


def test_no_token_still_means_the_generated_embedded_one(tmp_path: Path) -> None:
    assert ServerSettings(home=tmp_path).token is None
