"""splunkd's REST side, played faithfully on loopback (HTTP or HTTPS), for the SDK's tests.

What it answers, as splunkd documents it (docs/splunk-protocols.md, section 3):

* ``POST /services/auth/login`` (form ``username``, ``password``): 200 with XML
  ``<response><sessionKey>...</sessionKey></response>`` and, with ``cookie=1``, a
  ``splunkd_<port>`` cookie; a wrong password is 401 with
  ``<msg type="WARN" code="incorrect_username_or_password">Login failed</msg>``.
* Every other call needs ``Authorization: Splunk <session key>``, ``Bearer <token>`` or the
  session cookie; else 401 ``call not properly authenticated``.
* ``GET /services/server/info``: an Atom feed whose entry holds ``version``, ``build``...
  (JSON with ``output_mode=json``).
* ``POST [/servicesNS/<owner>/<app>]/search[/v2]/jobs/export``: a chunked stream of JSON
  lines ``{"preview":false,"offset":N,"result":{...}}`` (``lastrow`` on the last), a
  transforming search's preview lines first, ERROR messages as
  ``{"preview":false,"messages":[{"type":"ERROR","text":...}]}`` lines.
* ``POST .../search[/v2]/jobs`` creates a job (201, ``sid``); ``GET .../jobs/<sid>`` is
  its Atom entry (``dispatchState``, ``isDone``, ``resultCount``, ``isFailed``);
  ``GET|POST .../jobs/<sid>/results`` pages with ``offset``/``count``, capped at
  ``maxresultrows`` (50,000) per page.
* A search whose first command splunkd does not know is HTTP 400 with a FATAL message
  (JSON with ``output_mode=json``, XML otherwise); an unknown sid is 404.

* ``GET .../authentication/current-context``: the session's ``username``, ``roles`` and
  ``capabilities`` (a session added with :meth:`SplunkdRest.add_session`; a bare session is
  an admin with every capability, as a test's login is).
* ``.../storage/passwords``: Atom XML, or JSON with ``output_mode=json``. It keeps what
  clients write (create, update, delete, as ``splunklib.client`` and solnlib's
  ``CredentialManager`` do it; see tests/splunk/splunkd_passwords.py) and needs
  ``list_storage_passwords`` to read and ``edit_storage_passwords`` to write: 403
  otherwise, with splunkd's "do not have permission" message.
* ``.../saved/searches``: what clients create, list, update and delete there (see
  tests/splunk/splunkd_saved_searches.py); a scheduled one needs ``schedule_search``
  (403 otherwise, the same message).
* An app's persistent REST handler (restmap.conf ``scripttype = persist``) registered with
  :meth:`SplunkdRest.add_handler`: splunkd checks the stanza's ``capability``, then hands
  the handler its request as JSON (``session.user``/``authtoken``, ``system_authtoken``
  with ``passSystemAuth``, ``server.rest_uri``, ``method``, ``query``, ``ns``) and answers
  with the handler's ``{"status", "payload"}``.

Values are text and multivalue fields lists of text, as splunkd's JSON writes them. Tests
register what a search returns with :meth:`SplunkdRest.add_search`.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.splunk import splunkd_passwords, splunkd_saved_searches
from tests.splunk.atom import ATOM_NS, DECLARATION, Entity, feed, json_feed
from tests.splunk.splunkd_passwords import Credential, Passwords, RestError
from tests.splunk.splunkd_saved_searches import SavedSearches

MAX_RESULT_ROWS = 50_000
VERSION = "9.3.1"
KNOWN_COMMANDS = frozenset(
    [
        "search",
        "makeresults",
        "inputlookup",
        "tstats",
        "from",
        "datamodel",
        "rest",
        "metadata",
        "eventcount",
        "dbinspect",
        "loadjob",
        "savedsearch",
        "multisearch",
        "inputcsv",
        "pivot",
        "mstats",
    ]
)
Rows = Callable[[dict[str, str]], Iterable[dict[str, Any]]]
DROP = b"\x00drop"  # in a stream: cut the connection here, without the closing chunk


@dataclass
class Search:
    rows: Rows
    transforming: bool = False
    error_after: int | None = None  # an ERROR message in the stream after this many rows
    error_text: str = "Streamed search execute failed because: peer idx-1 went away"
    drop_after: int | None = None  # the connection is cut after this many rows
    cache: bool = False  # encode the stream once and replay it (benchmarks)
    encoded: list[bytes] | None = None
    messages: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Identity:
    user: str
    roles: tuple[str, ...]
    capabilities: frozenset[str]


ADMIN = Identity(
    "admin",
    ("admin", "power", "user"),
    frozenset(
        {
            "admin_all_objects",
            "list_storage_passwords",
            "edit_storage_passwords",
            "schedule_search",
            "search",
        }
    ),
)
# A persistent handler: the request as JSON text in, ``{"status", "payload"}`` out.
PersistHandler = Callable[[str], dict[str, Any]]


@dataclass
class Job:
    sid: str
    search: str
    rows: list[dict[str, Any]]
    failed: str | None = None
    polls: int = 0
    stuck: bool = False  # a search that runs on: RUNNING on every look

    @property
    def done(self) -> bool:
        if self.stuck:
            return False
        return self.failed is not None or self.polls >= 2  # RUNNING for the first look


class SplunkdRest:
    """A real HTTP(S) server on 127.0.0.1 answering as splunkd's REST API."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        tokens: Iterable[str] = (),
        version: str = VERSION,
        tls: tuple[Path, Path] | None = None,
        static: dict[str, Any] | None = None,
    ) -> None:
        self.users = dict(users or {})
        self.tokens = set(tokens)
        self.sessions: set[str] = set()
        self.version = version
        self.searches: dict[str, Search] = {}
        self.jobs: dict[str, Job] = {}
        # path prefix -> JSON body, for plain GETs (the app's conf stanzas).
        self.static = dict(static or {})
        # storage/passwords (tests/splunk/splunkd_passwords): what solnlib writes and reads.
        self.passwords = Passwords()
        # saved/searches (tests/splunk/splunkd_saved_searches): what clients make there.
        self.saved_searches = SavedSearches()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.logins = 0
        self.identities: dict[str, Identity] = {}
        self.calls: list[tuple[str, str]] = []  # (user, path) of each authenticated call
        self.handlers: dict[str, tuple[PersistHandler, str | None]] = {}
        # What splunkd hands handlers with passSystemAuth: a session with every capability.
        self.system_key = secrets.token_urlsafe(24)
        self.sessions.add(self.system_key)
        self.identities[self.system_key] = Identity(
            "splunk-system-user", ("admin",), ADMIN.capabilities | {"kepler_admin_actions"}
        )
        self._lock = threading.Lock()
        handler = _handler(self)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    # -- what tests set up ---------------------------------------------------------------

    def add_search(self, spl: str, rows: Rows | Iterable[dict[str, Any]], **kw: Any) -> None:
        """``spl`` (as sent, "search ..." or "| ...") answers ``rows`` (a callable of the
        request's parameters, or the rows themselves)."""
        fn = rows if callable(rows) else (lambda _p, r=list(rows): r)
        self.searches[spl] = Search(rows=fn, **kw)

    def add_session(
        self, key: str, user: str, roles: Iterable[str], capabilities: Iterable[str]
    ) -> None:
        """A logged-in session of ``user`` holding ``roles`` and ``capabilities``."""
        with self._lock:
            self.sessions.add(key)
            self.identities[key] = Identity(user, tuple(roles), frozenset(capabilities))

    def add_handler(
        self, match: str, handler: PersistHandler, *, capability: str | None = None
    ) -> None:
        """An app's persistent REST handler at ``/services/<match>`` (and every
        ``/servicesNS/<owner>/<app>/<match>``), behind restmap's ``capability``."""
        self.handlers[match.strip("/")] = (handler, capability)

    def add_password(
        self, realm: str, username: str, clear_password: str, *, app: str = "kepler"
    ) -> Credential:
        """A credential in storage/passwords of ``app`` (owner ``nobody``), as if an admin
        had stored it before."""
        return self.passwords.add(realm, username, clear_password, app=app)

    def identity(self, headers: Any) -> Identity:
        auth = headers.get("Authorization", "")
        _, _, value = auth.partition(" ")
        with self._lock:
            return self.identities.get(value, ADMIN)

    def expire_sessions(self) -> None:
        with self._lock:
            self.sessions.clear()

    def create_job(self, spl: str, params: dict[str, str] | None = None) -> str:
        problem = self.parse_problem(spl)
        sid = f"{time.time():.3f}_{secrets.token_hex(4)}"
        search = self.searches.get(spl)
        rows = list(search.rows(params or {})) if search and not problem else []
        self.jobs[sid] = Job(sid=sid, search=spl, rows=rows, failed=problem)
        return sid

    def paths(self) -> list[str]:
        return [p for _, p, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> SplunkdRest:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- splunkd's rules ----------------------------------------------------------------

    def parse_problem(self, spl: str) -> str | None:
        text = spl.strip()
        first = text[1:].strip() if text.startswith("|") else text
        command = (first.split(None, 1) or [""])[0].lower()
        if not text.startswith("|") and command != "search":
            # The REST API takes a search only with its leading command.
            return f"Unknown search command '{command}'."
        if command not in KNOWN_COMMANDS:
            return f"Unknown search command '{command}'."
        for part in text.split("|")[1:]:
            name = (part.split(None, 1) or [""])[0].lower()
            if name and not re.fullmatch(r"[a-z_]+", name):
                return f"Error in 'search' command: Unable to parse the search: '{name}'."
        return None

    def authenticated(self, headers: Any) -> bool:
        auth = headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        with self._lock:
            if scheme == "Splunk" and value in self.sessions:
                return True
            if scheme == "Bearer" and value in self.tokens:
                return True
            cookie = headers.get("Cookie", "")
            for part in cookie.split(";"):
                name, _, key = part.strip().partition("=")
                if name == f"splunkd_{self.port}" and key in self.sessions:
                    return True
        return False

    def login(self, form: dict[str, str]) -> str | None:
        user, password = form.get("username", ""), form.get("password", "")
        if not user or self.users.get(user) != password:
            return None
        key = secrets.token_urlsafe(24)
        with self._lock:
            self.sessions.add(key)
            self.logins += 1
        return key


def _form(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    query = parse_qs(urlparse(handler.path).query, keep_blank_values=True)
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length).decode() if length else ""
    query.update(parse_qs(body, keep_blank_values=True))
    return {k: v[-1] for k, v in query.items()}


def _messages_xml(kind: str, text: str, code: str | None = None) -> bytes:
    attr = f' code="{code}"' if code else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<response>\n  <messages>\n'
        f'    <msg type="{kind}"{attr}>{escape(text)}</msg>\n  </messages>\n</response>\n'
    ).encode()


