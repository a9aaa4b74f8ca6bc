"""splunkd as an installed Kepler app sees it: the setup page's conf stanzas and secrets,
the app's `kepler/credentials` REST handler, and sessions of users with Kepler's roles.

The conf stanzas are shaped as UCC writes them, and the secrets are stored as its handler
stores them: each stanza's encrypted fields as one JSON object, through solnlib's
``CredentialManager`` (which splits it into pieces) into the double's storage/passwords.
The handler is the app's own
`bin/kepler_credentials.py`, given its request as splunkd does (a JSON string), either in
this process or as a subprocess under another interpreter (Splunk's Pythons).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kepler.core.identity import CAPABILITY_ADMIN, CAPABILITY_USE, ROLE_ADMIN, ROLE_USER
from tests.splunk.splunkd_rest import ADMIN, SplunkdRest

ROOT = Path(__file__).resolve().parents[2]
APP_BIN = ROOT / "splunk_app" / "package" / "bin"
USER_CAPS = ("search", CAPABILITY_USE)
ADMIN_CAPS = ("search", CAPABILITY_USE, CAPABILITY_ADMIN)
# The Splunk admin who saved the Configuration page.
ADMIN_KEY = "admin-key"

DRIVER = """\
import json, sys
sys.path.insert(0, {bin!r})
import kepler_credentials
reply = kepler_credentials.Credentials(None, None).handle(sys.stdin.read())
sys.stdout.write(json.dumps(reply))
"""


def in_process_handler() -> Callable[[str], dict[str, Any]]:
    """The repository's handler shim, loaded from its file, run in this process."""
    spec = importlib.util.spec_from_file_location(
        "kepler_credentials", APP_BIN / "kepler_credentials.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = module.Credentials(None, None)
    return handler.handle  # type: ignore[no-any-return]


def subprocess_handler(python: Sequence[str], app: Path) -> Callable[[str], dict[str, Any]]:
    """The built app's handler (``app``/bin) run by ``python`` (an interpreter command,
    e.g. Splunk's 3.9) with ``-S``, one process per request."""
    code = DRIVER.format(bin=str(app / "bin"))

    def handle(request: str) -> dict[str, Any]:
        out = subprocess.run(
            [*python, "-S", "-c", code], input=request, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        reply: dict[str, Any] = json.loads(out.stdout)
        return reply

    return handle


def credential_manager(rest: SplunkdRest, session_key: str = ADMIN_KEY) -> Any:
    """solnlib's ``CredentialManager`` on Kepler's realm in ``rest``, as UCC's handler
    builds it (app ``kepler``, owner ``nobody``)."""
    from solnlib.credentials import CredentialManager

    from kepler.searchcommand.config import APP, REALM

    url = urlparse(rest.url)
    return CredentialManager(
        session_key,
        APP,
        owner="nobody",
        realm=REALM,
        scheme=url.scheme,
        host=url.hostname,
        port=url.port,
    )


def store_secrets(rest: SplunkdRest, stanza: str, secret: dict[str, str]) -> None:
    """What the Configuration page does on save: ``stanza``'s encrypted fields as one JSON
    object (splunktaucclib's ``RestCredentialsContext.dump``), set with solnlib."""
    credential_manager(rest).set_password(stanza, json.dumps(secret))


def app_splunkd(
    bridge_url: str | None,
    token: str | None,
    user_token: str | None,
    *,
    handler: Callable[[str], dict[str, Any]] | None = None,
) -> SplunkdRest:
    """splunkd with Kepler installed; ``bridge_url=None``: never set up (no token either:
    no secret stored). Sessions:
    ``alice-key`` (kepler_user), ``bob-key`` (kepler_admin), ``carol-key`` (neither)."""
    static: dict[str, Any] = {}
    if bridge_url is not None:
        conf = {
            "entry": [
                {
                    "name": "bridge",
                    "content": {
                        "url": bridge_url,
                        "token": "******",
                        "user_token": "******",
                        "verify_tls": "1",
                        "ca_bundle": "",
                        "connect_timeout": "10",
                        "read_timeout": "300",
                    },
                }
            ]
        }
        static["/servicesNS/nobody/kepler/configs/conf-kepler_settings/bridge"] = conf
    rest = SplunkdRest(static=static)
    rest.add_session(ADMIN_KEY, "admin", ("admin", "user"), ADMIN.capabilities)
    # Another realm's secret in the same app: never Kepler's.
    rest.add_password("other", "x", "not ours")
    secret = {k: v for k, v in {"token": token, "user_token": user_token}.items() if v}
    if bridge_url is not None and secret:
        try:
            store_secrets(rest, "bridge", secret)
        except BaseException:
            rest.close()
            raise
    rest.add_handler(
        "kepler/credentials", handler or in_process_handler(), capability=CAPABILITY_USE
    )
    rest.add_session("alice-key", "alice", ("user", ROLE_USER), USER_CAPS)
    rest.add_session("bob-key", "bob", ("user", ROLE_USER, ROLE_ADMIN), ADMIN_CAPS)
    rest.add_session("carol-key", "carol", ("user",), ("search",))
    return rest
