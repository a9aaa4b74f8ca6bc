"""Where the command finds the bridge: environment outside Splunk, setup page inside."""

from __future__ import annotations

import json

import pytest

from kepler.core.errors import BadParameter
from kepler.searchcommand.config import (
    Config,
    from_environ,
    from_settings,
    load,
)


def test_environment_outside_splunk() -> None:
    cfg = from_environ(
        {"KEPLER_URL": "https://b:8765", "KEPLER_TOKEN": "t0k", "KEPLER_CA_BUNDLE": "/ca.pem"}
    )
    assert cfg == Config(url="https://b:8765", token="t0k", verify=True, ca_bundle="/ca.pem")
    assert from_environ({}) is None
    assert load({}, env={"KEPLER_URL": "http://x", "KEPLER_TOKEN": "y"}).url == "http://x"


def test_config_repr_never_shows_token() -> None:
    assert "s3cret" not in repr(Config(url="u", token="s3cret"))


def test_settings_stanza_and_secrets_make_config() -> None:
    cfg = from_settings(
        {
            "url": "https://bridge:8765",
            "verify_tls": "0",
            "ca_bundle": "",
            "read_timeout": "15",
            "connect_timeout": "10",
            "token": "******",
        },
        {"token": "abc"},
    )
    assert (cfg.url, cfg.token, cfg.verify, cfg.ca_bundle, cfg.timeout) == (
        "https://bridge:8765",
        "abc",
        False,
        None,
        15.0,
    )
    assert from_settings({"url": "https://b"}, {}).verify is True  # verification on by default


def test_hec_tab_becomes_headers_and_never_shows_in_repr() -> None:
    cfg = from_settings(
        {"url": "https://bridge:8765"},
        {"token": "bridge-token"},
        {"url": "https://splunk:8088", "index": "scores", "use_ack": "1", "verify_tls": "0"},
        {"token": "hec-secret"},
    )
    assert cfg.hec_headers() == {
        "X-Kepler-Hec-Url": "https://splunk:8088",
        "X-Kepler-Hec-Token": "hec-secret",
        "X-Kepler-Hec-Ack": "true",
        "X-Kepler-Hec-Verify-Tls": "false",
        "X-Kepler-Hec-Index": "scores",
    }
    assert "hec-secret" not in repr(cfg) and "bridge-token" not in repr(cfg)
    # No HEC tab (or no token on it): no headers, the bridge's own KEPLER_HEC_* apply.
    assert from_settings({"url": "https://b"}, {}).hec_headers() == {}
    assert (
        from_settings({"url": "https://b"}, {}, {"url": "https://s:8088"}, {}).hec_headers() == {}
    )


def test_job_timeout_and_progress_interval_from_environment_or_stanza() -> None:
    base = {"KEPLER_URL": "http://x", "KEPLER_TOKEN": "y"}
    cfg = from_environ(base)
    assert cfg is not None and (cfg.job_timeout, cfg.progress_interval) == (3600.0, 2.0)
    cfg = from_environ({**base, "KEPLER_JOB_TIMEOUT": "90", "KEPLER_PROGRESS_INTERVAL": "0.5"})
    assert cfg is not None and (cfg.job_timeout, cfg.progress_interval) == (90.0, 0.5)
    stanza = {"url": "https://b", "job_timeout": "120", "progress_interval": "5"}
    assert from_settings(stanza, {}).progress_interval == 5.0
    assert from_settings({"url": "https://b", "progress_interval": ""}, {}).progress_interval == 2.0


@pytest.mark.parametrize("value", ["0", "31", "soon", "-2"])
def test_a_bad_progress_interval_says_what_is_allowed(value: str) -> None:
    base = {"KEPLER_URL": "http://x", "KEPLER_TOKEN": "y"}
    with pytest.raises(BadParameter, match=r"KEPLER_PROGRESS_INTERVAL .* from 0\.1 to 30"):
        from_environ({**base, "KEPLER_PROGRESS_INTERVAL": value})
    with pytest.raises(BadParameter, match=r"progress_interval in kepler_settings\.conf"):
        from_settings({"url": "https://b", "progress_interval": value}, {})


def test_setup_refusals_say_what_is_wrong() -> None:
    from kepler.core.errors import BridgeUnavailable, Forbidden, Unauthorized
    from kepler.searchcommand.config import setup_error

    ours = json.dumps({"error": {"code": "forbidden", "message": "ask for kepler_user"}})
    assert isinstance(setup_error(403, ours.encode(), "carol"), Forbidden)
    splunkd_403 = (
        b'{"messages":[{"type":"ERROR","text":"You (user=carol) do not have permission"}]}'
    )
    refused = setup_error(403, splunkd_403, "carol")
    assert isinstance(refused, Forbidden) and "'kepler_user'" in refused.message
    assert "carol" in refused.message
    unset = json.dumps({"error": {"code": "not_configured", "message": "Kepler is not set up"}})
    assert setup_error(404, unset.encode(), "a").message == "Kepler is not set up"
    missing = setup_error(404, b"<response/>", "a")
    assert "kepler/credentials" in missing.message and "not set up" not in missing.message
    assert isinstance(setup_error(401, b"", "a"), Unauthorized)
    other = setup_error(500, b"", "a")
    assert isinstance(other, BridgeUnavailable) and "HTTP 500" in other.message
    assert "not set up" not in other.message


def test_credentials_answer_becomes_the_config() -> None:
    from kepler.searchcommand.config import from_credentials

    cfg = from_credentials(
        {
            "user": "alice",
            "roles": ["user", "kepler_user"],
            "level": "user",
            "bridge": {"url": "https://b:8765", "token": "u-tok", "verify_tls": "0"},
            "hec": {"url": "https://h:8088", "token": "h-tok", "index": "s", "use_ack": "1"},
        }
    )
    assert (cfg.url, cfg.token, cfg.verify) == ("https://b:8765", "u-tok", False)
    assert (cfg.hec_url, cfg.hec_token, cfg.hec_index, cfg.hec_ack) == (
        "https://h:8088",
        "h-tok",
        "s",
        True,
    )
    assert cfg.identity_headers() == {
        "X-Kepler-User": "alice",
        "X-Kepler-Roles": "user,kepler_user",
    }
    assert "u-tok" not in repr(cfg) and "h-tok" not in repr(cfg)


def test_outside_splunk_the_search_user_is_still_named() -> None:
    cfg = load({"username": "dana"}, env={"KEPLER_URL": "http://x", "KEPLER_TOKEN": "y"})
    assert cfg.identity_headers() == {"X-Kepler-User": "dana"}
