"""A monitor's saved search made, updated and removed in the splunkd double over HTTP with
splunklib, as the bridge does it; and each way Splunk can say no."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from kepler.splunk import saved_searches
from kepler.splunk.settings import SplunkSettings
from tests.splunk.splunkd_rest import SplunkdRest

TOKEN = "saved-search-test-token"


@pytest.fixture
def splunkd() -> Iterator[SplunkdRest]:
    with SplunkdRest(tokens=[TOKEN]) as rest:
        yield rest


def settings(rest: SplunkdRest, token: str = TOKEN) -> SplunkSettings:
    return SplunkSettings(url=rest.url, token=SecretStr(token))


def test_create_makes_a_disabled_scheduled_alert_in_the_apps_namespace(
    splunkd: SplunkdRest,
) -> None:
    done = saved_searches.create("pump-drift", "1h", settings(splunkd))
    assert done.to_dict() == {"name": "kepler_drift_pump-drift", "done": True}
    posts = [(m, p) for m, p, _ in splunkd.requests if p.endswith("/saved/searches")]
    assert posts == [("POST", "/servicesNS/nobody/kepler/saved/searches")]
    made = splunkd.saved_searches.get("kepler", "kepler_drift_pump-drift")
    assert made is not None and made.owner == "nobody"
    s = made.settings
    assert (s["disabled"], s["is_scheduled"], s["cron_schedule"]) == ("1", "1", "*/15 * * * *")
    assert (s["alert_type"], s["alert_comparator"], s["alert_threshold"]) == (
        "number of events",
        "greater than",
        "0",
    )
    # It finds what the monitor's runs write: kepler:drift events carrying monitor=<name>.
    assert 'sourcetype=kepler:drift monitor="pump-drift"' in s["search"]
    assert s["search"].startswith("`kepler_events`")
    assert s["dispatch.index_earliest"] == "-15m@m"


def test_a_left_over_saved_search_of_that_name_is_taken_over(splunkd: SplunkdRest) -> None:
    saved_searches.create("pump", "1h", settings(splunkd))
    made = splunkd.saved_searches.get("kepler", "kepler_drift_pump")
    assert made is not None
    made.settings["search"] = "index=old"
    again = saved_searches.create("pump", "5m", settings(splunkd))
    assert again.done
    assert 'monitor="pump"' in made.settings["search"]
    assert "every 5m" in made.settings["description"]
    methods = [(m, p) for m, p, _ in splunkd.requests if "saved/searches" in p]
    assert methods[-1] == ("POST", "/servicesNS/nobody/kepler/saved/searches/kepler_drift_pump")


def test_remove_deletes_it_and_one_already_gone_counts_as_removed(splunkd: SplunkdRest) -> None:
    saved_searches.create("pump", "1h", settings(splunkd))
    saved_searches.create("press", "1h", settings(splunkd))
    assert saved_searches.remove("pump", settings(splunkd)).done
    assert splunkd.saved_searches.names("kepler") == ["kepler_drift_press"]
    assert saved_searches.remove("pump", settings(splunkd)).done  # 404: nothing to do
    deletes = [p for m, p, _ in splunkd.requests if m == "DELETE"]
    assert deletes == ["/servicesNS/nobody/kepler/saved/searches/kepler_drift_pump"] * 2


def test_a_role_without_schedule_search_gets_the_stanza_to_paste(splunkd: SplunkdRest) -> None:
    splunkd.add_session("bob-key", "bob", ["user"], ["search"])
    out = saved_searches.create("pump", "1h", settings(splunkd, "Splunk bob-key"))
    assert not out.done and splunkd.saved_searches.names("kepler") == []
    assert out.reason is not None and "requires capability: schedule_search" in out.reason
    assert "'schedule_search' capability" in out.reason
    assert out.how is not None and "local/savedsearches.conf" in out.how
    assert out.stanza is not None
    stanza = out.stanza.splitlines()
    assert stanza[0] == "[kepler_drift_pump]"
    # The conf file's own names, not the REST ones.
    for line in ("disabled = 1", "enableSched = 1", "counttype = number of events"):
        assert line in stanza
    assert "relation = greater than" in stanza and "quantity = 0" in stanza
    assert not any(line.startswith(("alert_type", "is_scheduled")) for line in stanza)


def test_the_stanza_makes_what_the_rest_call_makes(splunkd: SplunkdRest) -> None:
    """Read back as a conf file, the stanza holds the settings the REST call sent."""
    import configparser

    saved_searches.create("pump", "1h", settings(splunkd))
    made = splunkd.saved_searches.get("kepler", "kepler_drift_pump")
    assert made is not None
    conf = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    conf.optionxform = str  # type: ignore[assignment,method-assign]
    conf.read_string(saved_searches.stanza_for("pump", "1h"))
    names = {
        "enableSched": "is_scheduled",
        "counttype": "alert_type",
        "relation": "alert_comparator",
    }
    names["quantity"] = "alert_threshold"
    written = {names.get(k, k): v for k, v in conf["kepler_drift_pump"].items()}
    assert written == made.settings


def test_splunk_unreachable_or_not_configured_is_reported_not_raised() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = SplunkSettings(url=f"http://127.0.0.1:{port}", token=SecretStr(TOKEN))
    out = saved_searches.create("pump", "1h", down)
    assert not out.done and out.reason is not None and "cannot reach splunkd" in out.reason
    assert out.stanza is not None and TOKEN not in str(out.to_dict())
    gone = saved_searches.remove("pump", down)
    assert not gone.done and gone.stanza is None and "not removed" in str(gone.reason)
    bare = saved_searches.create("pump", "1h", SplunkSettings(url=f"http://127.0.0.1:{port}"))
    assert not bare.done and "no Splunk credentials" in str(bare.reason)


def test_bad_credentials_are_reported_without_the_token(splunkd: SplunkdRest) -> None:
    out = saved_searches.create("pump", "1h", settings(splunkd, "not-the-token"))
    assert not out.done and "refused" in str(out.reason)
    assert "not-the-token" not in str(out.to_dict())
