"""A small Jux-compatible server for tests and the demo, on 127.0.0.1.

It implements the submission contract (``shared/spec/openapi-submission.yaml`` and CONTRACT.md):
the raw endpoint parses the XML and requires ``project``; Bearer auth can be off, optional or
required; rate limiting answers 429 with ``Retry-After`` and ``X-RateLimit-*``; ``/api/version``
answers or is missing. Every accepted run is split into suites and cases once, when it is
stored, and can be read back through the query API (``shared/spec/openapi-query.yaml``, served
by ``query.py``; off with ``query_api = False``). Scripted faults (5xx bursts, 429s, dropped
connections, slow answers, redirects, odd bodies) apply to the next POSTs, or GETs when made for
them, and every request is logged with its exact body and query string and checked against the
OpenAPI documents.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

from tests.jux_server.spec import SpecChecker

RAW_PATH = "/api/v1/junit/submit"
PACKAGE_PATH = "/api/v1/reports/package"
VERSION_PATH = "/api/version"
#: the query API (openapi-query.yaml), under the same prefix as the submission API
TEST_RUNS_PATH = "/api/v1/test_runs"
TEST_SUITES_PATH = "/api/v1/test_suites"
QUERY_PREFIXES = (TEST_RUNS_PATH, TEST_SUITES_PATH)


@dataclass
class Fault:
    """One scripted answer for the next matching request (a POST unless ``method`` says GET).

    kind: ``status`` (answer ``status`` with ``headers``/``body``, store nothing), ``drop`` (close
    the connection without answering), ``delay`` (sleep ``seconds`` then handle normally, or
    after storing when ``store_first``; for a GET: after computing the answer), ``redirect``
    (answer ``status`` with Location). A fault applies to the first request whose method is
    ``method`` and whose path (without the query string) is ``path``, or any path when None.
    """

    kind: str
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    seconds: float = 0.0
    store_first: bool = False
    path: str | None = None  # only for this path (None: any POST)
    #: ``delay`` only: after the wait, store nothing when the client has hung up meanwhile
    #: (a server whose request was cancelled before it committed)
    abort_if_gone: bool = False
    #: the request method it applies to: ``POST`` (submissions) or ``GET`` (queries, version)
    method: str = "POST"

    @classmethod
    def error(
        cls,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        path: str | None = None,
        *,
        method: str = "POST",
    ) -> Fault:
        return cls(
            "status", status=status, headers=headers or {}, body=body, path=path, method=method
        )

    @classmethod
    def drop(cls, path: str | None = None, *, method: str = "POST") -> Fault:
        return cls("drop", path=path, method=method)

    @classmethod
    def delay(
        cls,
        seconds: float,
        *,
        store_first: bool = False,
        abort_if_gone: bool = False,
        path: str | None = None,
        method: str = "POST",
    ) -> Fault:
        return cls(
            "delay",
            seconds=seconds,
            store_first=store_first,
            abort_if_gone=abort_if_gone,
            path=path,
            method=method,
        )

    @classmethod
    def redirect(
        cls, location: str, status: int = 307, *, path: str | None = None, method: str = "POST"
    ) -> Fault:
        return cls(
            "redirect", status=status, headers={"Location": location}, path=path, method=method
        )


@dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: int | None = None
    violations: list[str] = field(default_factory=list)
    #: the raw query string (after ``?``, not decoded), "" when there is none
    query: str = ""


#: what a test case's status is called in the query API
CASE_STATUSES = ("passed", "failed", "error", "skipped")


@dataclass
class StoredCase:
    """One ``<testcase>`` of a stored run, as the query API returns it."""

    id: str
    name: str
    classname: str
    status: str  # one of CASE_STATUSES
    time: float
    failure_message: str | None = None
    failure_type: str | None = None
    #: the text of the ``<failure>``/``<error>`` element, if any
    failure_stacktrace: str | None = None


@dataclass
class StoredSuite:
    """One ``<testsuite>`` of a stored run (nested ones are suites of their own) and its
    **direct** ``<testcase>`` children."""

    id: str
    name: str
    cases: list[StoredCase] = field(default_factory=list)
    #: the suite's ``time`` attribute when it is a number, else the sum of its cases' times
    time: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for case in self.cases if case.status == status)


@dataclass
class StoredRun:
    """A test run the server accepted.

    ``inserted_at`` (ISO 8601 UTC, ``Z``) and ``suites`` are filled by ``JuxServer.store`` when
    left empty; the query API's run fields (project, branch, tags, counts…) derive from
    ``properties`` and ``suites``.
    """

    test_run_id: str
    endpoint: str
    body: bytes
    properties: dict[str, str]
    property_list: list[tuple[str, str]]
    counts: dict[str, int]
    attachments: dict[str, bytes] = field(default_factory=dict)
    signed: bool = False
    idempotency_key: str | None = None
    inserted_at: str = ""
    suites: list[StoredSuite] = field(default_factory=list)

    @property
    def project(self) -> str:
        return self.properties.get("project", "")

    @property
    def branch(self) -> str | None:
        return self.properties.get("git:branch")

    @property
    def commit_sha(self) -> str | None:
        return self.properties.get("git:commit")

    @property
    def tags(self) -> list[str]:
        raw = self.properties.get("jux:tags", "")
        return [tag.strip() for tag in raw.split(",") if tag.strip()]

    @property
    def cases(self) -> list[StoredCase]:
        return [case for suite in self.suites for case in suite.cases]

    def case_count(self, status: str | None = None) -> int:
        """Cases of every suite, or only those with ``status``."""
        return sum(1 for case in self.cases if status is None or case.status == status)

    @property
    def success_rate(self) -> float:
        """Passed cases out of all cases, in percent (0.0 for a run without cases)."""
        total = self.case_count()
        return round(100.0 * self.case_count("passed") / total, 1) if total else 0.0

    @property
    def total_time(self) -> float:
        return round(sum(case.time for case in self.cases), 6)


def _error(error: str, message: str, *suggestions: str, **details: Any) -> dict[str, Any]:
    return {
        "error": error,
        "details": {"message": message, **details},
        "suggestions": list(suggestions),
    }


def parse_junit(body: bytes) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Properties of the first testsuite and counts, the way a Jux server reads them.

    Raises ``ValueError`` with a message for invalid XML.
    """
    return _properties_and_counts(_parse_root(body))


