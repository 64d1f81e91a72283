"""Plumbing shared by the loopback GitHub and GitLab API servers.

A :class:`LoopbackApi` is a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0: the system picks one)
served from a daemon thread and used as a context manager, like ``tests/jux_server/server.py``.
Every request is appended to ``requests`` (under ``lock``) *before* it is answered, with its
method, raw path, decoded query, lower-cased headers and exact body; the platform module then
checks it, appends what it found wrong to that request's ``violations`` and picks the answer.
Answers are written in one piece with an exact ``Content-Length`` over HTTP/1.1, so a client may
keep its connection alive between requests.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class LoggedRequest:
    """One request as the server received it.

    ``path`` is the request path as sent (percent-encoding kept, so ``group%2Fproject`` stays
    one segment); ``query`` maps each query parameter to its values in order; ``headers`` has
    lower-cased names; ``status`` is set just before the answer is written.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    target: str
    received_at: float
    status: int | None = None
    violations: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Reply:
    """What the server answers: a JSON payload (or raw bytes) with extra headers."""

    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE


class Checks:
    """What one request got wrong, and the answer it gets: the first failed check decides it.

    ``violation`` records a client mistake (and, when given, the answer the platform would
    give for it); ``answer`` sets an answer that is not the client's fault (a scripted denial).
    """

    def __init__(self, req: LoggedRequest, lock: threading.RLock) -> None:
        self.req = req
        self._lock = lock
        self.reply: Reply | None = None

    def violation(self, message: str, reply: Reply | None = None) -> None:
        with self._lock:
            self.req.violations.append(message)
        if reply is not None and self.reply is None:
            self.reply = reply

    def answer(self, reply: Reply) -> None:
        if self.reply is None:
            self.reply = reply

    @property
    def failed(self) -> bool:
        return self.reply is not None


class LogicalClock:
    """Deterministic timestamps: every event is ``step`` later than the previous one.

    Both platforms write timestamps with a resolution of a second or a millisecond, so a real
    clock could give a comment the same ``updated_at`` after an edit; this one never does.
    """

    def __init__(self, start: datetime | None = None, step: timedelta | None = None) -> None:
        self._now = start or datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
        self._step = step or timedelta(seconds=61)

    def tick(self) -> datetime:
        self._now += self._step
        return self._now

    @property
    def now(self) -> datetime:
        return self._now


def media_type(value: str | None) -> str:
    """``application/json`` from ``Application/JSON; charset=utf-8`` ('' when absent)."""
    return (value or "").split(";", 1)[0].strip().lower()


def media_params(value: str | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in (value or "").split(";")[1:]:
        name, _, val = part.partition("=")
        params[name.strip().lower()] = val.strip().strip('"')
    return params


def query_with(query: dict[str, list[str]], drop: Iterable[str], **values: int) -> str:
    """The query string of ``query`` less ``drop``, with ``values`` replacing or appended."""
    dropped = set(drop) | set(values)
    pairs: list[tuple[str, str]] = [
        (name, value) for name, vals in query.items() if name not in dropped for value in vals
    ]
    pairs += [(name, str(value)) for name, value in values.items()]
    return urlencode(pairs)


def link_header(links: Sequence[tuple[str, str]]) -> str:
    """An RFC 8288 ``Link`` value from ``(url, rel)`` pairs, in the order given."""
    return ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links)


def pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


class LoopbackApi:
    """Base class: lifecycle, request log and HTTP plumbing; subclasses implement ``handle``."""

    server_version = "platform-api-test/1.0"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.lock = threading.RLock()
        self.requests: list[LoggedRequest] = []
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
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{self.port}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- inspection --------------------------------------------------------------------
    @property
    def violations(self) -> list[str]:
        """Every violation so far, each prefixed with its request's method and path."""
        with self.lock:
            return [f"{r.method} {r.path}: {v}" for r in self.requests for v in r.violations]

    def calls(self, method: str | None = None) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.requests if method is None or r.method == method]

    # --- to implement ------------------------------------------------------------------
    def handle(self, req: LoggedRequest) -> Reply:
        raise NotImplementedError

    def bad_framing(self, req: LoggedRequest) -> Reply:
        """The answer to a request whose body could not be read (bad ``Content-Length``)."""
        return Reply(400, {"message": "Bad Request"})


def _make_handler(api: LoopbackApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = api.server_version

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _read_body(self) -> bytes | None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline().strip():
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            raw = self.headers.get("Content-Length")
            if raw is None:
                return b""
            if not raw.strip().isdigit():
                return None
            length = int(raw)
            return self.rfile.read(length) if length else b""

        def _serve(self) -> None:
            body = self._read_body()
            split = urlsplit(self.path)
            req = LoggedRequest(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body or b"",
                target=self.path,
                received_at=time.time(),
            )
            with api.lock:
                api.requests.append(req)
            if body is None:
                with api.lock:
                    req.violations.append("unreadable Content-Length header")
                self.close_connection = True
                reply = api.bad_framing(req)
            else:
                try:
                    reply = api.handle(req)
                except Exception as exc:  # a bug in the test server: make it visible
                    with api.lock:
                        req.violations.append(f"test server error: {exc!r}")
                    reply = Reply(500, {"message": "Server Error"})
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._send(req, reply)

        def _send(self, req: LoggedRequest, reply: Reply) -> None:
            if isinstance(reply.payload, bytes | bytearray):
                body = bytes(reply.payload)
            elif reply.payload is None:
                body = b""
            else:
                body = json.dumps(reply.payload).encode("utf-8")
            with api.lock:
                req.status = reply.status
            head = [
                f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}",
                f"Server: {self.server_version}",
                f"Date: {self.date_time_string()}",
                f"Content-Type: {reply.content_type}",
                f"Content-Length: {len(body)}",
            ]
            head += [f"{name}: {value}" for name, value in reply.headers.items()]
            if self.close_connection:
                head.append("Connection: close")
            payload = b"" if self.command == "HEAD" else body
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)

        def do_GET(self) -> None:
            self._serve()

        def do_HEAD(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def do_OPTIONS(self) -> None:
            self._serve()

    return Handler
