"""Classify the server's final answer to one submission into a ``SubmitOutcome``.

``classify_answer`` is pure: the answer in, the outcome out (CONTRACT.md and ADR-0005 decide
which answer means what). Accepted means exactly the contract's answer: HTTP 201 with a JSON
body carrying a ``test_run_id``; anything else is not accepted, whatever its status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from jux_submit.client import Answer
from jux_submit.errors import (
    AuthenticationError,
    EndpointNotFoundError,
    JuxError,
    NotJuxAPIError,
    PackageTooLargeError,
    PackageVerificationError,
    RateLimitedError,
    RedirectError,
    ServerError,
    UnexpectedResponseError,
)
from jux_submit.models import Endpoint, Record, record

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: a 422 whose text blames an attachment rather than the manifest or the signature
ATTACHMENT_REFUSED = re.compile(r"attachment|mime|content[ -]type|file type", re.IGNORECASE)
#: the attachments a 422 names (``attachments/<name>``)
REFUSED_NAME = re.compile(r"attachments/([^\s'\",;:()]+)")
_EXCERPT = 120
_READ_FOR_EXCERPT = 64 * 1024  # redacted whole before it is shortened
POSSIBLE_DUPLICATE_AFTER_TIMEOUT = (
    "an attempt timed out after the report was sent; if the server stored that one "
    "and does not honour Idempotency-Key, this test run is stored twice"
)


@record
class SubmitOutcome(Record):
    """What happened to one submission: accepted (with a run id) or an error."""

    http_status: int | None
    attempts: int
    test_run_id: str | None = None
    error: JuxError | None = None
    warnings: tuple[str, ...] = ()

    @property
    def is_accepted(self) -> bool:
        return self.error is None


def excerpt(body: bytes, redact: Callable[[str], str] = str) -> str:
    """The first bytes of an answer as one safe line: redacted first (a secret cut in two by
    the shortening would survive redaction), control characters replaced, quoted."""
    text = redact(body[:_READ_FOR_EXCERPT].decode("utf-8", "replace"))
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if len(text) > _EXCERPT:
        text = text[: _EXCERPT - 3] + "..."
    return repr(text)


def _server_error_parts(
    body: bytes, redact: Callable[[str], str]
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(error, details, suggestions) from a JSON error body; text excerpt when not JSON."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return (f"non-JSON answer: {excerpt(body, redact)}" if body.strip() else None), None, ()
    if not isinstance(data, dict):
        return None, None, ()
    error = data.get("error")
    details = data.get("details")
    details_text: str | None
    if isinstance(details, dict):
        details_text = "; ".join(f"{k}: {v}" for k, v in details.items()) or None
    elif details is not None:
        details_text = str(details)
    else:
        details_text = None
    suggestions = data.get("suggestions")
    tips = tuple(str(s) for s in suggestions) if isinstance(suggestions, list) else ()
    return (str(error) if error is not None else None), details_text, tips


def _run_id(body: bytes) -> str | None:
    """The ``test_run_id`` of a contract ``SubmitResponse``, or None."""
    try:
        data: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    run_id = data.get("test_run_id") if isinstance(data, dict) else None
    if isinstance(run_id, str) and run_id.strip():
        return run_id.strip()
    if isinstance(run_id, int) and not isinstance(run_id, bool):
        return str(run_id)
    return None


def _not_jux(answer: Answer, why: str, redact: Callable[[str], str]) -> NotJuxAPIError:
    ctype = answer.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    ctype = _CONTROL.sub(" ", ctype)[:80]
    shown = excerpt(answer.body, redact) if answer.body.strip() else "an empty body"
    return NotJuxAPIError(
        f"HTTP {answer.status} ({ctype}) with {shown}: {why}; {answer.url} does not look like "
        "a Jux API, so the report is not counted as accepted",
        hint="check --api-url / JUX_API_URL: it must be the Jux server's root (for example "
        "https://jux.example.com); a login page, captive portal or proxy may be answering "
        "instead",
    )


def classify_answer(
    answer: Answer,
    endpoint: Endpoint,
    *,
    size: int | None = None,
    redact: Callable[[str], str] = str,
) -> SubmitOutcome:
    """Decide what a final HTTP answer means for the report. Text quoted from the answer is
    passed through ``redact`` whole, before anything is shortened."""
    status, attempts = answer.status, answer.attempts
    if status == 201:
        run_id = _run_id(answer.body)
        if run_id is not None:
            return SubmitOutcome(status, attempts, test_run_id=run_id)
        err: JuxError = _not_jux(
            answer, "the contract's 201 carries JSON with a test_run_id", redact
        )
    elif 200 <= status < 300:
        err = _not_jux(answer, "a Jux server answers a submission with 201", redact)
    else:
        err = _error_for(answer, endpoint, size, redact)
    err.http_status = status
    return SubmitOutcome(status, attempts, error=err)


def _error_for(
    answer: Answer, endpoint: Endpoint, size: int | None, redact: Callable[[str], str]
) -> JuxError:
    status, headers, attempts = answer.status, answer.headers, answer.attempts
    error, details, tips = _server_error_parts(answer.body, redact)
    said = ": " + "; ".join(p for p in (error, details) if p) if (error or details) else ""
    what = endpoint.what
    err: JuxError
    if 300 <= status < 400:
        target = headers.get("location", "(no Location header)")
        err = RedirectError(
            f"the server answered HTTP {status} redirecting to {target}; redirects are not "
            "followed for uploads",
            hint=f"set the API URL to the final address ({target} without the endpoint path) "
            "if you trust it",
        )
    elif status in (401, 403):
        problem = "missing or not accepted" if status == 401 else "invalid, expired or not allowed"
        err = AuthenticationError(
            f"HTTP {status}: the API key is {problem}{said}",
            hint="check the JUX_API_KEY secret (input 'api-key') for this server; the key "
            "itself is never printed",
        )
    elif status == 404:
        err = EndpointNotFoundError(
            f"HTTP 404 from {answer.url}: the URL path looks wrong{said}",
            hint="set --api-url / JUX_API_URL to the server root (for example "
            "https://jux.example.com, or .../api/v1); jux-submit adds the endpoint path itself",
        )
    elif status == 413:
        limit = f" ({size:,} bytes)" if size is not None else ""
        err = PackageTooLargeError(
            f"HTTP 413: the server refused the {what} as too large{limit}{said}",
            hint="split the report, drop attachments, or raise the server's upload limit",
        )
    elif status == 422 and ATTACHMENT_REFUSED.search(said):
        err = PackageVerificationError(
            f"HTTP 422: the server refused an attachment of the package{said}",
            hint="the server does not take that attachment (its type or its content); the "
            "report is sent again without it",
        )
    elif status == 422:
        err = PackageVerificationError(
            f"HTTP 422: the server could not verify the package{said}",
            hint="check the signing key and certificate (JUX_SIGNING_KEY, JUX_SIGNING_CERT), "
            "or whether the server requires signed packages",
        )
    elif status == 400:
        err = endpoint.rejection(
            f"HTTP 400: the server rejected the {what}{said}",
            hint="run with --dry-run to see what is sent; fix the report and submit again",
        )
    elif status == 429:
        retry_after = headers.get("retry-after")
        note = f" (it asked to wait {retry_after} s)" if retry_after else ""
        err = RateLimitedError(
            f"HTTP 429: rate limited after {attempts} attempts{note}{said}",
            hint="run 'jux-submit resubmit' later, or lower --parallel",
        )
    elif status >= 500:
        err = ServerError(
            f"HTTP {status}: server error after {attempts} attempts{said}",
            hint="run 'jux-submit resubmit' once the server is healthy",
        )
    else:
        err = UnexpectedResponseError(f"unexpected HTTP {status} from {answer.url}{said}")
    err.suggestions = tips
    return err