def _parse_root(body: bytes) -> Any:
    """The report's root element, parsed without entities, DTDs or network access."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"XML parsing failed: {exc}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"root element <{root.tag}> is not testsuites/testsuite")
    return root


def read_report(
    body: bytes,
) -> tuple[list[tuple[str, str]], dict[str, int], list[StoredSuite]]:
    """``parse_junit``'s properties and counts, and the suites, from one parse of ``body``."""
    root = _parse_root(body)
    return *_properties_and_counts(root), _suites(root)


def parse_suites(body: bytes) -> list[StoredSuite]:
    """Every ``<testsuite>`` of the report (nested ones included, in document order) with its
    direct ``<testcase>`` children. Raises ``ValueError`` for invalid XML.

    A ``<testcase>`` outside any ``<testsuite>`` (directly under ``<testsuites>``) belongs to no
    suite, so the query API does not count it (``parse_junit`` does).
    """
    return _suites(_parse_root(body))


def _seconds(value: str | None) -> float | None:
    """A ``time`` attribute as seconds, None when it is missing or not a finite number ≥ 0."""
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _case(element: Any) -> StoredCase:
    """A ``<testcase>``: failed with a ``<failure>`` child, else error with an ``<error>``, else
    skipped with a ``<skipped>``, else passed (the counting of ``parse_junit``)."""
    status, problem = "passed", None
    for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        child = element.find(tag)  # direct children only
        if child is not None:
            status, problem = name, (child if tag != "skipped" else None)
            break
    return StoredCase(
        id=str(uuid.uuid4()),
        name=element.get("name") or "",
        classname=element.get("classname") or "",
        status=status,
        time=_seconds(element.get("time")) or 0.0,
        failure_message=None if problem is None else problem.get("message"),
        failure_type=None if problem is None else problem.get("type"),
        failure_stacktrace=None if problem is None else (problem.text or None),
    )


