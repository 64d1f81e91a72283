"""HTTP: the one place that imports urllib3.

``build_client`` makes the single client (retry policy, timeouts, User-Agent, auth, proxy), an
``HttpClient`` implementing ``client.Client``: ``post`` hands back the final answer, or raises a
``SubmitFailedError`` for failures that never produced one (refused, DNS, TLS, timeout).
Redirects are never followed; every exchange has a wall-clock limit and answers are read up to
``ANSWER_LIMIT``. No urllib3 type leaves this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import functools
import io
import ipaddress
import json
import logging
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sized
from http.client import HTTPException
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlencode, urlsplit

from urllib3 import PoolManager, ProxyManager, Timeout
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import make_headers, parse_url
from urllib3.util.retry import Retry
from urllib3.util.ssl_ import create_urllib3_context

from jux_submit import __version__
from jux_submit.client import Answer
from jux_submit.errors import (
    ConfigError,
    ConnectionFailedError,
    DeadlineExceededError,
    InterruptedSubmitError,
    ServerUnavailableError,
    SubmitFailedError,
    SubmitTimeoutError,
    TLSError,
)
from jux_submit.models import Record, record
from jux_submit.redact import Redactor

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

    from jux_submit.models import Endpoint
    from jux_submit.settings import Settings

log = logging.getLogger("jux_submit.transport")

USER_AGENT = f"jux-submit/{__version__} (+https://github.com/jux/submit-action)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
VERSION_TIMEOUT = 5.0
#: the most of an answer that is read: the contract's answers are small JSON documents; the
#: rest of a bigger one is discarded with its connection (a 1 GiB answer cost 2.85 GB before)
ANSWER_LIMIT = 1024 * 1024
#: the slowest upload an attempt allows for, on top of ``--timeout``: a 50 MB package must not
#: fail on a slow link because the whole exchange has to fit in 30 s (1 Mbit/s)
UPLOAD_FLOOR = 128 * 1024
#: how often the watchdog looks at the stop flag of an interruptible exchange (the version check)
STOP_POLL = 0.1
_READ_CHUNK = 64 * 1024
ALLOW_INSECURE = (
    "--allow-insecure-http / JUX_ALLOW_INSECURE_HTTP=true / input 'allow-insecure-http'"
)
CA_OPTION = "--ca-bundle / JUX_CA_BUNDLE / input 'ca-bundle'"
CLIENT_CERT_OPTIONS = (
    "--client-cert / JUX_CLIENT_CERT and --client-key / JUX_CLIENT_KEY (inputs 'client-cert', "
    "'client-key'; an encrypted key's passphrase in JUX_CLIENT_KEY_PASSWORD)"
)
#: where the CA bundle comes from without ``--ca-bundle``, in this order: the variables
#: requests and curl read, then OpenSSL's; else certifi's public CAs
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


class JuxRetry(Retry):
    """urllib3's Retry with the contract's policy.

    - POST is retried on purpose: every request carries an ``Idempotency-Key`` and the server
      stores a run only on 201, so a retry after a refused connection or a 429/5xx cannot
      duplicate; a read timeout after the body was sent is the one case that can.
    - Backoff is exponential (1 s, 2 s, 4 s ...) with full jitter, so parallel jobs spread out.
    - ``Retry-After`` (seconds or HTTP date) wins over backoff, then ``X-RateLimit-Reset``;
      either is capped at ``max_retry_wait`` and by the run's deadline.
    - A wait never outlives a cancelled run: ``stop`` (set by SIGTERM/SIGINT) ends it with
      ``InterruptedSubmitError`` (issue 6, "Interruption").
    - 413 is retried only when it carries ``Retry-After`` (the server is shedding load):
      urllib3 does that for 413/429/503 with the header; 413 is not in the status list.
    - A wait also ends when ``give_up`` is set: the run has concluded that the server is down
      (``deliver.Breaker``), so waiting for it only delays the rest.
    - When the retries run out, the ``MaxRetryError`` says whether any attempt timed out after
      the body was sent (``jux_possible_duplicate``), so a failure can warn about a copy the
      server may have stored.
    - An attempt cut by its wall-clock limit (``_Exchange``) is a read timeout like any other:
      retried, and counted as a possible duplicate. The wait between attempts is not part of
      either attempt's limit.
    """

    def __init__(
        self,
        *args: Any,
        max_retry_wait: float = 120.0,
        deadline: float | None = None,
        jitter: bool = True,
        stop: threading.Event | None = None,
        give_up: threading.Event | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_retry_wait = max_retry_wait
        self.deadline = deadline
        self.jitter = jitter
        self.stop = stop
        self.give_up = give_up

    def new(self, **kw: Any) -> JuxRetry:
        kw.setdefault("max_retry_wait", self.max_retry_wait)
        kw.setdefault("deadline", self.deadline)
        kw.setdefault("jitter", self.jitter)
        kw.setdefault("stop", self.stop)
        kw.setdefault("give_up", self.give_up)
        return super().new(**kw)

    def increment(self, *args: Any, **kwargs: Any) -> JuxRetry:
        try:
            return super().increment(*args, **kwargs)
        except MaxRetryError as exc:
            error = kwargs.get("error", args[3] if len(args) > 3 else None)
            timed_out = isinstance(error, ReadTimeoutError) or any(
                isinstance(h.error, ReadTimeoutError) for h in self.history
            )
            exc.jux_possible_duplicate = timed_out  # type: ignore[attr-defined]
            exc.jux_attempts = len(self.history) + 1  # type: ignore[attr-defined]
            raise

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        # urllib3 sleeps between two attempts (after a failure or a retried status), in the
        # thread that makes them: the one place that knows where an attempt ends
        exchange = _active_exchange()
        if exchange is not None:
            exchange.end_attempt()
        super().sleep(response)
        if exchange is not None:
            exchange.start_attempt()

    def get_backoff_time(self) -> float:
        # 1 s, 2 s, 4 s ... after the 1st, 2nd, 3rd failure (urllib3 waits 0 s after the 1st)
        failures = len(self.history)
        if failures == 0 or self.backoff_factor <= 0:
            return 0.0
        ceiling = min(self.backoff_max, self.backoff_factor * 2 ** (failures - 1))
        return random.uniform(0, ceiling) if self.jitter else ceiling  # noqa: S311 - not crypto

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = float(retry_after.strip())
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(retry_after)
            if parsed is None:
                raise
            seconds = parsed.timestamp() - time.time()
        return max(0.0, seconds)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        header = response.headers.get("Retry-After")
        seconds: float | None = None
        if header:
            try:
                seconds = self.parse_retry_after(header)
            except (ValueError, TypeError):
                seconds = None
        if seconds is None and response.status == 429:
            reset = response.headers.get("X-RateLimit-Reset")
            if reset:
                try:
                    value = float(reset)
                    # a Unix timestamp (spec), or seconds from now (common elsewhere)
                    seconds = max(0.0, value - time.time()) if value > 1e9 else max(0.0, value)
                except ValueError:
                    seconds = None
        if seconds is None:
            return None
        return min(seconds, self.max_retry_wait)

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after:
            self._sleep_within_deadline(retry_after)
            return True
        return False

    def _sleep_backoff(self) -> None:
        self._sleep_within_deadline(self.get_backoff_time())

    def _sleep_within_deadline(self, seconds: float) -> None:
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if seconds > remaining:
                raise DeadlineExceededError(
                    f"the run's deadline leaves {max(0.0, remaining):.0f} s, but the next retry "
                    f"would wait {seconds:.0f} s"
                )
        if self.stop is not None and self.stop.is_set():
            raise InterruptedSubmitError("the run was interrupted before the next retry")
        if self.give_up is not None and self.give_up.is_set():
            raise ServerUnavailableError("the run stopped contacting the server")
        if seconds > 0:
            log.debug("waiting %.1f s before retrying", seconds)
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                if self.stop is not None and self.stop.wait(min(left, 0.1)):
                    raise InterruptedSubmitError("the run was interrupted while waiting to retry")
                if self.stop is None:
                    time.sleep(min(left, 0.1))
                if self.give_up is not None and self.give_up.is_set():
                    raise ServerUnavailableError("the run stopped contacting the server")


# --- every wait bounded ---------------------------------------------------------------------
#
# urllib3's timeouts bound each socket operation, not an exchange: a server sending one byte
# every 0.5 s keeps a 2 s read timeout from ever firing, for hours. So each attempt also has a
# wall-clock limit (``--timeout``, plus time to upload a big body, never past the run's
# deadline), kept by a watchdog: one thread that, when an attempt's limit passes (or the stop
# flag of an interruptible exchange is set), shuts the attempt's sockets down. shutdown(2) is
# the well-understood way to wake a thread blocked in recv()/send() on a socket from another
# thread (close() is not: it leaves the blocked call waiting on Linux), and it works during
# the TLS handshake and inside a proxy tunnel alike, where no higher layer could be asked to
# stop. The blocked call then fails; the connection (below) turns that failure into urllib3's
# own timeout errors, so the retry policy and the classification treat a cut attempt as a
# timeout. Alternatives not taken: checking a deadline between reads cannot see inside
# http.client's header parsing (one readline() per header line, each byte a separate recv);
# running each request in a thread that is abandoned on time leaves its socket and thread
# behind; SIGALRM works only in the main thread.
#
# Seams used: urllib3's connection class per pool (``ConnectionCls``), and the connection's
# ``_new_conn`` / ``connect`` / ``request`` / ``getresponse`` and the pool's ``_put_conn``
# (the connection is back in the pool: it belongs to no exchange any more). The exchange
# that a connection works for is the calling thread's (urllib3 makes every attempt of one
# request in the thread that asked for it). DNS resolution is the one wait not covered: the
# resolver cannot be interrupted, and has its own timeouts.

_ACTIVE = threading.local()


def _active_exchange() -> _Exchange | None:
    exchange: _Exchange | None = getattr(_ACTIVE, "exchange", None)
    return exchange


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


class _Watchdog:
    """One thread cutting the sockets of exchanges whose attempt is past its limit."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.armed: set[_Exchange] = set()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._wakes_at: float | None = None  # when the thread looks again (None: on notice)

    def arm(self, exchange: _Exchange, ends: float) -> None:
        """Watch ``exchange`` until ``ends`` (lock held by the caller)."""
        self.armed.add(exchange)
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="jux-watchdog", daemon=True)
            self._thread.start()
        if self._wakes_at is None or ends < self._wakes_at or exchange.stop is not None:
            self.lock.notify()  # otherwise the thread wakes early enough anyway

    def close(self) -> None:
        with self.lock:
            self._closed = True
            self.lock.notify()

    def stop_thread(self) -> None:
        """End the thread while nothing is watched; the next exchange starts it again (a
        process about to fork must run no other thread)."""
        with self.lock:
            thread, self._thread = self._thread, None
            self.lock.notify()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        me = threading.current_thread()
        with self.lock:
            while not self._closed and self._thread is me:
                now = time.monotonic()
                wait: float | None = None
                for exchange in list(self.armed):
                    left = exchange.due_in(now)
                    if left <= 0:
                        exchange.cut_locked()
                        self.armed.discard(exchange)
                    else:
                        wait = left if wait is None else min(wait, left)
                self._wakes_at = None if wait is None else now + wait
                self.lock.wait(wait)


