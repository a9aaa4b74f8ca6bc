"""A process's HEC senders: bounded for callers' targets, closed cleanly at shutdown; and
where a caller's events may go."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from kepler._stack import wait_until
from kepler.core.errors import Forbidden, HecNotConfigured
from kepler.hec import HecSettings
from kepler.server.senders import SenderPool, hec_target
from tests.hec.receiver import HecReceiver

TOKEN = "12121212-3434-5656-7878-909090909090"


def _hec_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "kepler-hec" and t.is_alive())


def test_callers_targets_are_bounded_and_an_evicted_sender_keeps_its_events(
    tmp_path: Path,
) -> None:
    pool = SenderPool()
    rx = HecReceiver(token=TOKEN).start()
    port = rx.port
    rx.stop()
    threads_before = _hec_threads()
    base = HecSettings(
        url=rx.url,
        token=TOKEN,
        queue_dir=tmp_path / "queue",
        max_senders=2,
        max_retries=0,
        backoff_max=0.2,
        linger=0.01,
        shutdown_timeout=0.5,
    )
    try:
        # Six callers' targets (each its own token): at most two senders stay open.
        for i in range(6):
            target = base.model_copy(update={"token": SecretStr(f"{TOKEN[:-2]}a{i}")})
            lease = pool.lease(target)
            assert lease is not None
            with lease as sender:
                sender.send({"id": i})
                assert sender.flush(timeout=10).spooled == 1
        wait_until(lambda: pool.open_count() <= 2, 30, "evicted senders to close")
        wait_until(
            lambda: not any(t.name == "kepler-hec-close" for t in threading.enumerate()),
            30,
            "the closing threads to end",
        )
        assert _hec_threads() <= threads_before + 2
        # Each event waits in its own target's folder, none lost with its sender.
        folders = [p for p in (tmp_path / "queue").iterdir() if p.is_dir()]
        assert len(folders) == 6
        assert all(len(list(f.glob("slot-*/*.hec"))) == 1 for f in folders)

        # The target comes back: a request to it drains its queue, to it alone.
        rx.port = port
        rx.start()
        lease = pool.lease(base.model_copy(update={"token": SecretStr(f"{TOKEN[:-2]}a3")}))
        assert lease is not None
        with lease as sender:
            sender.flush(timeout=30)
        assert [e["event"]["id"] for e in rx.events] == []  # the receiver knows only TOKEN
        own = pool.own(base.model_copy(update={"token": SecretStr(TOKEN)}))
        assert own is not None
        own.send({"id": 99})
        own.flush(timeout=30)
        assert [e["event"]["id"] for e in rx.events] == [99]
    finally:
        pool.close(timeout=0)
        rx.stop()
    assert pool.open_count() == 0
    assert _hec_threads() <= threads_before


# -- where a caller's events may go


def test_headers_override_the_bridges_settings() -> None:
    base = HecSettings(
        url="https://own:8088",
        token="own-token",
        index="kepler",
        ack=True,
        allowed_urls="https://page:8088",
    )
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


def _page(url: str, token: str = "page-token", **more: str) -> dict[str, str]:  # noqa: S107
    return {"X-Kepler-Hec-Url": url, "X-Kepler-Hec-Token": token, **more}


def test_caller_target_not_allowed_is_refused_naming_the_setting() -> None:
    base = HecSettings(url="https://own:8088", token="own-token")
    # By default only the bridge's own URL, with whatever token the caller brings.
    assert hec_target(base, _page("https://own:8088/services/collector")).url == "https://own:8088"
    for url in (
        "https://elsewhere:8088",
        "https://own.evil.example:8088",
        "http://own:8088",  # not the same scheme
        "https://own:9999",
        "https://169.254.169.254",
    ):
        with pytest.raises(Forbidden) as refused:
            hec_target(base, _page(url, token="caller-secret"))
        message = refused.value.message
        assert "KEPLER_HEC_ALLOWED_URLS" in message and "https://own:8088" in message
        assert "caller-secret" not in message and refused.value.status == 403
    with pytest.raises(HecNotConfigured, match="not a URL"):  # the string starts alike
        hec_target(base, _page("https://own:8088.evil.example"))
    with pytest.raises(HecNotConfigured, match="user info"):
        hec_target(base, _page("https://own:8088@evil.example"))
    with pytest.raises(HecNotConfigured, match="http"):
        hec_target(base, _page("file:///etc/passwd"))
    # Without a URL of its own and no list, the bridge writes to no caller's target.
    with pytest.raises(Forbidden, match="allowed: none"):
        hec_target(HecSettings(url=""), _page("https://own:8088"))


def test_allowed_urls_are_base_urls_with_an_optional_path_prefix() -> None:
    base = HecSettings(url="", allowed_urls="https://a.example:8088, https://proxy.example/hec")
    assert base.allowed_urls == ["https://a.example:8088", "https://proxy.example/hec"]
    assert hec_target(base, _page("https://A.example:8088")).url == "https://A.example:8088"
    assert hec_target(base, _page("https://proxy.example:443/hec/eu")).token is not None
    for url in ("https://proxy.example/hecx", "https://proxy.example/", "https://a.example"):
        with pytest.raises(Forbidden):
            hec_target(base, _page(url))
    anywhere = HecSettings(url="", allowed_urls="*")
    assert hec_target(anywhere, _page("https://any.example:8088")).url
    with pytest.raises(ValidationError, match="KEPLER_HEC_ALLOWED_URLS"):
        HecSettings(allowed_urls="splunk.example:8088")


def test_tls_verification_off_needs_the_admins_setting_not_just_a_header() -> None:
    base = HecSettings(url="https://own:8088", token="own-token")
    off = _page("https://own:8088", **{"X-Kepler-Hec-Verify-Tls": "false"})
    with pytest.raises(Forbidden) as refused:
        hec_target(base, off)
    assert "KEPLER_HEC_ALLOW_TLS_VERIFY_OFF" in refused.value.message
    allowing = base.model_copy(update={"allow_tls_verify_off": True})
    assert hec_target(allowing, off).verify_tls is False
    assert hec_target(base, _page("https://own:8088")).verify_tls is True