def _suites(root: Any) -> list[StoredSuite]:
    suites = []
    for element in root.iter("testsuite"):
        cases = [_case(child) for child in element if child.tag == "testcase"]
        own_time = _seconds(element.get("time"))
        suites.append(
            StoredSuite(
                id=str(uuid.uuid4()),
                name=element.get("name") or "",
                cases=cases,
                time=own_time
                if own_time is not None
                else round(sum(case.time for case in cases), 6),
            )
        )
    return suites


def _properties_and_counts(root: Any) -> tuple[list[tuple[str, str]], dict[str, int]]:
    suite = root if root.tag == "testsuite" else next(root.iter("testsuite"), None)
    props: list[tuple[str, str]] = []
    if suite is not None:
        for prop in suite.findall("properties/property"):
            props.append((prop.get("name") or "", prop.get("value") or ""))
    counts = {"test_count": 0, "failure_count": 0, "error_count": 0, "skipped_count": 0}
    for case in root.iter("testcase"):
        counts["test_count"] += 1
        tags = {child.tag for child in case}
        if "failure" in tags:
            counts["failure_count"] += 1
        elif "error" in tags:
            counts["error_count"] += 1
        elif "skipped" in tags:
            counts["skipped_count"] += 1
    return props, counts


class JuxServer:
    """The server; use as a context manager. Attributes tests may set at any time:

    - ``api_key``: None (no auth), or the key required (401 without, 403 wrong)
    - ``rate_limit``: (requests, window seconds) per key, or None
    - ``version``: what ``/api/version`` reports, or None for 404
    - ``faults``: a deque of ``Fault`` consumed by the next POSTs (or GETs, see ``Fault.method``)
    - ``max_package_size``, ``require_signature``, ``trusted_certs``: for the package endpoint
    - ``query_api``: serve the query API (``query.py``); False: every query path answers 404
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        version: str | None = "1.0.1",
        rate_limit: tuple[int, float] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        check_spec: bool = True,
    ) -> None:
        self.api_key = api_key
        self.version = version
        self.rate_limit = rate_limit
        #: answer a repeated ``Idempotency-Key`` with the first run's 201, storing nothing
        self.honour_idempotency = False
        #: seconds every POST takes before it is handled (a busy server)
        self.latency = 0.0
        #: answer the query API's GETs (``query.py``); False: a server without it (404)
        self.query_api = True
        #: the last ``inserted_at`` given, so that each run's is later than the one before
        self._last_inserted: datetime | None = None
        self._idem_lock = threading.Lock()
        self.faults: deque[Fault] = deque()
        self.requests: list[LoggedRequest] = []
        self.runs: list[StoredRun] = []
        self.max_package_size = 50_000_000
        self.require_signature = False
        #: attachment MIME types accepted (None: any), e.g. the implementer's guide's list
        self.attachment_types: frozenset[str] | None = None
        self.trusted_certs: list[bytes] = []
        self.lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}
        self._spec = SpecChecker() if check_spec else None
        #: extra POST handlers by path (the package endpoint registers itself here)
        self.handlers: dict[
            str, Callable[[JuxServer, LoggedRequest], tuple[int, dict[str, str], Any]]
        ] = {
            RAW_PATH: _handle_raw,
        }
        try:
            from tests.jux_server.package import handle_package
        except ImportError:
            pass
        else:
            self.handlers[PACKAGE_PATH] = handle_package
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> JuxServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> JuxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- helpers for tests -----------------------------------------------------------
    def posts(self, path: str | None = None) -> list[LoggedRequest]:
        with self.lock:
            return [
                r for r in self.requests if r.method == "POST" and (path is None or r.path == path)
            ]

    def gets(self, path_prefix: str | None = None) -> list[LoggedRequest]:
        """The GETs received, or those whose path (without query string) starts so."""
        with self.lock:
            return [
                r
                for r in self.requests
                if r.method == "GET" and (path_prefix is None or r.path.startswith(path_prefix))
            ]

    def run_by_id(self, run_id: str) -> StoredRun | None:
        with self.lock:
            return next((r for r in self.runs if r.test_run_id.lower() == run_id.lower()), None)

    def suite_by_id(self, suite_id: str) -> tuple[StoredRun, StoredSuite] | None:
        """The stored suite with this id and the run it belongs to."""
        with self.lock:
            for run in self.runs:
                for suite in run.suites:
                    if suite.id.lower() == suite_id.lower():
                        return run, suite
        return None

    @property
    def violations(self) -> list[str]:
        with self.lock:
            return [f"{r.method} {r.path}: {v}" for r in self.requests for v in r.violations]

    def store(self, run: StoredRun) -> None:
        """Keep ``run``; give it ``inserted_at`` (later than every run before) and its suites
        (parsed from ``run.body``) when it has none."""
        if not run.suites and run.body:
            with contextlib.suppress(ValueError):
                run.suites = parse_suites(run.body)
        with self.lock:
            if not run.inserted_at:
                now = datetime.now(UTC)
                if self._last_inserted is not None and now <= self._last_inserted:
                    now = self._last_inserted + timedelta(microseconds=1)
                self._last_inserted = now
                run.inserted_at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            self.runs.append(run)

    def _next_fault(self, path: str, method: str = "POST") -> Fault | None:
        with self.lock:
            for fault in list(self.faults):
                if fault.method == method and (fault.path is None or fault.path == path):
                    self.faults.remove(fault)
                    return fault
        return None

    def _rate_limited(self, key: str) -> tuple[bool, dict[str, str]]:
        if not self.rate_limit:
            return False, {}
        limit, window = self.rate_limit
        now = time.time()
        with self.lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            reset_at = (hits[0] + window) if hits else now + window
            headers = {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Reset": str(int(reset_at + 0.999)),
            }
            if len(hits) >= limit:
                wait = max(1, int(reset_at - now + 0.999))
                headers.update({"Retry-After": str(wait), "X-RateLimit-Remaining": "0"})
                return True, headers
            hits.append(now)
            headers["X-RateLimit-Remaining"] = str(limit - len(hits))
            return False, headers


def _handle_raw(server: JuxServer, req: LoggedRequest) -> tuple[int, dict[str, str], Any]:
    content_type = req.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/xml":
        return (
            400,
            {},
            _error("Invalid content type", f"expected application/xml, got {content_type!r}"),
        )
    try:
        props, counts, suites = read_report(req.body)
    except ValueError as exc:
        return (
            400,
            {},
            _error(
                "Invalid JUnit XML", str(exc), "Ensure XML is well-formed with proper closing tags"
            ),
        )
    first: dict[str, str] = {}
    for name, value in props:
        first.setdefault(name, value)
    if not first.get("project", "").strip():
        return (
            400,
            {},
            _error(
                "Missing required metadata",
                "Project name is required but not found in XML properties",
                'Add <property name="project" value="your-project-name"/> to testsuite properties',
                missing_property="project",
            ),
        )
    run = StoredRun(
        str(uuid.uuid4()),
        RAW_PATH,
        req.body,
        first,
        props,
        counts,
        idempotency_key=req.headers.get("idempotency-key"),
        suites=suites,
    )
    server.store(run)
    return 201, {}, submit_response(run)


def check_auth(server: JuxServer, req: LoggedRequest) -> tuple[int, dict[str, str], Any] | None:
    """The 401/403 answer when ``server.api_key`` is set and ``req`` lacks it, else None."""
    if server.api_key is None:
        return None
    auth = req.headers.get("authorization")
    if not auth:
        return (
            401,
            {},
            _error(
                "Authentication required",
                "Authorization header is required for team server submissions",
                "Include 'Authorization: Bearer <api_key>' header",
            ),
        )
    if auth != f"Bearer {server.api_key}":
        return (
            403,
            {},
            _error(
                "Invalid API key",
                "API key is invalid or has been revoked",
                "Verify API key is correct",
            ),
        )
    return None


def submit_response(run: StoredRun) -> dict[str, Any]:
    c = run.counts
    tests = c["test_count"]
    passed = tests - c["failure_count"] - c["error_count"] - c["skipped_count"]
    rate = round(100.0 * passed / tests, 1) if tests else 0.0
    return {
        "test_run_id": run.test_run_id,
        "message": "Test results submitted successfully",
        **c,
        "success_rate": max(0.0, min(100.0, rate)),
    }


def _make_handler(server: JuxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "jux-test-server/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(length) if length else b""

        def _log(self, body: bytes) -> LoggedRequest:
            path, _, query = self.path.partition("?")
            req = LoggedRequest(
                self.command,
                path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
                time.time(),
                query=query,
            )
            with server.lock:
                server.requests.append(req)
            return req

        def _send(
            self, req: LoggedRequest, status: int, headers: dict[str, str], payload: Any
        ) -> None:
            if isinstance(payload, bytes | bytearray):
                body = bytes(payload)
                ctype = headers.pop("Content-Type", "text/plain")
            elif payload is None:
                body, ctype = b"", headers.pop("Content-Type", "text/plain")
            else:
                body = json.dumps(payload).encode()
                ctype = "application/json"
            req.status = status
            if server._spec is not None:
                req.violations.extend(server._spec.check_response(req, status, ctype, body))
            head = [
                f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
                f"Server: {self.server_version}",
                f"Content-Type: {ctype}",
                f"Content-Length: {len(body)}",
            ]
            head += [f"{k}: {v}" for k, v in headers.items()]
            # one send: headers and body together (no Nagle/delayed-ACK stall)
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

        def do_GET(self) -> None:
            req = self._log(self._read_body())
            if server._spec is not None:
                req.violations.extend(server._spec.check_request(req))
            self._serve(req, self._dispatch_get, latency=0.0)

        def do_POST(self) -> None:
            body = self._read_body()
            req = self._log(body)
            if server._spec is not None:
                req.violations.extend(server._spec.check_request(req))
            self._serve(req, self._dispatch, latency=server.latency)

        def _serve(
            self,
            req: LoggedRequest,
            dispatch: Callable[[LoggedRequest], tuple[int, dict[str, str], Any]],
            *,
            latency: float,
        ) -> None:
            """Answer ``req`` with ``dispatch``, or as the next matching fault scripts."""
            fault = server._next_fault(req.path, req.method)
            if fault is not None and fault.kind == "drop":
                req.status = None
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if latency:
                time.sleep(latency)
            if fault is not None and fault.kind == "delay" and not fault.store_first:
                time.sleep(fault.seconds)
                if fault.abort_if_gone and self._client_gone():
                    req.status = None
                    self.close_connection = True
                    return
            if fault is not None and fault.kind in ("status", "redirect"):
                self._send(
                    req,
                    fault.status,
                    dict(fault.headers),
                    fault.body
                    if fault.body is not None
                    else (
                        _error("Scripted", f"scripted {fault.status}")
                        if fault.kind == "status"
                        else b""
                    ),
                )
                return
            status, headers, payload = dispatch(req)
            if fault is not None and fault.kind == "delay" and fault.store_first:
                time.sleep(fault.seconds)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._send(req, status, headers, payload)

        def _client_gone(self) -> bool:
            import select

            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            try:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _dispatch_get(self, req: LoggedRequest) -> tuple[int, dict[str, str], Any]:
            if req.path == VERSION_PATH and server.version is not None:
                return 200, {}, {"version": server.version}
            if server.query_api:
                from tests.jux_server.query import handle_query

                answer = handle_query(server, req)
                if answer is not None:
                    return answer
            return 404, {}, _error("Not found", f"no route for GET {req.path}")

        def _dispatch(self, req: LoggedRequest) -> tuple[int, dict[str, str], Any]:
            handler = server.handlers.get(req.path)
            if handler is None:
                return 404, {}, _error("Not found", f"no route for POST {req.path}")
            refused = check_auth(server, req)
            if refused is not None:
                return refused
            auth = req.headers.get("authorization")
            limited, rl_headers = server._rate_limited(auth or "anonymous")
            if limited:
                return (
                    429,
                    rl_headers,
                    _error(
                        "Rate limit exceeded",
                        "Maximum submissions per minute exceeded",
                        f"Wait {rl_headers['Retry-After']} seconds before retrying",
                        retry_after=int(rl_headers["Retry-After"]),
                    ),
                )
            key = req.headers.get("idempotency-key")
            if server.honour_idempotency and key:
                with server._idem_lock:
                    with server.lock:
                        first = next((r for r in server.runs if r.idempotency_key == key), None)
                    if first is not None:
                        return 201, rl_headers, submit_response(first)
                    status, headers, payload = handler(server, req)
            else:
                status, headers, payload = handler(server, req)
            return status, {**rl_headers, **headers}, payload

    return Handler