class _Exchange:
    """One request (all its attempts) and the wall-clock limit of its current attempt."""

    def __init__(
        self,
        watchdog: _Watchdog,
        *,
        limit: float,
        limit_text: str,
        deadline: float | None,
        deadline_text: str,
        stop: threading.Event | None = None,
    ) -> None:
        self._watchdog = watchdog
        self.limit = limit
        self.limit_text = limit_text
        self.deadline = deadline
        self.deadline_text = deadline_text
        self.stop = stop
        self.ends: float | None = None  # None: between attempts
        self.is_deadline_bound = False  # the current attempt ends at the run's deadline
        self.cut: str | None = None  # why the current attempt was cut: limit, deadline, stop
        self._sockets: dict[_WatchedConnection, list[socket.socket]] = {}

    @property
    def within(self) -> str:
        """The limit that cut (or would cut) the current attempt, for messages."""
        return self.deadline_text if self.is_deadline_bound else self.limit_text

    def start_attempt(self) -> None:
        with self._watchdog.lock:
            ends = time.monotonic() + self.limit
            self.is_deadline_bound = self.deadline is not None and self.deadline <= ends
            self.ends = min(ends, self.deadline) if self.deadline is not None else ends
            self.cut = None
            self._watchdog.arm(self, self.ends)

    def end_attempt(self) -> None:
        with self._watchdog.lock:
            for conn in list(self._sockets):
                self._release_locked(conn)
            self.ends = None
            self._watchdog.armed.discard(self)

    def remaining(self) -> float:
        return float("inf") if self.ends is None else self.ends - time.monotonic()

    def due_in(self, now: float) -> float:
        """Seconds until this attempt must be cut (<= 0: now). Lock held."""
        if self.ends is None:
            return float("inf")
        if self.stop is not None and self.stop.is_set():
            return 0.0
        left = self.ends - now
        return min(left, STOP_POLL) if self.stop is not None else left

    def cut_locked(self) -> None:
        """Shut down every socket of the current attempt (watchdog thread, lock held)."""
        if self.stop is not None and self.stop.is_set():
            self.cut = "stop"
        else:
            self.cut = "deadline" if self.is_deadline_bound else "limit"
        for conn, sockets in self._sockets.items():
            conn.jux_is_cut = True
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def watch(self, conn: _WatchedConnection, sock: Any) -> None:
        """Cut ``sock`` (of ``conn``) with this attempt. A duplicate of its descriptor is kept:
        TLS takes the socket object over during the handshake, and the duplicate can never
        name another socket once the connection closes its own descriptor. (``fromfd`` uses
        the socket library's own dup, which also works for Windows sockets.)"""
        fileno = sock.fileno()
        if fileno < 0:
            return
        with self._watchdog.lock:
            previous = conn.jux_exchange
            if previous is not None and previous is not self:
                previous._release_locked(conn)
            family = getattr(sock, "family", socket.AF_INET)
            watched = socket.fromfd(fileno, family, socket.SOCK_STREAM)
            self._sockets.setdefault(conn, []).append(watched)
            conn.jux_exchange = self
            if self.cut is not None:
                with contextlib.suppress(OSError):
                    watched.shutdown(socket.SHUT_RDWR)

    def release(self, conn: _WatchedConnection) -> bool:
        """Stop watching ``conn``; True when this attempt cut it (it must not be reused)."""
        with self._watchdog.lock:
            return self._release_locked(conn)

    def _release_locked(self, conn: _WatchedConnection) -> bool:
        for sock in self._sockets.pop(conn, []):
            sock.close()
        if conn.jux_exchange is self:
            conn.jux_exchange = None
        was_cut, conn.jux_is_cut = conn.jux_is_cut, False
        return was_cut

    def check(self, conn: _WatchedConnection, *, is_connecting: bool) -> None:
        """Raise when this attempt may not go on: cut, or out of time before it started."""
        if self.cut is None and self.remaining() > 0:
            return
        if self.cut is None and self.is_deadline_bound:
            raise DeadlineExceededError(
                f"the {self.deadline_text} passed before {conn.host} answered",
                hint="run 'jux-submit resubmit' later, or raise --deadline / JUX_DEADLINE",
            )
        raise self.connect_timeout(conn) if is_connecting else self.read_timeout(conn)

    def connect_timeout(self, conn: _WatchedConnection) -> _CutConnectTimeoutError:
        return _CutConnectTimeoutError(
            conn, f"connecting to {conn.host} took longer than the {self.within}", self.within
        )

    def read_timeout(self, conn: _WatchedConnection) -> _CutReadTimeoutError:
        message = f"no complete answer within the {self.within}"
        return _CutReadTimeoutError(f"{conn.host}:{conn.port}", conn.jux_url, message, self.within)


