"""HTTP: the one place that imports requests and urllib3.

``build_client`` makes the single client (retry policy, timeouts, User-Agent, auth), an
``HttpClient`` implementing ``client.Client``: ``post`` hands back the final answer, or raises a
``SubmitFailedError`` for failures that never produced one (refused, DNS, TLS, timeout).
Redirects are never followed. No requests or urllib3 type leaves this module.
"""

from __future__ import annotations

import email.utils
import io
import logging
import random
import threading
import time
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from jux_submit import __version__
from jux_submit.client import Answer
from jux_submit.errors import (
    ConnectionFailedError,
    DeadlineExceededError,
    InterruptedSubmitError,
    ServerUnavailableError,
    SubmitFailedError,
    SubmitTimeoutError,
    TLSError,
)

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

    from jux_submit.models import Endpoint
    from jux_submit.settings import Settings

log = logging.getLogger("jux_submit.transport")

USER_AGENT = f"jux-submit/{__version__} (+https://github.com/jux/submit-action)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
VERSION_TIMEOUT = 5.0


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


class _EnvironmentOnceSession(requests.Session):
    """A ``requests.Session`` that reads the environment (proxies, ``no_proxy``, CA bundle)
    once per URL instead of on every request.

    requests scans every environment variable on each call; in a CI-sized environment that
    doubled the client's CPU time per request (benchmarks/RESULTS.md). The environment and the
    session's own settings do not change during a run, and both are part of the cache key.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment_settings: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        key = (
            url,
            tuple(sorted((proxies or {}).items())),
            stream,
            verify,
            cert,
            tuple(sorted(self.proxies.items())),
            self.stream,
            self.verify,
            self.cert,
            self.trust_env,
        )
        cached = self._environment_settings.get(key)
        if cached is None:
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            cached = self._environment_settings[key] = dict(merged)
        return {**cached, "proxies": dict(cached["proxies"])}


def _build_session(
    settings: Settings,
    *,
    deadline: float | None,
    stop: threading.Event | None,
    give_up: threading.Event | None,
) -> requests.Session:
    """The session behind the client: retry policy, pool sized for ``parallel``, User-Agent
    and auth."""
    session = _EnvironmentOnceSession()
    session.trust_env = True  # honour HTTPS_PROXY / REQUESTS_CA_BUNDLE, as CI runners expect
    retry = JuxRetry(
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
    adapter = HTTPAdapter(
        max_retries=retry,
        pool_connections=1,
        pool_maxsize=max(settings.parallel, 1),
        pool_block=False,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    # set even without a key: with no session auth, requests would take credentials from
    # ~/.netrc and send them as Basic auth, replacing (or adding) an Authorization header
    session.auth = BearerAuth(settings.api_key)
    return session


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <key>`` when a key is set; nothing (and no netrc) otherwise."""

    def __init__(self, key: str | None) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._key:
            request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def __repr__(self) -> str:  # never show the key
        return f"BearerAuth(key={'set' if self._key else None})"


def _attempts(raw: Any, fallback: int) -> int:
    retries = getattr(raw, "retries", None)
    history = getattr(retries, "history", None)
    return len(history) + 1 if history is not None else fallback


def _had_read_timeout(raw: Any) -> bool:
    history = getattr(getattr(raw, "retries", None), "history", None) or ()
    return any(isinstance(getattr(h, "error", None), ReadTimeoutError) for h in history)


class HttpClient:
    """``client.Client`` over one requests session (see ``build_client``)."""

    def __init__(self, settings: Settings, root: str, session: requests.Session) -> None:
        self._settings = settings
        self._root = root
        self._session = session

    def url_for(self, endpoint: Endpoint) -> str:
        return self._root + endpoint.path

    def post(
        self, endpoint: Endpoint, body: bytes | io.RawIOBase, *, idempotency_key: str
    ) -> Answer:
        settings = self._settings
        url = self.url_for(endpoint)
        headers = {"Content-Type": endpoint.content_type}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            resp = self._session.post(
                url, data=body, headers=headers, timeout=settings.timeout, allow_redirects=False
            )
            content = resp.content
        except (DeadlineExceededError, InterruptedSubmitError, ServerUnavailableError):
            raise
        except requests.exceptions.RequestException as exc:
            raise classify_exception(exc, url, settings) from None
        return Answer(
            resp.status_code,
            {k.lower(): v for k, v in resp.headers.items()},
            content,
            _attempts(resp.raw, 1),
            url,
            is_possible_duplicate=_had_read_timeout(resp.raw),
        )

    def server_version(self) -> str | None:
        return fetch_server_version(self._session, self._root, self._settings)

    def close(self) -> None:
        self._session.close()


def build_client(
    settings: Settings,
    root: str,
    *,
    deadline: float | None = None,
    stop: threading.Event | None = None,
    give_up: threading.Event | None = None,
) -> HttpClient:
    """The one HTTP client of a run, for the server at ``root``."""
    session = _build_session(settings, deadline=deadline, stop=stop, give_up=give_up)
    return HttpClient(settings, root, session)


