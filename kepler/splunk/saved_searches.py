"""A saved search (an alert, disabled) per monitor in Splunk: ``kepler_drift_<monitor>``.

A monitor writes a ``kepler:drift`` event (with ``monitor=<name>``) when a field crossed
its threshold (:mod:`kepler.server.jobs.monitor`). Its saved search looks for those
events, so an admin enables it in Splunk and routes it to an alert action (email, a
webhook, ...). It is made through splunkd's REST API (``POST
/servicesNS/nobody/<app>/saved/searches``) with the connection searches use
(``KEPLER_SPLUNK_*``), disabled, and removed with the monitor.

Splunk unreachable, not configured or refusing (a role without ``schedule_search``) is
not the monitor's failure: :class:`Outcome` says what was not done, why, and the
``savedsearches.conf`` stanza that does it by hand. Each call to splunkd is bounded by
:data:`CALL_TIMEOUT_S`.

The alert runs every 15 minutes over the events *indexed* in the 15 minutes before
(``dispatch.index_earliest``): a monitor run's event carries the run's start as its time
and reaches the index later, so a window over event time could miss it, and back-to-back
index-time windows see each event once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kepler.core.errors import KeplerError, SplunkError, require
from kepler.splunk.settings import SplunkSettings

PREFIX = "kepler_drift_"
APP = "kepler"  # the Splunk app's id: its saved searches live in its namespace
OWNER = "nobody"  # shared in the app, not private to the user Kepler logs in as
CALL_TIMEOUT_S = 15.0
CRON = "*/15 * * * *"
CONF = "savedsearches.conf"


def name_for(monitor: str) -> str:
    return f"{PREFIX}{monitor}"


def search_for(monitor: str) -> str:
    """One row per model with the monitor's drift events in the window."""
    return (
        f'`kepler_events` sourcetype=kepler:drift monitor="{monitor}" '
        "| stats latest(_time) AS _time latest(version) AS version values(drifted) AS "
        "drifted_fields sum(rows) AS rows count AS drift_events BY model monitor "
        '| eval message="Kepler monitor ".monitor.": model ".model." version ".version'
        '." drifted on ".mvjoin(drifted_fields, ", ")'
    )


def settings_for(monitor: str, every: str) -> dict[str, str]:
    """The saved search's settings under their REST names (``POST saved/searches``)."""
    return {
        "search": search_for(monitor),
        "description": (
            f"Kepler: monitor {monitor} (every {every}) found drift (kepler:drift events). "
            "Made disabled by Kepler: enable it and add an alert action."
        ),
        "disabled": "1",
        "is_scheduled": "1",
        "cron_schedule": CRON,
        "dispatch.earliest_time": "-7d@d",
        "dispatch.latest_time": "now",
        "dispatch.index_earliest": "-15m@m",
        "dispatch.index_latest": "@m",
        "alert_type": "number of events",
        "alert_comparator": "greater than",
        "alert_threshold": "0",
        "alert.track": "1",
        "alert.severity": "4",
        "alert.digest_mode": "1",
        "request.ui_dispatch_app": APP,
        "request.ui_dispatch_view": "kepler_health",
    }


# REST names that savedsearches.conf spells otherwise.
_CONF_NAMES = {
    "is_scheduled": "enableSched",
    "alert_type": "counttype",
    "alert_comparator": "relation",
    "alert_threshold": "quantity",
}


def stanza_for(monitor: str, every: str) -> str:
    """The same saved search as a stanza for the app's ``local/savedsearches.conf``."""
    lines = [f"[{name_for(monitor)}]"]
    for key, value in settings_for(monitor, every).items():
        lines.append(f"{_CONF_NAMES.get(key, key)} = {value}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Outcome:
    """What happened to a monitor's saved search in Splunk: ``done`` (made, or removed);
    else ``reason`` and, for one not made, ``how`` and ``stanza`` to make it by hand."""

    name: str
    done: bool
    reason: str | None = None
    how: str | None = None
    stanza: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def create(monitor: str, every: str, settings: SplunkSettings) -> Outcome:
    """Make (or bring up to date) the monitor's disabled saved search in Splunk."""
    name = name_for(monitor)
    values = settings_for(monitor, every)
    try:
        service = _service(settings)
        if not _call(settings, service.post, "saved/searches", {"name": name, **values}, allow=409):
            # Left by a monitor of that name removed while Splunk was away: take it over.
            _call(settings, service.post, f"saved/searches/{name}", values)
    except KeplerError as exc:
        return Outcome(
            name,
            False,
            reason=f"the saved search {name} was not made in Splunk: {exc.message}",
            how=(
                f"make it by hand: paste the stanza into $SPLUNK_HOME/etc/apps/{APP}/local/"
                f"{CONF} and restart Splunk, then enable it in Settings > Searches, reports, "
                "and alerts"
            ),
            stanza=stanza_for(monitor, every),
        )
    return Outcome(name, True)


def remove(monitor: str, settings: SplunkSettings) -> Outcome:
    """Delete the monitor's saved search from Splunk; one already gone counts as removed."""
    name = name_for(monitor)
    try:
        service = _service(settings)
        _call(settings, service.delete, f"saved/searches/{name}", {}, allow=404)
    except KeplerError as exc:
        return Outcome(
            name,
            False,
            reason=f"the saved search {name} was not removed from Splunk: {exc.message}",
            how=(
                f"delete it in Settings > Searches, reports, and alerts (app {APP}), or "
                f"remove its stanza from $SPLUNK_HOME/etc/apps/{APP}/local/{CONF}"
            ),
        )
    return Outcome(name, True)


def _service(settings: SplunkSettings) -> Any:
    from kepler.splunk.service import connect

    bounded = settings.model_copy(update={"timeout": min(settings.timeout, CALL_TIMEOUT_S)})
    return connect(bounded)


def _call(
    settings: SplunkSettings,
    fn: Any,
    path: str,
    form: dict[str, str],
    *,
    allow: int | None = None,
) -> bool:
    """One REST call in the app's shared namespace: True when done, False when splunkd
    answered ``allow`` (404, 409); its other refusals as Kepler errors."""
    from kepler.splunk.service import failure, messages_of, translate

    binding = require("splunklib.binding", "splunk")
    with translate(settings.url):
        try:
            fn(path, owner=OWNER, app=APP, **form)
        except binding.HTTPError as exc:
            if exc.status == allow:
                return False
            if exc.status == 403:
                said = failure(messages_of(exc.body)) or "HTTP 403"
                raise SplunkError(
                    f"splunkd at {settings.url} refused it ({said}); Kepler's Splunk login "
                    "needs a role with the 'schedule_search' capability and write access to "
                    f"the app {APP!r}"
                ) from None
            raise
    return True