class _CutConnectTimeoutError(ConnectTimeoutError):
    """An attempt cut by its wall-clock limit before the connection was ready."""

    def __init__(self, conn: object, message: str, within: str) -> None:
        super().__init__(conn, message)
        self.within = within


class _CutReadTimeoutError(ReadTimeoutError):
    """An attempt cut by its wall-clock limit while sending or waiting for the answer."""

    def __init__(self, where: str, url: str, message: str, within: str) -> None:
        # urllib3 passes the pool here, only to show it: the connection knows its host instead
        super().__init__(where, url, message)  # type: ignore[arg-type]
        self.within = within


#: what a blocked socket call surfaces as once the watchdog shut its socket down
_CUT_SYMPTOMS = (OSError, HTTPException, HTTPError, ValueError)


class _WatchedConnection(HTTPConnection):
    """urllib3's connection, watched by the calling thread's exchange (mixed into the class
    of each pool, SOCKS and TLS included, by ``_watched_pool``)."""

    jux_exchange: _Exchange | None = None
    jux_is_cut = False
    jux_url = ""

    def _new_conn(self) -> socket.socket:
        exchange = _active_exchange()
        if exchange is None:
            return super()._new_conn()
        exchange.check(self, is_connecting=True)
        if isinstance(self.timeout, int | float):  # connecting may not outlast the attempt
            self.timeout = max(0.001, min(self.timeout, exchange.remaining()))
        sock = super()._new_conn()
        self.jux_is_cut = False
        try:
            exchange.watch(self, sock)
            exchange.check(self, is_connecting=True)
        except (_CutConnectTimeoutError, DeadlineExceededError, OSError):
            sock.close()
            raise
        return sock

    def connect(self) -> None:
        exchange = _active_exchange()
        try:
            super().connect()
        except (_CutConnectTimeoutError, _CutReadTimeoutError):
            raise
        except _CUT_SYMPTOMS as exc:
            if exchange is not None and exchange.cut is not None:
                raise exchange.connect_timeout(self) from exc
            raise
        if exchange is not None:
            exchange.check(self, is_connecting=True)

    def request(self, *args: Any, **kwargs: Any) -> None:
        exchange = _active_exchange()
        if exchange is None:
            super().request(*args, **kwargs)
            return
        self.jux_url = str(args[1] if len(args) > 1 else kwargs.get("url", ""))
        if self.sock is not None and self.jux_exchange is not exchange:
            exchange.watch(self, self.sock)  # a kept-alive connection, used again
        exchange.check(self, is_connecting=self.sock is None)
        try:
            super().request(*args, **kwargs)
        except (_CutConnectTimeoutError, _CutReadTimeoutError):
            raise
        except _CUT_SYMPTOMS as exc:
            if exchange.cut is not None:
                raise exchange.read_timeout(self) from exc
            raise
        exchange.check(self, is_connecting=False)

    def getresponse(self) -> Any:
        exchange = _active_exchange()
        try:
            response = super().getresponse()
        except _CUT_SYMPTOMS as exc:
            if exchange is not None and exchange.cut is not None:
                raise exchange.read_timeout(self) from exc
            raise
        if exchange is not None and exchange.cut is not None:
            # headers cut short look complete to http.client: never hand them on
            response.close()
            raise exchange.read_timeout(self)
        return response


class _WatchedPool(HTTPConnectionPool):
    """A pool whose connections leave their exchange when they come back to it."""

    def _put_conn(self, conn: Any) -> None:
        exchange = getattr(conn, "jux_exchange", None)
        if isinstance(exchange, _Exchange) and exchange.release(conn):
            conn.close()  # cut by the watchdog: never reused
        super()._put_conn(conn)


@functools.cache
def _watched_pool(pool_class: type[HTTPConnectionPool]) -> type[HTTPConnectionPool]:
    if issubclass(pool_class, _WatchedPool):
        return pool_class
    base = pool_class.ConnectionCls
    connection = type(f"Watched{base.__name__}", (_WatchedConnection, base), {})
    watched = type(
        f"Watched{pool_class.__name__}", (_WatchedPool, pool_class), {"ConnectionCls": connection}
    )
    return cast("type[HTTPConnectionPool]", watched)


def _watch_pools(manager: PoolManager) -> None:
    manager.pool_classes_by_scheme = {
        scheme: _watched_pool(pool) for scheme, pool in manager.pool_classes_by_scheme.items()
    }


# --- proxies --------------------------------------------------------------------------------
#
# The run's environment is ``settings.environ`` (what the CLI was given), never ``os.environ``:
# the proxy and CA bundle are taken from it here, once, the same way urllib and curl read them
# (lower-case names first; ``HTTP_PROXY`` ignored under CGI, "httpoxy"). The client talks to
# one server, so one proxy (or none) is chosen for it when it is built.

_PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")


@record
class Proxy(Record):
    """The proxy chosen for the server, from the variable ``variable``."""

    variable: str
    url: str  # may hold credentials: never shown
    scheme: str
    host: str
    port: int | None
    userinfo: str

    @property
    def shown(self) -> str:
        """Host and port, never the credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port else host

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials in the URL, to redact wherever they could be echoed."""
        if not self.userinfo:
            return ()
        password = self.userinfo.partition(":")[2]
        return tuple(v for v in {self.userinfo, password, unquote(password)} if v)