def classify_exception(exc: BaseException, url: str, settings: Settings) -> SubmitFailedError:
    """Map a requests/urllib3 failure to the error the user sees (no secrets, no traceback),
    with the attempts made and whether the server may have stored a copy anyway."""
    error = _classify_exception(exc, url, settings)
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        error.attempts = getattr(inner, "jux_attempts", None)
        error.is_possible_duplicate = error.is_possible_duplicate or bool(
            getattr(inner, "jux_possible_duplicate", False)
        )
    elif isinstance(exc, requests.exceptions.ReadTimeout):
        error.is_possible_duplicate = True
    if error.attempts is None:
        error.attempts = settings.retries + 1
    return error


def _classify_exception(exc: BaseException, url: str, settings: Settings) -> SubmitFailedError:
    attempts_note = f" after {settings.retries + 1} attempts" if settings.retries else ""
    text = str(exc)
    cause = getattr(exc, "__context__", None)
    while cause is not None and not isinstance(
        cause, DeadlineExceededError | ServerUnavailableError | InterruptedSubmitError
    ):
        cause = cause.__context__
    if isinstance(cause, DeadlineExceededError | ServerUnavailableError | InterruptedSubmitError):
        return cause
    if isinstance(exc, requests.exceptions.SSLError):
        return TLSError(
            f"TLS failed talking to {url}{attempts_note}: {_short(text)}",
            hint="check the server certificate; for a private CA set REQUESTS_CA_BUNDLE to "
            "its bundle",
        )
    reason = _urllib3_reason(exc)
    if isinstance(reason, NameResolutionError):
        return ConnectionFailedError(
            f"cannot resolve the server's host name in {url}{attempts_note}",
            hint="check JUX_API_URL (--api-url) for typos and the runner's DNS",
        )
    # NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError in urllib3
    is_timeout = isinstance(exc, requests.exceptions.Timeout) or isinstance(
        reason, ReadTimeoutError | ConnectTimeoutError
    )
    if is_timeout and not isinstance(reason, NewConnectionError):
        is_connect = isinstance(exc, requests.exceptions.ConnectTimeout) or (
            isinstance(reason, ConnectTimeoutError) and not isinstance(reason, ReadTimeoutError)
        )
        return SubmitTimeoutError(
            f"no answer from {url} within {settings.timeout:g} s{attempts_note}"
            + (" (connecting timed out)" if is_connect else ""),
            hint=f"raise the timeout (--timeout / JUX_SUBMIT_TIMEOUT, now {settings.timeout:g} s)"
            " or check the server's load",
            is_server_level=is_connect,
            is_possible_duplicate=not is_connect,
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        lowered = text.lower()
        if (
            "name or service not known" in lowered
            or "nodename nor servname" in lowered
            or "failed to resolve" in lowered
            or "temporary failure in name resolution" in lowered
            or "no address associated" in lowered
        ):
            return ConnectionFailedError(
                f"cannot resolve the server's host name in {url}{attempts_note}",
                hint="check JUX_API_URL (--api-url) for typos and the runner's DNS",
            )
        if "refused" in lowered:
            return ConnectionFailedError(
                f"connection refused by {url}{attempts_note}",
                hint="check that the Jux server is running and JUX_API_URL points at it",
            )
        return ConnectionFailedError(
            f"connection to {url} failed{attempts_note}: {_short(text)}",
            hint="check the network between the runner and the server, then resubmit "
            "(jux-submit resubmit)",
            is_server_level=False,  # dropped mid-request: the server was reached
        )
    return ConnectionFailedError(f"request to {url} failed: {_short(text)}", is_server_level=False)


def _urllib3_reason(exc: BaseException) -> BaseException | None:
    """The urllib3 error under a requests exception (MaxRetryError's reason, if any)."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        return inner.reason
    return inner if isinstance(inner, BaseException) else None


def _short(text: str) -> str:
    # requests' messages nest urllib3 reprs; keep the innermost reason, briefly
    if "(Caused by " in text:
        text = text.split("(Caused by ", 1)[1].rstrip(")")
    return text[:300]


def fetch_server_version(session: requests.Session, root: str, settings: Settings) -> str | None:
    """``GET /api/version`` once, no retries; None when missing, failing or not JSON."""
    probe = requests.Session()  # no retries: a missing endpoint must not slow the run
    probe.headers.update(session.headers)
    probe.auth = session.auth
    probe.mount("http://", HTTPAdapter(max_retries=0))
    probe.mount("https://", HTTPAdapter(max_retries=0))
    try:
        with probe:
            resp = probe.get(
                f"{root}/api/version",
                timeout=min(settings.timeout, VERSION_TIMEOUT),
                allow_redirects=False,
            )
        if resp.status_code != 200:
            return None
        data = resp.json()
    except (requests.exceptions.RequestException, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return str(version) if version else None
