"""Send one payload and classify the server's answer into a ``SubmitOutcome``.

``classify_response`` is pure: status, headers and body in, outcome out (CONTRACT.md and
ADR-0005 decide which answer means what).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from jux_submit.errors import (
    AuthenticationError,
    InvalidPackageError,
    JuxError,
    PackageTooLargeError,
    PackageVerificationError,
    RateLimitedError,
    RedirectError,
    ReportRejectedError,
    ServerError,
    UnexpectedResponseError,
)
from jux_submit.payload import PACKAGE_ENDPOINT

if TYPE_CHECKING:
    import requests

    from jux_submit.models import Payload
    from jux_submit.settings import Settings

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
POSSIBLE_DUPLICATE_AFTER_TIMEOUT = (
    "an earlier attempt timed out after the report was sent; if the server stored that one "
    "and does not honour Idempotency-Key, this test run is stored twice"
)


@dataclass(frozen=True)
class SubmitOutcome:
    """What happened to one submission: accepted (with a run id) or an error."""

    http_status: int | None
    attempts: int
    test_run_id: str | None = None
    error: JuxError | None = None
    warnings: tuple[str, ...] = ()

    @property
    def is_accepted(self) -> bool:
        return self.error is None


def _server_error_parts(body: bytes) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(error, details, suggestions) from a JSON error body; text excerpt when not JSON."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        text = _CONTROL.sub(" ", body.decode("utf-8", "replace")).strip()
        return (f"non-JSON answer: {text[:200]!r}" if text else None), None, ()
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


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    endpoint: str,
    url: str,
    attempts: int,
    size: int | None = None,
) -> SubmitOutcome:
    """Decide what a final HTTP answer means for the report."""
    is_package = endpoint == PACKAGE_ENDPOINT
    if 200 <= status < 300:
        try:
            data: Any = json.loads(body.decode("utf-8"))
            run_id = data.get("test_run_id") if isinstance(data, dict) else None
        except (UnicodeDecodeError, ValueError):
            run_id = None
        if not run_id:
            return SubmitOutcome(
                status,
                attempts,
                warnings=(
                    f"the server accepted the report (HTTP {status}) but its answer has no "
                    "test_run_id; the run is stored, its id is unknown",
                ),
            )
        return SubmitOutcome(status, attempts, test_run_id=str(run_id))

    error, details, tips = _server_error_parts(body)
    said = ": " + "; ".join(p for p in (error, details) if p) if (error or details) else ""
    err: JuxError
    if 300 <= status < 400:
        target = headers.get("Location", "(no Location header)")
        err = RedirectError(
            f"the server answered HTTP {status} redirecting to {target}; redirects are not "
            "followed for uploads",
            hint=f"set the API URL to the final address ({target} without the endpoint path) "
            "if you trust it",
        )
    elif status in (401, 403):
        what = "missing or not accepted" if status == 401 else "invalid, expired or not allowed"
        err = AuthenticationError(
            f"HTTP {status}: the API key is {what}{said}",
            hint="check the JUX_API_KEY secret (input 'api-key') for this server; the key "
            "itself is never printed",
        )
    elif status == 413:
        limit = f" ({size:,} bytes)" if size is not None else ""
        err = PackageTooLargeError(
            f"HTTP 413: the server refused the {'package' if is_package else 'report'} as too "
            f"large{limit}{said}",
            hint="split the report, drop attachments, or raise the server's upload limit",
        )
    elif status == 422:
        err = PackageVerificationError(
            f"HTTP 422: the server could not verify the package{said}",
            hint="check the signing key and certificate (JUX_SIGNING_KEY, JUX_SIGNING_CERT), "
            "or whether the server requires signed packages",
        )
    elif status == 400:
        cls = InvalidPackageError if is_package else ReportRejectedError
        err = cls(
            f"HTTP 400: the server rejected the {'package' if is_package else 'report'}{said}",
            hint="run with --dry-run to see what is sent; fix the report and submit again",
        )
    elif status == 429:
        retry_after = headers.get("Retry-After")
        note = f" (it asked to wait {retry_after} s)" if retry_after else ""
        err = RateLimitedError(
            f"HTTP 429: rate limited after {attempts} attempts{note}{said}",
            hint="the report was kept in the outbox: run 'jux-submit resubmit' later, or "
            "lower --parallel",
        )
    elif status >= 500:
        err = ServerError(
            f"HTTP {status}: server error after {attempts} attempts{said}",
            hint="the report was kept in the outbox: run 'jux-submit resubmit' once the server "
            "is healthy",
        )
    else:
        err = UnexpectedResponseError(f"unexpected HTTP {status} from {url}{said}")
    err.suggestions = tips
    err.http_status = status
    return SubmitOutcome(status, attempts, error=err)


def submit_payload(
    session: requests.Session, root: str, payload: Payload, settings: Settings
) -> SubmitOutcome:
    """POST ``payload`` to ``root`` + its endpoint and classify the result. Never raises a
    ``JuxError`` for the file: failures are returned in the outcome."""
    from jux_submit.transport import send

    url = root + payload.endpoint
    try:
        response = send(session, url, payload, settings)
    except JuxError as exc:
        return SubmitOutcome(None, settings.retries + 1, error=exc)
    outcome = classify_response(
        response.status,
        response.headers,
        response.body,
        endpoint=payload.endpoint,
        url=url,
        attempts=response.attempts,
        size=payload.size,
    )
    if response.is_possible_duplicate and outcome.is_accepted:
        # the one case where a retry may duplicate (issue 6): say so rather than stay silent
        outcome = replace(outcome, warnings=(*outcome.warnings, POSSIBLE_DUPLICATE_AFTER_TIMEOUT))
    return outcome
