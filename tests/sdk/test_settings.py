"""The SDK's settings find a local stack where `kepler up` serves it, from the same
settings (host, port, certificate), unless a URL is given."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kepler._home import stack_url
from kepler._settings import DEFAULT_URL, ClientSettings
from kepler.server.settings import ServerSettings


def test_default_url_is_where_kepler_up_listens_by_default() -> None:
    served = {name: ServerSettings.model_fields[name].default for name in ("host", "port")}
    assert stack_url(served["host"], served["port"], tls=False) == DEFAULT_URL
    assert ClientSettings(url="", home=Path("h")).url == DEFAULT_URL


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ({"port": 9123}, "http://127.0.0.1:9123"),
        ({"host": "0.0.0.0", "port": 9000}, "http://127.0.0.1:9000"),
        ({"host": "::", "port": 9000}, "http://[::1]:9000"),
        ({"host": "::1"}, "http://[::1]:8765"),
        (
            {"host": "kepler.example.com", "tls_certfile": Path("c.pem")},
            "https://kepler.example.com:8765",
        ),
        ({"port": 9123, "tls_certfile": Path("c.pem")}, "https://127.0.0.1:9123"),
    ],
)
def test_url_follows_the_stacks_host_port_and_certificate(given: dict, url: str) -> None:
    assert ClientSettings(url="", **given).url == url


def test_an_explicit_url_wins_over_host_and_port() -> None:
    settings = ClientSettings(url="https://bridge.example.com", port=9123)
    assert settings.url == "https://bridge.example.com"


@pytest.mark.parametrize("port", [0, 70000, "eighty"])
def test_a_bad_port_is_refused_by_name(port: object) -> None:
    with pytest.raises(ValidationError, match="port"):
        ClientSettings(url="", port=port)