def _is_loopback(host: str | None) -> bool:
    """The same rule as ``settings.is_loopback_host`` (kept here so that settings can call
    ``proxy_problems`` without an import cycle)."""
    if not host:
        return False
    name = host.lower().strip("[]").rstrip(".")
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _environment_value(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """(variable, value) of ``name`` (lower case first, then upper case), if set."""
    for variable in (name.lower(), name.upper()):
        if variable == "HTTP_PROXY" and environ.get("REQUEST_METHOD"):
            continue  # CGI sets HTTP_PROXY from a request header (httpoxy)
        value = environ.get(variable, "").strip()
        if value:
            return variable, value
    return None


def _is_bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` names ``host``: ``*``, a domain (``example.com`` and
    ``.example.com`` both match its subdomains), ``host:port``, an address or a CIDR block."""
    host = host.lower().strip("[]").rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in re.split(r"[\s,]+", no_proxy.lower()):
        entry = raw.strip()
        if not entry:
            continue
        if entry == "*":
            return True
        if address is not None and "/" in entry:
            with contextlib.suppress(ValueError):
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            continue
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.strip("[]").lstrip("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _find_proxy(api_url: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(variable, value) of the proxy the server at ``api_url`` is reached through, or None:
    loopback servers never go through one (as if in ``NO_PROXY``), nor servers ``NO_PROXY``
    names."""
    parts = urlsplit(api_url.strip())
    host = parts.hostname
    if not host or _is_loopback(host):
        return None
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    no_proxy = _environment_value(environ, "no_proxy")
    if no_proxy is not None and _is_bypassed(host, port, no_proxy[1]):
        return None
    return _environment_value(environ, f"{parts.scheme}_proxy") or _environment_value(
        environ, "all_proxy"
    )


def _parse_proxy(variable: str, value: str) -> Proxy:
    """The proxy URL of ``variable``; raises ValueError saying what is wrong (never with the
    value, which may hold credentials)."""
    url = value if "://" in value else f"http://{value}"  # as requests reads a bare host:port
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _PROXY_SCHEMES:
        raise ValueError(
            f"unsupported proxy scheme {scheme!r}; expected one of {', '.join(_PROXY_SCHEMES)}"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the proxy URL has an invalid port") from None
    if not parts.hostname:
        raise ValueError("the proxy URL has no host; expected scheme://host:port")
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    return Proxy(variable, url, scheme, parts.hostname, port, userinfo)


def proxy_problems(
    api_url: str, api_key: str | None, environ: Mapping[str, str], *, allow_insecure: bool
) -> list[str]:
    """What is wrong with the proxy the server would be reached through (empty: nothing).

    The API key never goes in clear text to a proxy on another host: through a proxy that is
    neither ``https://`` nor on loopback, a plain ``http://`` server is refused unless
    ``--allow-insecure-http``. An ``https://`` server is fine through any proxy (the proxy only
    relays TLS: CONNECT or SOCKS). Messages name the variable and the proxy's host, never its
    credentials. Pure: settings can call it with the values it checks.
    """
    found = _find_proxy(api_url, environ)
    if found is None:
        return []
    variable, value = found
    try:
        proxy = _parse_proxy(variable, value)
    except ValueError as exc:
        return [f"{variable}: {exc} (the value is not shown: it may hold credentials)"]
    server = urlsplit(api_url.strip())
    if (
        server.scheme == "http"
        and api_key
        and not allow_insecure
        and proxy.scheme != "https"
        and not _is_loopback(proxy.host)
    ):
        return [
            f"{variable}: refusing to send the API key in clear text through the proxy "
            f"{proxy.shown} to {server.hostname}: use an https:// API URL (the proxy then only "
            f"relays TLS) or an https:// proxy, add {server.hostname} to NO_PROXY, or opt in "
            f"with {ALLOW_INSECURE}"
        ]
    return []


def _check_proxy(settings: Settings, root: str) -> Proxy | None:
    """The proxy for the server at ``root``; raises ``ConfigError`` per ``proxy_problems``."""
    problems = proxy_problems(
        root, settings.api_key, settings.environ, allow_insecure=settings.allow_insecure_http
    )
    if problems:
        raise ConfigError(
            "invalid configuration:\n  " + "\n  ".join(problems),
            hint="proxies come from the run's environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, "
            "NO_PROXY); nothing was sent",
        )
    found = _find_proxy(root, settings.environ)
    return _parse_proxy(*found) if found is not None else None


# --- TLS ------------------------------------------------------------------------------------
#
# Mutual TLS: rather than decrypting the key into a temporary file (the key in clear on disk,
# to be removed on every way out), the client builds one ``ssl.SSLContext`` and loads the
# chain into it with ``load_cert_chain(..., password=...)``: the decrypted key lives only in
# OpenSSL's memory, a wrong passphrase is found once, before any request, and the pool
# manager hands the context to every pool (direct, proxied, the version probe). The
# passphrase is given as a callable: without one OpenSSL would ask for it on the terminal.


@record
class TLSConfig(Record):
    """How the client checks the server (``verify``: a bundle file or folder, or True for
    certifi's CAs) and the context holding the client certificate, if any."""

    verify: str | bool
    source: str  # where ``verify`` comes from, for messages
    context: ssl.SSLContext | None = None

    @property
    def has_client_cert(self) -> bool:
        return self.context is not None


def _ca_bundle(
    settings: Settings, *, use_option: bool = True, strict: bool = True
) -> tuple[str | bool, str]:
    """(verify, source): ``--ca-bundle``, else the first of ``CA_VARIABLES`` set in the run's
    environment, else True (certifi). Raises ``ConfigError`` for a variable naming a path that
    does not exist (the first request would only fail with an ``OSError``)."""
    if use_option and settings.ca_bundle is not None:
        return str(settings.ca_bundle), CA_OPTION.split(" / ", 1)[0]
    for variable in CA_VARIABLES:
        value = settings.environ.get(variable, "").strip()
        if not value:
            continue
        if not (Path(value).is_file() or Path(value).is_dir()):
            if not strict:
                continue
            raise ConfigError(
                f"invalid configuration:\n  {variable}: {value!r} does not exist; expected a "
                "PEM file or a folder of certificates",
                hint=f"fix or unset {variable}, or give the bundle with {CA_OPTION}",
            )
        return value, variable
    return True, "certifi's public CAs"


def _client_context(settings: Settings) -> ssl.SSLContext | None:
    """The context with the client certificate and its key (decrypted in memory), or None
    without one. Raises ``ConfigError`` (never with the passphrase) when they cannot be
    loaded."""
    if settings.client_cert is None or settings.client_key is None:
        return None  # settings refuse one without the other
    password = settings.client_key_password or ""
    context = create_urllib3_context()  # urllib3's defaults (TLS 1.2+, its ciphers)
    try:
        context.load_cert_chain(
            str(settings.client_cert), str(settings.client_key), password=lambda: password
        )
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"invalid configuration:\n  {_client_key_problem(settings, exc)}",
            hint="the files are PEM: a certificate (chain) and its private key; nothing was sent",
        ) from None
    return context


def _client_key_problem(settings: Settings, exc: ssl.SSLError | OSError) -> str:
    options = "--client-cert / JUX_CLIENT_CERT, --client-key / JUX_CLIENT_KEY"
    reason = str(getattr(exc, "reason", None) or "")
    try:
        key_text = Path(str(settings.client_key)).read_bytes()
    except OSError:
        key_text = b""
    is_encrypted = b"ENCRYPTED" in key_text
    if is_encrypted and not settings.client_key_password:
        return (
            f"{options}: the client key {str(settings.client_key)!r} is encrypted; set its "
            "passphrase in JUX_CLIENT_KEY_PASSWORD (input 'client-key-password')"
        )
    if is_encrypted and reason in ("BAD_DECRYPT", "PEM_LIB", "BAD_PASSWORD_READ", ""):
        return (
            f"{options}: cannot decrypt the client key {str(settings.client_key)!r} with "
            "JUX_CLIENT_KEY_PASSWORD (wrong passphrase?; it is not shown)"
        )
    if reason == "KEY_VALUES_MISMATCH":
        return (
            f"{options}: the client certificate {str(settings.client_cert)!r} does not match "
            f"the key {str(settings.client_key)!r}"
        )
    if isinstance(exc, ssl.SSLError):
        detail = reason or type(exc).__name__
    else:
        detail = exc.strerror or type(exc).__name__
    return (
        f"{options}: cannot load the client certificate {str(settings.client_cert)!r} and key "
        f"{str(settings.client_key)!r}: {detail}"
    )


def build_tls(settings: Settings) -> TLSConfig:
    """The run's TLS settings, checked: raises ``ConfigError`` before any request."""
    verify, source = _ca_bundle(settings)
    return TLSConfig(verify, source, _client_context(settings))


# --- the client -----------------------------------------------------------------------------
#
# urllib3 directly: requests added about 210 µs of preparation per request on top of urllib3
# (settings merged, hooks, cookies, auth, a response object) and 20–25 ms of start-up, for
# nothing this client uses (benchmarks/RESULTS.md). What requests did for the client is done
# here, each piece once: the proxy and CA bundle come from ``settings.environ`` (above), the
# proxy's credentials go in ``Proxy-Authorization`` (or to the SOCKS handshake), bodies from
# disk carry their ``Content-Length`` (urllib3 would otherwise send them chunked), and no
# ``~/.netrc`` is ever read (urllib3 has no such thing).


def _pool_kwargs(tls: TLSConfig, maxsize: int) -> dict[str, Any]:
    """urllib3's pool arguments for the TLS settings: the CA bundle (a file or a folder, or
    certifi's) and the context holding the client certificate."""
    kwargs: dict[str, Any] = {"maxsize": maxsize, "block": False, "cert_reqs": "CERT_REQUIRED"}
    if tls.context is not None:
        kwargs["ssl_context"] = tls.context
    verify = tls.verify
    if verify is True or verify is False:
        import certifi

        kwargs["ca_certs"] = certifi.where()
    elif Path(verify).is_dir():
        kwargs["ca_cert_dir"] = verify
    else:
        kwargs["ca_certs"] = verify
    return kwargs


def _manager(proxy: Proxy | None, tls: TLSConfig, *, maxsize: int) -> PoolManager:
    """The pool manager for the run's proxy (or none), its pools watched (see above)."""
    kwargs = _pool_kwargs(tls, maxsize)
    manager: PoolManager
    if proxy is None:
        manager = PoolManager(num_pools=4, **kwargs)
    elif proxy.scheme.startswith("socks"):
        try:
            from urllib3.contrib.socks import SOCKSProxyManager
        except ImportError:  # urllib3's SOCKS support needs PySocks
            raise ConfigError(
                f"invalid configuration:\n  {proxy.variable}: a SOCKS proxy ({proxy.shown}) "
                "needs the PySocks package (pip install 'urllib3[socks]')",
                hint="install PySocks, or use an http:// or https:// proxy; nothing was sent",
            ) from None
        user, _, password = (
            unquote(proxy.userinfo).partition(":") if proxy.userinfo else ("", "", "")
        )
        manager = SOCKSProxyManager(
            _without_userinfo(proxy.url),
            username=user or None,
            password=password or None,
            num_pools=4,
            **kwargs,
        )
    else:
        headers = make_headers(proxy_basic_auth=unquote(proxy.userinfo)) if proxy.userinfo else None
        manager = ProxyManager(
            _without_userinfo(proxy.url), proxy_headers=headers, num_pools=4, **kwargs
        )
    _watch_pools(manager)
    return manager


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _retry_policy(
    settings: Settings,
    *,
    deadline: float | None,
    stop: threading.Event | None,
    give_up: threading.Event | None,
) -> JuxRetry:
    """The retry policy of submissions (CONTRACT.md): connection failures, 429 and 5xx, with
    backoff and ``Retry-After``, within the deadline; never a redirect."""
    return JuxRetry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        other=0,
        redirect=0,
        backoff_factor=1.0,
        backoff_max=max(1.0, settings.max_retry_wait),
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "POST"}),
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
        max_retry_wait=settings.max_retry_wait,
        deadline=deadline,
        stop=stop,
        give_up=give_up,
    )


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _attempts(resp: Any, fallback: int) -> int:
    history = getattr(getattr(resp, "retries", None), "history", None)
    return len(history) + 1 if history is not None else fallback


def _had_read_timeout(resp: Any) -> bool:
    history = getattr(getattr(resp, "retries", None), "history", None) or ()
    return any(isinstance(getattr(h, "error", None), ReadTimeoutError) for h in history)


def _body_size(body: bytes | io.RawIOBase) -> int:
    # bytes, or payload.BodyReader (sized); an unsized stream gets no upload allowance
    return len(body) if isinstance(body, Sized) else 0


def _read_answer(resp: BaseHTTPResponse, url: str) -> bytes:
    """The answer's body, at most ``ANSWER_LIMIT`` bytes (decoded); the caller closes the
    response, which drops the connection when something was left unread."""
    body = bytearray()
    for chunk in resp.stream(_READ_CHUNK, decode_content=True):
        body += chunk
        if len(body) > ANSWER_LIMIT:
            log.warning(
                "the answer from %s is larger than %d KiB: only its beginning was read",
                _shown_url(url),
                ANSWER_LIMIT // 1024,
            )
            del body[ANSWER_LIMIT:]
            break
    return bytes(body)


def _finish(resp: BaseHTTPResponse, *, is_whole: bool) -> None:
    """Hand the connection back when the answer was read to its end; drop it otherwise."""
    if is_whole:
        resp.release_conn()
    else:
        resp.close()
        resp.release_conn()


def _answer(resp: BaseHTTPResponse, content: bytes, attempts: int, url: str) -> Answer:
    return Answer(
        resp.status,
        {k.lower(): v for k, v in resp.headers.items()},
        content,
        attempts,
        url,
        is_possible_duplicate=_had_read_timeout(resp),
    )


@contextlib.contextmanager
def _watched(  # noqa: PLR0917 - private helper of the two clients
    watchdog: _Watchdog,
    settings: Settings,
    deadline: float | None,
    limit: float,
    limit_text: str,
    stop: threading.Event | None,
) -> Iterator[_Exchange]:
    """The calling thread's next request runs under ``limit`` per attempt (see above)."""
    exchange = _Exchange(
        watchdog,
        limit=limit,
        limit_text=limit_text,
        deadline=deadline,
        deadline_text=f"run's deadline (--deadline {settings.deadline:g} s)",
        stop=stop,
    )
    _ACTIVE.exchange = exchange
    exchange.start_attempt()
    try:
        yield exchange
    finally:
        exchange.end_attempt()
        _ACTIVE.exchange = None


def _read_or_raise(
    resp: BaseHTTPResponse,
    url: str,
    exchange: _Exchange,
    classify: Callable[[BaseException], SubmitFailedError],
) -> bytes:
    """The answer's body (see ``_read_answer``); a failure while reading is ``classify``'d,
    unless the watchdog cut the exchange (then what was read is dropped: the caller says
    so). The connection goes back to its pool only when the answer was read to its end."""
    is_whole = False
    try:
        content = _read_answer(resp, url)
        is_whole = len(content) < ANSWER_LIMIT
    except (HTTPError, OSError, HTTPException) as exc:
        if exchange.cut is None:
            raise classify(exc) from None
        content = b""
    finally:
        _finish(resp, is_whole=is_whole and exchange.cut is None)
    return content


def _request_once(  # noqa: PLR0917 - private helper of the two one-try clients
    manager: PoolManager,
    exchange: contextlib.AbstractContextManager[_Exchange],
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    limit: float,
    classify: Callable[[BaseException], SubmitFailedError],
) -> Answer:
    """One try of ``method`` on ``url``, no redirects, within ``limit``: the answer whatever
    its status. Raises ``SubmitFailedError`` when there is none."""
    with exchange as ex:
        try:
            resp = manager.urlopen(
                method,
                url,
                body=body,
                headers=dict(headers),
                retries=False,
                redirect=False,
                timeout=Timeout(connect=limit, read=limit),
                preload_content=False,
            )
        except (HTTPError, OSError, HTTPException) as exc:
            raise classify(exc) from None
        content = _read_or_raise(resp, url, ex, classify)
        if ex.cut is not None:
            raise SubmitTimeoutError(f"no answer from {_shown_url(url)} within the {ex.within}")
    return _answer(resp, content, 1, url)


class HttpClient:
    """``client.Client`` and ``client.QueryClient`` over urllib3 (see ``build_client``)."""

    def __init__(
        self,
        settings: Settings,
        root: str,
        *,
        proxy: Proxy | None = None,
        tls: TLSConfig | None = None,
        deadline: float | None = None,
        stop: threading.Event | None = None,
        give_up: threading.Event | None = None,
    ) -> None:
        self._settings = settings
        self._root = root
        self._proxy = proxy
        self._tls = tls if tls is not None else TLSConfig(True, "certifi's public CAs")
        self._deadline = deadline
        self._stop = stop
        self._retry = _retry_policy(settings, deadline=deadline, stop=stop, give_up=give_up)
        self._headers = _headers(settings.api_key)
        self._manager = _manager(proxy, self._tls, maxsize=max(settings.parallel, 1))
        self._openers: dict[str, tuple[PoolManager | HTTPConnectionPool, str]] = {}
        # the GETs (version check, query API) on connections of their own, as their answers
        # may leave a connection in any state: submissions never reuse one of theirs
        self._get_manager = _manager(proxy, self._tls, maxsize=max(settings.parallel, 1))
        self._watchdog = _Watchdog()

    def url_for(self, endpoint: Endpoint) -> str:
        return self._root + endpoint.path

    def _opener(self, url: str) -> tuple[PoolManager | HTTPConnectionPool, str]:
        """Who sends a POST to ``url``, and the target it is given. Without a proxy, the
        connection pool itself with the path (what ``PoolManager.urlopen`` does for each
        request, parsing the URL and looking the pool up: ~20 µs a report); through a proxy,
        the manager, which adds the proxy's own headers and the absolute URL."""
        if self._proxy is not None:
            return self._manager, url
        found = self._openers.get(url)
        if found is None:
            pool = self._manager.connection_from_url(url)
            found = self._openers[url] = (pool, parse_url(url).request_uri)
        return found

    def _exchange(
        self, limit: float, limit_text: str, *, stop: threading.Event | None = None
    ) -> contextlib.AbstractContextManager[_Exchange]:
        return _watched(self._watchdog, self._settings, self._deadline, limit, limit_text, stop)

    def _attempt_limit(self, body: bytes | io.RawIOBase) -> tuple[float, str]:
        """``--timeout``, plus the time the body takes at ``UPLOAD_FLOOR`` (and its text)."""
        timeout = self._settings.timeout
        size = _body_size(body)
        upload = size / UPLOAD_FLOOR
        if upload < 1:
            return timeout + upload, f"{_seconds(timeout)} s limit per attempt (--timeout)"
        limit = timeout + upload
        return limit, (
            f"{_seconds(limit)} s limit per attempt (--timeout {_seconds(timeout)} s, plus "
            f"{_seconds(upload)} s to send {size / 1e6:.1f} MB)"
        )

    def _classify(self, exc: BaseException, url: str, settings: Settings) -> SubmitFailedError:
        return classify_exception(exc, url, settings, proxy=self._proxy, tls=self._tls)

    def post(
        self, endpoint: Endpoint, body: bytes | io.RawIOBase, *, idempotency_key: str
    ) -> Answer:
        settings = self._settings
        url = self.url_for(endpoint)
        headers = {**self._headers, "Content-Type": endpoint.content_type}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if not isinstance(body, bytes):  # a file: its length, or urllib3 sends it chunked
            headers["Content-Length"] = str(_body_size(body))
        limit, limit_text = self._attempt_limit(body)
        timeout = Timeout(connect=settings.timeout, read=settings.timeout)
        opener, target = self._opener(url)
        with self._exchange(limit, limit_text) as exchange:
            try:
                resp = opener.urlopen(
                    "POST",
                    target,
                    body=body,
                    headers=headers,
                    retries=self._retry,
                    redirect=False,
                    assert_same_host=False,
                    timeout=timeout,
                    preload_content=False,
                )
            except (DeadlineExceededError, InterruptedSubmitError, ServerUnavailableError):
                raise
            except (HTTPError, OSError, HTTPException) as exc:
                raise self._classify(exc, url, settings) from None
            attempts = _attempts(resp, 1)

            def classify(exc: BaseException) -> SubmitFailedError:
                error = self._classify(exc, url, settings)
                error.attempts = attempts
                return error

            content = _read_or_raise(resp, url, exchange, classify)
            if exchange.cut is not None:  # the answer was cut: what was read may look whole
                error = _timeout_error(
                    url,
                    settings,
                    within=exchange.within,
                    attempts_note=f" after {attempts} attempts" if attempts > 1 else "",
                    is_connect=False,
                )
                error.attempts = attempts
                raise error from None
        return _answer(resp, content, attempts, url)

    def _get(self, url: str, params: Mapping[str, str], *, limit: float) -> Answer:
        """One GET, no retries, no redirects, within ``limit`` (the stop flag cuts it)."""
        if limit <= 0:
            raise SubmitTimeoutError(f"no time left to ask {_shown_url(url)}")
        once = dataclasses.replace(self._settings, retries=0)  # messages: one attempt
        if params:
            url = f"{url}?{urlencode(params)}"
        return _request_once(
            self._get_manager,
            self._exchange(limit, f"{_seconds(limit)} s limit", stop=self._stop),
            "GET",
            url,
            self._headers,
            None,
            limit=limit,
            classify=lambda exc: self._classify(exc, url, once),
        )

    def get(self, path: str, params: Mapping[str, str], *, limit: float) -> Answer:
        """``GET`` the server's ``path`` (below its root, e.g. ``/api/v1/test_runs``) once, no
        retries, no redirects, within ``limit`` seconds (never past the deadline; the stop
        flag cuts it); the answer whatever its status, its body up to ``ANSWER_LIMIT``.
        Raises ``SubmitFailedError`` when there is no answer."""
        return self._get(self._root + path, params, limit=limit)

    def server_version(self) -> str | None:
        """``GET /api/version`` once, no retries; None when missing, failing, not JSON, too
        slow, or interrupted (the stop flag cuts it at once: a SIGTERM must not wait)."""
        if self._stop is not None and self._stop.is_set():
            return None
        limit = min(self._settings.timeout, VERSION_TIMEOUT)
        try:
            answer = self._get(f"{self._root}/api/version", {}, limit=limit)
        except (SubmitFailedError, DeadlineExceededError) as exc:
            log.debug("no server version: %s", type(exc).__name__)
            return None
        if answer.status != 200:
            return None
        try:
            data = json.loads(answer.body)
        except (ValueError, RecursionError):
            return None
        version = data.get("version") if isinstance(data, dict) else None
        return str(version) if version else None

    def quiesce(self) -> None:
        """Stop this client's helper thread until its next request (before forking)."""
        self._watchdog.stop_thread()

    def close(self) -> None:
        self._manager.clear()
        self._get_manager.clear()
        self._watchdog.close()


def build_client(
    settings: Settings,
    root: str,
    *,
    deadline: float | None = None,
    stop: threading.Event | None = None,
    give_up: threading.Event | None = None,
) -> HttpClient:
    """The one HTTP client of a run, for the server at ``root``. Raises ``ConfigError``,
    before any request, when the API key would go in clear text through a proxy
    (``proxy_problems``), a CA bundle variable names a missing path, or the client
    certificate and key cannot be loaded (``build_tls``)."""
    proxy = _check_proxy(settings, root)
    tls = build_tls(settings)
    return HttpClient(
        settings, root, proxy=proxy, tls=tls, deadline=deadline, stop=stop, give_up=give_up
    )


class ApiClient:
    """Requests to a code-hosting platform's REST API (the pull-request comment): one try
    each, no redirects, bounded by a wall-clock limit, proxies from the run's environment,
    CAs from the environment's bundle variables or certifi (``--ca-bundle`` is the Jux
    server's), no client certificate, no Jux API key. ``auth`` is the one header that carries
    the platform's token."""

    def __init__(
        self,
        settings: Settings,
        api_root: str,
        auth: tuple[str, str],
        *,
        extra_headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._settings = dataclasses.replace(settings, retries=0)  # messages: one attempt
        self._root = api_root.rstrip("/")
        found = _find_proxy(self._root, settings.environ)
        self._proxy = _parse_proxy(*found) if found is not None else None
        verify, source = _environment_ca(settings)
        self._tls = TLSConfig(verify, source)
        self._manager = _manager(self._proxy, self._tls, maxsize=2)
        self._headers = {"User-Agent": USER_AGENT, **(extra_headers or {}), auth[0]: auth[1]}
        self._deadline = deadline
        self._stop = stop
        self._watchdog = _Watchdog()

    @property
    def root(self) -> str:
        return self._root

    def _exchange(self, limit: float) -> contextlib.AbstractContextManager[_Exchange]:
        limit_text = f"{_seconds(limit)} s limit"
        return _watched(
            self._watchdog, self._settings, self._deadline, limit, limit_text, self._stop
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        limit: float,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Answer:
        """``method`` on ``url`` (absolute, on the API's host) once; the answer whatever its
        status. Raises ``SubmitFailedError`` when there is no answer."""
        if limit <= 0:
            raise SubmitTimeoutError(f"no time left to ask {_shown_url(url)}")
        headers = dict(self._headers)
        body = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(json_body).encode()
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        return _request_once(
            self._manager,
            self._exchange(limit),
            method,
            url,
            headers,
            body,
            limit=limit,
            classify=lambda exc: classify_exception(
                exc, url, self._settings, proxy=self._proxy, tls=self._tls
            ),
        )

    def close(self) -> None:
        self._manager.clear()
        self._watchdog.close()


def _environment_ca(settings: Settings) -> tuple[str | bool, str]:
    """The CA bundle for a platform API: ``_ca_bundle`` without ``--ca-bundle`` (the Jux
    server's), a variable naming a missing path skipped rather than refused."""
    return _ca_bundle(settings, use_option=False, strict=False)


def api_proxy_problems(api_root: str, token: str, settings: Settings) -> list[str]:
    """``proxy_problems`` for a platform API and its token."""
    return proxy_problems(
        api_root, token, settings.environ, allow_insecure=settings.allow_insecure_http
    )


# --- what the user sees ---------------------------------------------------------------------

_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/@'\"<>]+@")
_QUERY_RE = re.compile(r"(?<=[\w/.%\-])\?(?=[^\s'\"<>()]*=)[^\s'\"<>()]*")


def _scrub(text: str, redact: Redactor) -> str:
    """Secrets, then URL credentials and query strings, out of ``text`` (before any
    shortening: a secret cut in two would survive redaction)."""
    text = redact(text)
    text = _USERINFO_RE.sub(r"\1***@", text)
    return _QUERY_RE.sub("?***", text)


def _shown_url(url: str) -> str:
    """``url`` without credentials, query or fragment (the settings refuse them; defence)."""
    parts = urlsplit(url)
    if not (parts.username or parts.password or parts.query or parts.fragment):
        return url
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def _short(text: str, redact: Redactor) -> str:
    # requests' messages nest urllib3 reprs; keep the innermost reason, briefly
    text = _scrub(text, redact)
    if "(Caused by " in text:
        text = text.split("(Caused by ", 1)[1].rstrip(")")
    return text[:300]


def _timeout_error(
    url: str, settings: Settings, *, within: str | None, attempts_note: str, is_connect: bool
) -> SubmitTimeoutError:
    """No (complete) answer in time: ``within`` names the wall-clock limit that cut the
    attempt, None for urllib3's own per-read timeout."""
    within = f"{settings.timeout:g} s" if within is None else f"the {within}"
    is_deadline = within.startswith("the run's deadline")
    return SubmitTimeoutError(
        f"no answer from {_shown_url(url)} within {within}{attempts_note}"
        + (" (connecting timed out)" if is_connect else ""),
        hint=(
            "run 'jux-submit resubmit' later, or raise the deadline (--deadline / JUX_DEADLINE, "
            f"now {settings.deadline:g} s)"
            if is_deadline
            else f"raise the timeout (--timeout / JUX_SUBMIT_TIMEOUT, now {settings.timeout:g} s)"
            " or check the server's load"
        ),
        is_server_level=is_connect,
        is_possible_duplicate=not is_connect,
    )


def classify_exception(
    exc: BaseException,
    url: str,
    settings: Settings,
    *,
    proxy: Proxy | None = None,
    tls: TLSConfig | None = None,
) -> SubmitFailedError:
    """Map a requests/urllib3 failure to the error the user sees (no secrets, no URL
    credentials or query, no traceback), with the attempts made and whether the server may
    have stored a copy anyway. ``tls`` says which CA bundle and client certificate were used,
    for TLS failures."""
    error = _classify_exception(exc, url, settings, proxy, tls)
    inner = exc if isinstance(exc, MaxRetryError) else (exc.args[0] if exc.args else None)
    if isinstance(inner, MaxRetryError):
        error.attempts = getattr(inner, "jux_attempts", None)
        error.is_possible_duplicate = error.is_possible_duplicate or bool(
            getattr(inner, "jux_possible_duplicate", False)
        )
    elif isinstance(exc, ReadTimeoutError):  # the answer stopped coming, after the body
        error.is_possible_duplicate = True
    if error.attempts is None:
        error.attempts = settings.retries + 1
    return error


def _cut_limit(reason: BaseException | None) -> str | None:
    """The wall-clock limit that cut the attempt, when the watchdog did (the cut error may sit
    under a ProxyError)."""
    seen = 0
    while reason is not None and seen < 5:
        if isinstance(reason, _CutReadTimeoutError | _CutConnectTimeoutError):
            return reason.within
        reason = getattr(reason, "original_error", None) or reason.__cause__
        seen += 1
    return None


def _classify_exception(
    exc: BaseException, url: str, settings: Settings, proxy: Proxy | None, tls: TLSConfig | None
) -> SubmitFailedError:
    redact = Redactor((*settings.secrets, *(proxy.secrets if proxy else ())))
    attempts_note = f" after {settings.retries + 1} attempts" if settings.retries else ""
    shown = _shown_url(url)
    text = str(exc)
    cause = getattr(exc, "__context__", None)
    while cause is not None and not isinstance(
        cause, DeadlineExceededError | ServerUnavailableError | InterruptedSubmitError
    ):
        cause = cause.__context__
    if isinstance(cause, DeadlineExceededError | ServerUnavailableError | InterruptedSubmitError):
        return cause
    reason = _urllib3_reason(exc)
    if isinstance(reason, SSLError | ssl.SSLError):
        # a TLS failure is never retried (urllib3 counts it under ``other``, 0): no note
        message, hint = _tls_problem(text, tls or TLSConfig(True, "certifi's public CAs"))
        return TLSError(
            f"TLS failed talking to {shown}: {message} ({_ssl_reason(text, redact)})", hint=hint
        )
    within = _cut_limit(reason)
    if isinstance(reason, ProxyError) and within is None and proxy is not None:
        return ConnectionFailedError(
            f"cannot reach {shown} through the proxy {proxy.shown} (from {proxy.variable})"
            f"{attempts_note}: {_short(text, redact)}",
            hint=f"check {proxy.variable}, or add the server's host to NO_PROXY",
        )
    if isinstance(reason, NameResolutionError):
        return ConnectionFailedError(
            f"cannot resolve the server's host name in {shown}{attempts_note}",
            hint="check JUX_API_URL (--api-url) for typos and the runner's DNS",
        )
    # NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError in urllib3
    is_timeout = isinstance(reason, ReadTimeoutError | ConnectTimeoutError) or within is not None
    if is_timeout and not isinstance(reason, NewConnectionError):
        is_connect = isinstance(reason, ConnectTimeoutError) and not isinstance(
            reason, ReadTimeoutError
        )
        return _timeout_error(
            url, settings, within=within, attempts_note=attempts_note, is_connect=is_connect
        )
    if isinstance(exc, HTTPError | OSError | HTTPException):
        lowered = text.lower()
        if (
            "name or service not known" in lowered
            or "nodename nor servname" in lowered
            or "failed to resolve" in lowered
            or "temporary failure in name resolution" in lowered
            or "no address associated" in lowered
        ):
            return ConnectionFailedError(
                f"cannot resolve the server's host name in {shown}{attempts_note}",
                hint="check JUX_API_URL (--api-url) for typos and the runner's DNS",
            )
        if "refused" in lowered:
            return ConnectionFailedError(
                f"connection refused by {shown}{attempts_note}",
                hint="check that the Jux server is running and JUX_API_URL points at it",
            )
        return ConnectionFailedError(
            f"connection to {shown} failed{attempts_note}: {_short(text, redact)}",
            hint="check the network between the runner and the server, then resubmit "
            "(jux-submit resubmit)",
            is_server_level=False,  # dropped mid-request: the server was reached
        )
    return ConnectionFailedError(
        f"request to {shown} failed: {_short(text, redact)}", is_server_level=False
    )


#: what OpenSSL says when the server refused the handshake over the client's certificate (or
#: its absence): TLS alerts, and the bare close some servers do instead (seen with TLS 1.3,
#: where the client finishes first and learns it on its first read)
_CLIENT_CERT_SIGNS = (
    "certificate required",
    "certificate_required",
    "alert bad certificate",
    "alert_bad_certificate",
    "alert unknown ca",
    "alert_unknown_ca",
    "alert certificate unknown",
    "alert certificate expired",
    "alert certificate revoked",
    "alert handshake failure",
    "alert access denied",
    "eof occurred in violation of protocol",
    "unexpected eof",
)


#: the text of the innermost ssl error in requests' reprs: "'[SSL: CODE] words (_ssl.c:1006)'"
_SSL_REASON_RE = re.compile(r"'(?:\[SSL: [A-Z0-9_]+\] )?([^'\"]+?) \(_ssl\.c:\d+\)'")


def _ssl_reason(text: str, redact: Redactor) -> str:
    """OpenSSL's own words from requests' nested reprs ("certificate verify failed: unable to
    get local issuer certificate"), else the usual short text."""
    match = _SSL_REASON_RE.search(text)
    return redact(match.group(1).strip()) if match else _short(text, redact)


def _tls_problem(text: str, tls: TLSConfig) -> tuple[str, str]:
    """(what went wrong, what to do) for a TLS failure: the server's certificate was not
    trusted (the CA options), or the server refused the handshake (the client-cert options)."""
    lowered = text.lower()
    if "certificate verify failed" in lowered or "certificate_verify_failed" in lowered:
        if "mismatch" in lowered or "doesn't match" in lowered or "not valid for" in lowered:
            return (
                "the server's certificate is not issued for this host name",
                "check the host in --api-url / JUX_API_URL: it must be a name (or address) "
                "the server's certificate lists",
            )
        if "expired" in lowered or "not yet valid" in lowered:
            return (
                "the server's certificate is expired or not yet valid",
                "the server's certificate must be renewed (or the runner's clock is wrong)",
            )
        return (
            f"the server's certificate is not trusted by {tls.source}",
            f"for a private or corporate CA give its PEM bundle (a file or a folder of "
            f"certificates) with {CA_OPTION}; REQUESTS_CA_BUNDLE and SSL_CERT_FILE are read "
            "when it is not set",
        )
    if any(sign in lowered for sign in _CLIENT_CERT_SIGNS):
        if tls.has_client_cert:
            return (
                "the server refused the client certificate",
                "check that the certificate in --client-cert / JUX_CLIENT_CERT is issued by a "
                "CA the server trusts, is valid now and matches --client-key / JUX_CLIENT_KEY",
            )
        return (
            "the server refused the handshake; it probably requires a client certificate "
            "(mutual TLS)",
            f"set {CLIENT_CERT_OPTIONS}; if the server does not use client certificates, "
            f"check its CA with {CA_OPTION}",
        )
    return (
        "the TLS handshake failed",
        f"check the server's certificate and its CA ({CA_OPTION}, now {tls.source}); if the "
        f"server requires a client certificate, set {CLIENT_CERT_OPTIONS}",
    )


def _urllib3_reason(exc: BaseException) -> BaseException | None:
    """The error that ended the request: MaxRetryError's reason (the last attempt's), or the
    error itself (raised while the answer was read)."""
    if isinstance(exc, MaxRetryError):
        return exc.reason
    if isinstance(exc, HTTPError | OSError):
        return exc
    inner = exc.args[0] if exc.args else None
    return inner if isinstance(inner, BaseException) else None
