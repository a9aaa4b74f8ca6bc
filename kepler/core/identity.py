"""Who a request acts for, and what Kepler's permission levels are called.

What a caller may do is decided by the bridge from its token alone: one token per level
(``KEPLER_TOKEN`` is the admin level, ``KEPLER_USER_TOKEN`` the user level), so no claim a
token holder sends can widen it. Inside Splunk the app hands the command the token of the
caller's level (its ``kepler/credentials`` REST handler checks the Splunk user's
capabilities). The user name and Splunk roles travel beside the token in the
``X-Kepler-User`` / ``X-Kepler-Roles`` headers for the audit trail only: jobs, MLflow runs
and model versions (``kepler.user``), ``kepler:*`` events and the deletion log name them.

Standard library only: this runs inside Splunk's Python (3.9 and 3.13).
"""

from __future__ import annotations

from collections.abc import Iterable

USER_HEADER = "X-Kepler-User"
ROLES_HEADER = "X-Kepler-Roles"

# Levels: what a token grants.
LEVEL_USER = "user"
LEVEL_ADMIN = "admin"

# The app's roles (authorize.conf) and the capabilities that carry them.
ROLE_USER = "kepler_user"
ROLE_ADMIN = "kepler_admin"
CAPABILITY_USE = "kepler_use"
CAPABILITY_ADMIN = "kepler_admin_actions"

MAX_USER = 128
MAX_ROLES = 32
MAX_ROLE = 64
UNKNOWN_USER = "unknown"


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable())


def clean_user(value: object) -> str:
    """A user name fit for a header, a tag and a log line: printable, at most 128
    characters, no commas or surrounding space; empty when there is none."""
    if value is None:
        return ""
    return _printable(str(value)).strip()[:MAX_USER]


def clean_roles(value: object) -> tuple[str, ...]:
    """Roles from a comma-separated header or a list: printable, deduplicated, bounded."""
    if value is None:
        return ()
    items: Iterable[object] = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    seen: list[str] = []
    for item in items:
        role = _printable(str(item)).strip()[:MAX_ROLE]
        if role and role not in seen:
            seen.append(role)
        if len(seen) >= MAX_ROLES:
            break
    return tuple(seen)


def identity_headers(user: object, roles: object = ()) -> dict[str, str]:
    """The audit headers for ``user`` and ``roles`` (none for an unknown user)."""
    name = clean_user(user)
    if not name:
        return {}
    headers = {USER_HEADER: name}
    cleaned = clean_roles(roles)
    if cleaned:
        headers[ROLES_HEADER] = ",".join(cleaned)
    return headers


def admin_needed(what: str) -> str:
    """The message for a user-level caller asking for an admin-level action."""
    return (
        f"{what} needs Kepler's admin level: in Splunk, ask your Splunk admin for the "
        f"{ROLE_ADMIN!r} role; outside Splunk, use the bridge's admin token (KEPLER_TOKEN). "
        "This request came with the user-level token (KEPLER_USER_TOKEN)."
    )


def role_needed(user: str) -> str:
    """The message for a Splunk user who holds neither of Kepler's roles."""
    who = f"Splunk user {user!r}" if user else "this Splunk user"
    return (
        f"{who} may not use Kepler: ask your Splunk admin for the {ROLE_USER!r} role "
        f"(fit, apply, models, jobs) or {ROLE_ADMIN!r} (also deletemodel, aliases, "
        "schedules and the setup page)"
    )
