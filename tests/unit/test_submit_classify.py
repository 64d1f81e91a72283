"""classify_answer: what each final HTTP answer means (pure function, no sockets)."""

from __future__ import annotations

import json

import pytest

from jux_submit.classify import classify_answer
from jux_submit.client import Answer
from jux_submit.errors import (
    AuthenticationError,
    EndpointNotFoundError,
    InvalidPackageError,
    NotJuxAPIError,
    PackageTooLargeError,
    PackageVerificationError,
    RateLimitedError,
    RedirectError,
    ReportRejectedError,
    ServerError,
    UnexpectedResponseError,
)
from jux_submit.models import PACKAGE_ENDPOINT, RAW_ENDPOINT, Endpoint


def classify(
    status: int,
    body: object = b"",
    headers: dict[str, str] | None = None,
    endpoint: Endpoint = RAW_ENDPOINT,
):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = Answer(
        status,
        {k.lower(): v for k, v in (headers or {}).items()},
        raw,
        attempts=2,
        url="https://jux.example" + endpoint.path,
    )
    return classify_answer(answer, endpoint, size=1234)


def test_created_with_run_id() -> None:
    outcome = classify(201, {"test_run_id": "abc", "message": "ok"})
    assert outcome.is_accepted and outcome.test_run_id == "abc" and outcome.attempts == 2


@pytest.mark.parametrize(
    ("status", "body", "ctype"),
    [
        (201, b"<html>ok</html>", "text/html"),
        (201, {"message": "ok"}, "application/json"),
        (201, {"test_run_id": ""}, "application/json"),
        (201, b"", ""),
        (200, {"test_run_id": "abc"}, "application/json"),
        (200, b"<!DOCTYPE html><title>Sign in</title>\x1b[31m", "text/html; charset=utf-8"),
        (202, b"queued", "text/plain"),
    ],
)
def test_only_201_with_a_run_id_is_accepted(status: int, body: object, ctype: str) -> None:
    outcome = classify(status, body, {"Content-Type": ctype} if ctype else None)
    assert not outcome.is_accepted and outcome.test_run_id is None
    error = outcome.error
    assert isinstance(error, NotJuxAPIError)
    assert error.is_kept and error.is_server_level
    assert "does not look like a Jux API" in error.message
    assert (
        f"HTTP {status} ({ctype.split(';', maxsplit=1)[0] or 'no content type'})" in error.message
    )
    assert "\x1b" not in error.message
    assert "server's root" in (error.hint or "")


def test_404_says_the_path_looks_wrong_and_suggests_the_root() -> None:
    outcome = classify(404, {"error": "Not found"})
    assert isinstance(outcome.error, EndpointNotFoundError)
    assert "URL path looks wrong" in outcome.error.message
    assert "server root" in (outcome.error.hint or "")
    assert outcome.error.is_kept


@pytest.mark.parametrize(
    ("status", "endpoint", "cls", "kept"),
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
        (418, RAW_ENDPOINT, UnexpectedResponseError, True),
        (307, RAW_ENDPOINT, RedirectError, True),
    ],
)
def test_error_classes(status: int, endpoint: Endpoint, cls: type, kept: bool) -> None:
    outcome = classify(
        status,
        {"error": "E", "details": {"message": "M"}, "suggestions": ["S1", "S2"]},
        endpoint=endpoint,
    )
    assert isinstance(outcome.error, cls)
    assert outcome.error.is_kept is kept
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
