"""A small Jux-compatible server for tests and the demo, on 127.0.0.1.

It implements the submission contract (``shared/spec/openapi-submission.yaml`` and CONTRACT.md):
the raw endpoint parses the XML and requires ``project``; Bearer auth can be off, optional or
required; rate limiting answers 429 with ``Retry-After`` and ``X-RateLimit-*``; ``/api/version``
answers or is missing. Scripted faults (5xx bursts, 429s, dropped connections, slow answers,
redirects, odd bodies) apply to the next POSTs, and every request is logged with its exact body
and checked against the OpenAPI document.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

from tests.jux_server.spec import SpecChecker

RAW_PATH = "/api/v1/junit/submit"
PACKAGE_PATH = "/api/v1/reports/package"
VERSION_PATH = "/api/version"


@dataclass
class Fault:
    """One scripted answer for the next matching POST.

    kind: ``status`` (answer ``status`` with ``headers``/``body``, store nothing), ``drop`` (close
    the connection without answering), ``delay`` (sleep ``seconds`` then handle normally, or
    after storing when ``store_first``), ``redirect`` (answer ``status`` with Location).
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

    @classmethod
    def error(
        cls,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        path: str | None = None,
    ) -> Fault:
        return cls("status", status=status, headers=headers or {}, body=body, path=path)

    @classmethod
    def drop(cls, path: str | None = None) -> Fault:
        return cls("drop", path=path)

    @classmethod
    def delay(
        cls, seconds: float, *, store_first: bool = False, abort_if_gone: bool = False
    ) -> Fault:
        return cls("delay", seconds=seconds, store_first=store_first, abort_if_gone=abort_if_gone)

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Fault:
        return cls("redirect", status=status, headers={"Location": location})


@dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: int | None = None
    violations: list[str] = field(default_factory=list)


@dataclass
class StoredRun:
    """A test run the server accepted."""

    test_run_id: str
    endpoint: str
    body: bytes
    properties: dict[str, str]
    property_list: list[tuple[str, str]]
    counts: dict[str, int]
    attachments: dict[str, bytes] = field(default_factory=dict)
    signed: bool = False
    idempotency_key: str | None = None


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
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"XML parsing failed: {exc}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"root element <{root.tag}> is not testsuites/testsuite")
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
    - ``faults``: a deque of ``Fault`` consumed by the next POSTs
    - ``max_package_size``, ``require_signature``, ``trusted_certs``: for the package endpoint
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

    @property
    def violations(self) -> list[str]:
        with self.lock:
            return [f"{r.method} {r.path}: {v}" for r in self.requests for v in r.violations]

    def store(self, run: StoredRun) -> None:
        with self.lock:
            self.runs.append(run)

    def _next_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in list(self.faults):
                if fault.path is None or fault.path == path:
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
        props, counts = parse_junit(req.body)
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
    )
    server.store(run)
    return 201, {}, submit_response(run)


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
            req = LoggedRequest(
                self.command,
                self.path.split("?")[0],
                {k.lower(): v for k, v in self.headers.items()},
                body,
                time.time(),
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
            req = self._log(b"")
            if req.path == VERSION_PATH and server.version is not None:
                self._send(req, 200, {}, {"version": server.version})
            else:
                self._send(req, 404, {}, _error("Not found", f"no route for GET {req.path}"))

        def do_POST(self) -> None:
            body = self._read_body()
            req = self._log(body)
            if server._spec is not None:
                req.violations.extend(server._spec.check_request(req))
            fault = server._next_fault(req.path)
            if fault is not None and fault.kind == "drop":
                req.status = None
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if server.latency:
                time.sleep(server.latency)
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
            status, headers, payload = self._dispatch(req)
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

        def _dispatch(self, req: LoggedRequest) -> tuple[int, dict[str, str], Any]:
            handler = server.handlers.get(req.path)
            if handler is None:
                return 404, {}, _error("Not found", f"no route for POST {req.path}")
            auth = req.headers.get("authorization")
            if server.api_key is not None:
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