def _messages_json(kind: str, text: str, code: str | None = None) -> bytes:
    msg: dict[str, str] = {"type": kind, "text": text}
    if code:
        msg["code"] = code
    return json.dumps({"messages": [msg]}).encode()


_NS = re.compile(r"^/(?:services|servicesNS/(?P<owner>[^/]+)/(?P<app>[^/]+))/(?P<tail>.*)$")


def _namespaced(path: str) -> str:
    """``/servicesNS/nobody/kepler/kepler/credentials`` -> ``kepler/credentials``."""
    match = _NS.match(path)
    return match.group("tail").strip("/") if match else ""


def _namespace(path: str) -> tuple[str, str] | None:
    match = _NS.match(path)
    if match and match.group("owner"):
        return match.group("owner"), match.group("app")
    return None


_JOBS = re.compile(r"^/(?:services|servicesNS/[^/]+/[^/]+)/search(?:/v2)?/jobs(?:/(?P<rest>.*))?$")


def _handler(rest: SplunkdRest) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Splunkd"

        def log_message(self, *_: object) -> None:
            pass

        # -- plumbing --------------------------------------------------------------------

        def _send(
            self,
            status: int,
            body: bytes,
            ctype: str = "text/xml; charset=UTF-8",
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "Close")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def _error(self, status: int, kind: str, text: str, form: dict[str, str]) -> None:
            if form.get("output_mode", "").startswith("json"):
                self._send(status, _messages_json(kind, text), "application/json; charset=UTF-8")
            else:
                self._send(status, _messages_xml(kind, text))

        def _stream(self, lines: Iterator[bytes]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "Close")
            self.end_headers()
            block: list[bytes] = []
            size = 0
            for line in lines:
                if line is DROP:
                    self._chunk(b"".join(block) + b'{"preview":false,"off')
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                block.append(line)
                size += len(line)
                if size >= 64 * 1024:
                    self._chunk(b"".join(block))
                    block, size = [], 0
            if block:
                self._chunk(b"".join(block))
            self.wfile.write(b"0\r\n\r\n")
            self.close_connection = True

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        # -- verbs ---------------------------------------------------------------------

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        def _route(self, method: str) -> None:
            path = urlparse(self.path).path
            form = _form(self)
            rest.requests.append((method, path, dict(form)))
            if path == "/services/auth/login" and method == "POST":
                return self._login(form)
            if not rest.authenticated(self.headers):
                return self._error(401, "WARN", "call not properly authenticated", form)
            if path == "/services/server/info":
                return self._info(form)
            tail = _namespaced(path)
            who = rest.identity(self.headers)
            rest.calls.append((who.user, path))
            if tail == "authentication/current-context":
                return self._context(who)
            if tail in rest.handlers:
                return self._persist(tail, method, form, who)
            passwords = splunkd_passwords.parse(method, path, form)
            if passwords is not None:
                return self._passwords(passwords, who)
            saved = splunkd_saved_searches.parse(method, path, form)
            if saved is not None:
                return self._saved_searches(saved, who)
            for prefix, body in rest.static.items():
                if path.startswith(prefix):
                    return self._send(200, json.dumps(body).encode(), "application/json")
            match = _JOBS.match(path)
            if match:
                return self._jobs(method, match.group("rest") or "", form)
            return self._error(404, "ERROR", "Not Found", form)

        def _denied(self, who: Identity, capability: str, form: dict[str, str]) -> None:
            text = (
                f"You (user={who.user}) do not have permission to perform this operation "
                f"(requires capability: {capability})."
            )
            return self._error(403, "ERROR", text, form)

        def _passwords(self, request: splunkd_passwords.Request, who: Identity) -> None:
            write = request.method != "GET"
            needs = "edit_storage_passwords" if write else "list_storage_passwords"
            if needs not in who.capabilities:
                return self._denied(who, needs, dict(request.form))
            try:
                status, body, ctype = splunkd_passwords.answer(
                    rest.passwords, request, rest.url, rest.version
                )
            except RestError as refused:
                return self._error(refused.status, "ERROR", refused.text, dict(request.form))
            self._send(status, body, ctype)

        def _saved_searches(self, request: splunkd_saved_searches.Request, who: Identity) -> None:
            scheduled = request.method == "POST" and request.scheduled
            if scheduled and "schedule_search" not in who.capabilities:
                return self._denied(who, "schedule_search", dict(request.form))
            try:
                status, body, ctype = splunkd_saved_searches.answer(
                    rest.saved_searches, request, rest.url, rest.version
                )
            except RestError as refused:
                return self._error(refused.status, "ERROR", refused.text, dict(request.form))
            self._send(status, body, ctype)

        def _context(self, who: Identity) -> None:
            content = {
                "username": who.user,
                "realname": "",
                "roles": list(who.roles),
                "capabilities": sorted(who.capabilities),
                "defaultApp": "search",
            }
            body = {
                "entry": [{"name": who.user, "content": content}],
                "paging": {"total": 1, "perPage": 30, "offset": 0},
            }
            self._send(200, json.dumps(body).encode(), "application/json; charset=UTF-8")

        def _persist(self, match: str, method: str, form: dict[str, str], who: Identity) -> None:
            handler, capability = rest.handlers[match]
            if capability and capability not in who.capabilities:
                return self._denied(who, capability, form)
            auth = self.headers.get("Authorization", "")
            ns = _namespace(urlparse(self.path).path)
            request = {
                "output_mode": form.get("output_mode", "xml"),
                "output_mode_explicit": "output_mode" in form,
                "server": {
                    "rest_uri": rest.url,
                    "hostname": "splunkd-double",
                    "servername": "splunkd-double",
                    "guid": "00000000-0000-0000-0000-000000000000",
                },
                "restmap": {"name": f"script:{match.replace('/', '_')}", "conf": {}},
                "path_info": "",
                "query": [[k, v] for k, v in form.items()],
                "connection": {"src_ip": "127.0.0.1", "ssl": rest.url.startswith("https")},
                "session": {"user": who.user, "authtoken": auth.partition(" ")[2]},
                "rest_path": "/" + match,
                "lang": "en-US",
                "method": method,
                "ns": {"app": ns[1], "user": ns[0]} if ns else {},
                "form": [],
                "system_authtoken": rest.system_key,
            }
            reply = handler(json.dumps(request))
            payload = reply.get("payload", "")
            body = payload if isinstance(payload, str) else json.dumps(payload)
            self._send(int(reply.get("status", 200)), body.encode(), "application/json")

        def _login(self, form: dict[str, str]) -> None:
            key = rest.login(form)
            if key is None:
                return self._send(
                    401, _messages_xml("WARN", "Login failed", "incorrect_username_or_password")
                )
            headers = {}
            if form.get("cookie") == "1":
                headers["Set-Cookie"] = f"splunkd_{rest.port}={key}; Path=/; HttpOnly; Max-Age=3600"
            body = f"<response>\n  <sessionKey>{key}</sessionKey>\n</response>\n".encode()
            self._send(200, body, headers=headers)

        def _info(self, form: dict[str, str]) -> None:
            content = {
                "build": "a8e3b1b2c4d5",
                "serverName": "splunkd-double",
                "version": rest.version,
                "product_type": "enterprise",
                "os_name": "Linux",
                "isFree": "0",
            }
            path = "/services/server/info"
            entity = Entity("server-info", f"{path}/server-info", content)
            if form.get("output_mode", "").startswith("json"):
                body = json_feed(rest.url, path, [entity], version=rest.version)
                return self._send(200, json.dumps(body).encode(), "application/json")
            self._send(200, feed(rest.url, "server-info", path, [entity], version=rest.version))

        # -- search ----------------------------------------------------------------------

        def _jobs(self, method: str, tail: str, form: dict[str, str]) -> None:
            if tail == "export" and method in ("GET", "POST"):
                return self._export(form)
            if tail == "" and method == "POST":
                spl = form.get("search", "")
                problem = rest.parse_problem(spl)
                if problem:
                    return self._error(400, "FATAL", problem, form)
                sid = rest.create_job(spl, form)
                if form.get("output_mode") == "json":
                    return self._send(201, json.dumps({"sid": sid}).encode(), "application/json")
                return self._send(201, f"<response>\n  <sid>{sid}</sid>\n</response>\n".encode())
            sid, _, what = tail.partition("/")
            job = rest.jobs.get(sid)
            if job is None:
                return self._error(404, "FATAL", "Unknown sid.", form)
            if what == "" and method == "GET":
                return self._job_entry(job)
            if what == "" and method == "DELETE":
                rest.jobs.pop(sid, None)
                return self._send(200, _messages_xml("INFO", f"Search job {sid} cancelled."))
            if what == "results" and method in ("GET", "POST"):
                return self._results(job, form)
            return self._error(404, "ERROR", "Not Found", form)

        def _job_entry(self, job: Job) -> None:
            job.polls += 1
            state = "FAILED" if job.failed else ("DONE" if job.done else "RUNNING")
            content: dict[str, Any] = {
                "sid": job.sid,
                "dispatchState": state,
                "isDone": "1" if job.done else "0",
                "isFailed": "1" if job.failed else "0",
                "resultCount": str(len(job.rows) if job.done else 0),
                "eventCount": str(len(job.rows)),
                "search": job.search,
                "messages": {"fatal": [job.failed]} if job.failed else {},
                "eai:acl": {
                    "owner": "admin",
                    "app": "search",
                    "sharing": "global",
                    "perms": {"read": ["admin"], "write": ["admin"]},
                    "ttl": "600",
                },
            }
            path = f"/services/search/v2/jobs/{job.sid}"
            entry = Entity(job.search, path, content).xml(rest.url)
            body = DECLARATION + entry.replace("<entry>", f"<entry {ATOM_NS}>", 1)
            self._send(200, body.encode())

        def _results(self, job: Job, form: dict[str, str]) -> None:
            offset = int(form.get("offset") or 0)
            count = int(form.get("count") or 100)
            if count <= 0 or count > MAX_RESULT_ROWS:
                count = MAX_RESULT_ROWS
            rows = job.rows[offset : offset + count] if job.done else []
            names: dict[str, None] = {}
            for row in rows:
                names.update(dict.fromkeys(row))
            body = {
                "preview": not job.done,
                "init_offset": offset,
                "messages": [],
                "fields": [{"name": n} for n in names],
                "results": rows,
                "highlighted": {},
            }
            self._send(200, json.dumps(body).encode(), "application/json; charset=UTF-8")

        def _export(self, form: dict[str, str]) -> None:
            spl = form.get("search", "")
            problem = rest.parse_problem(spl)
            if problem:
                return self._error(400, "FATAL", problem, form)
            if form.get("output_mode") != "json":
                return self._error(400, "ERROR", "this double streams output_mode=json only", form)
            search = rest.searches.get(spl)
            if search is not None and search.cache:
                if search.encoded is None:
                    search.encoded = list(_export_lines(search, form))
                return self._stream(iter(search.encoded))
            self._stream(_export_lines(search, form))

    return Handler


def _export_lines(search: Search | None, form: dict[str, str]) -> Iterator[bytes]:
    if search is None:
        return
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    for kind, text in search.messages:
        yield dumps({"preview": False, "messages": [{"type": kind, "text": text}]}).encode() + b"\n"
    if search.transforming:
        # A transforming search streams previews of its table while it runs.
        for i, row in enumerate(list(search.rows(form))[:3]):
            yield dumps({"preview": True, "offset": i, "result": row}).encode() + b"\n"
    previous: dict[str, Any] | None = None
    offset = 0
    for row in search.rows(form):
        if search.drop_after is not None and offset == search.drop_after:
            yield DROP
            return
        if search.error_after is not None and offset == search.error_after:
            yield (
                dumps(
                    {"preview": False, "messages": [{"type": "ERROR", "text": search.error_text}]}
                ).encode()
                + b"\n"
            )
            return
        if previous is not None:
            yield (
                dumps({"preview": False, "offset": offset - 1, "result": previous}).encode() + b"\n"
            )
        previous = row
        offset += 1
    if previous is not None:
        yield (
            dumps(
                {"preview": False, "offset": offset - 1, "lastrow": True, "result": previous}
            ).encode()
            + b"\n"
        )
