"""classify_response: what each final HTTP answer means (pure function, no sockets)."""

from __future__ import annotations

import json

import pytest

from jux_submit.errors import (
    AuthenticationError,
    InvalidPackageError,
    PackageTooLargeError,
    PackageVerificationError,
    RateLimitedError,
    RedirectError,
    ReportRejectedError,
    ServerError,
    UnexpectedResponseError,
)
from jux_submit.payload import PACKAGE_ENDPOINT, RAW_ENDPOINT
from jux_submit.submit import classify_response


def classify(
    status: int,
    body: object = b"",
    headers: dict[str, str] | None = None,
    endpoint: str = RAW_ENDPOINT,
):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return classify_response(
        status,
        headers or {},
        raw,
        endpoint=endpoint,
        url="https://jux.example" + endpoint,
        attempts=2,
        size=1234,
    )


def test_created_with_run_id() -> None:
    outcome = classify(201, {"test_run_id": "abc", "message": "ok"})
    assert outcome.is_accepted and outcome.test_run_id == "abc" and outcome.attempts == 2


def test_created_without_id_is_accepted_with_warning() -> None:
    outcome = classify(201, b"<html>ok</html>")
    assert outcome.is_accepted and outcome.test_run_id is None
    assert "no test_run_id" in outcome.warnings[0]


@pytest.mark.parametrize(
    ("status", "endpoint", "cls", "retryable"),
    [
        (400, RAW_ENDPOINT, ReportRejectedError, False),
        (400, PACKAGE_ENDPOINT, InvalidPackageError, False),
        (401, RAW_ENDPOINT, AuthenticationError, True),
        (403, RAW_ENDPOINT, AuthenticationError, True),
        (413, PACKAGE_ENDPOINT, PackageTooLargeError, False),
        (422, PACKAGE_ENDPOINT, PackageVerificationError, False),
        (429, RAW_ENDPOINT, RateLimitedError, True),
        (500, RAW_ENDPOINT, ServerError, True),
        (503, RAW_ENDPOINT, ServerError, True),
        (418, RAW_ENDPOINT, UnexpectedResponseError, False),
        (307, RAW_ENDPOINT, RedirectError, False),
    ],
)
def test_error_classes(status: int, endpoint: str, cls: type, retryable: bool) -> None:
    outcome = classify(
        status,
        {"error": "E", "details": {"message": "M"}, "suggestions": ["S1", "S2"]},
        endpoint=endpoint,
    )
    assert isinstance(outcome.error, cls)
    assert outcome.error.is_retryable is retryable
    assert outcome.error.http_status == status
    if status != 307:
        assert "E; message: M" in outcome.error.message
        assert outcome.error.suggestions == ("S1", "S2")


def test_redirect_names_target_and_413_names_size() -> None:
    redirect = classify(302, headers={"Location": "https://other.example/x"})
    assert redirect.error is not None and "https://other.example/x" in redirect.error.message
    too_big = classify(413, endpoint=PACKAGE_ENDPOINT)
    assert too_big.error is not None and "1,234 bytes" in too_big.error.message
    assert "split the report" in (too_big.error.hint or "")


def test_non_json_bodies_are_quoted_without_control_characters() -> None:
    outcome = classify(500, b"Internal\x1b[31m Error\n")
    assert outcome.error is not None
    assert "\x1b" not in outcome.error.message
    assert "non-JSON answer" in outcome.error.message
