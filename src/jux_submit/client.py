"""The seam between delivery and HTTP: the ``Client`` protocol and the ``Answer`` it returns.

Delivery talks only to this interface; ``transport.HttpClient`` implements it with requests and
urllib3 (whose types never leave ``transport.py``), and tests can script one in process.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from typing import Protocol

from jux_submit.models import Endpoint, Record, record


@record
class Answer(Record):
    """The final HTTP answer to one submission (after the transport's retries)."""

    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    attempts: int
    url: str
    #: an earlier attempt timed out after the body was sent: the server may hold a copy
    is_possible_duplicate: bool = False


class Client(Protocol):
    """Sends payloads to one Jux server."""

    def url_for(self, endpoint: Endpoint) -> str:
        """The full URL of ``endpoint`` on this server."""
        ...

    def post(
        self, endpoint: Endpoint, body: bytes | io.RawIOBase, *, idempotency_key: str
    ) -> Answer:
        """POST ``body``; the final answer, whatever its status. Raises ``SubmitFailedError``
        for failures that produced no answer (refused, DNS, TLS, timeout, deadline,
        interruption)."""
        ...

    def server_version(self) -> str | None:
        """``GET /api/version``'s version, or None when missing or failing (never raises)."""
        ...

    def close(self) -> None: ...


class Budget:
    """Time left for a group of requests: ``seconds`` from now, never past ``deadline`` (a
    ``time.monotonic()`` value, or None)."""

    def __init__(self, seconds: float, deadline: float | None = None) -> None:
        ends = time.monotonic() + seconds
        self.ends = min(ends, deadline) if deadline is not None else ends

    def left(self) -> float:
        return self.ends - time.monotonic()


class QueryClient(Protocol):
    """Reads from one Jux server's query API."""

    def get(self, path: str, params: Mapping[str, str], *, limit: float) -> Answer:
        """GET ``path`` below the server root once, within ``limit`` seconds; the answer
        whatever its status. Raises ``SubmitFailedError`` when there is no answer."""
        ...
