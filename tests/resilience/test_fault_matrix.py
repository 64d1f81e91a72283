"""Fault matrix (issue 6, item 7): one test per row, against the real contract server.

Each test asserts the final state: the runs the server stored, the outbox, the exit code and
the per-file status; and that the token went nowhere it should not.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import time
from pathlib import Path

import pytest

from tests.conftest import write_junit
from tests.jux_server import RAW_PATH, Fault, JuxServer
from tests.resilience.conftest import (
    TOKEN,
    assert_no_token,
    closed_port,
    outbox_payloads,
    outbox_sidecars,
    resubmit,
    submit,
)

FAST = ("--max-retry-wait", "1", "--retries", "2")


@pytest.fixture
def report(workdir: Path) -> str:
    write_junit(workdir / "TEST-a.xml", suite="A", cases=3, failures=1)
    return "TEST-a.xml"


def assert_kept(run, report: str, kind: str, code: int = 0) -> dict:  # type: ignore[no-untyped-def]
    """FAILED, kept in the outbox as exact bytes plus a sidecar; exit code 0."""
    entry = run.files[report]
    assert entry["status"] == "failed", entry
    assert entry["error"]["kind"] == kind, entry
    payloads = outbox_payloads(run.workdir)
    assert len(payloads) == 1 and entry["outbox_path"] == str(payloads[0])
    (sidecar,) = outbox_sidecars(run.workdir)
    assert sidecar["state"] == "pending" and sidecar["source_path"] == report
    # the entry names its kind, never a URL or a path: the current settings decide where it goes
    assert sidecar["kind"] == "raw" and "endpoint" not in sidecar
    assert sidecar["error"]["kind"] == kind and sidecar["created"]
    assert run.code == code
    return sidecar


def test_5xx_burst_shorter_than_the_retry_budget(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.faults.extend([Fault.error(503), Fault.error(502)])
    run = submit(server.url, workdir, *FAST)
    assert run.code == 0 and run.status_of(report) == "submitted"
    assert run.files[report]["attempts"] == 3
    assert len(server.runs) == 1 and outbox_payloads(workdir) == []
    keys = {r.headers["idempotency-key"] for r in server.posts()}
    assert len(keys) == 1  # every attempt carried the same key
    assert_no_token(run, server)


def test_5xx_longer_than_the_retry_budget_goes_to_the_outbox(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.faults.extend([Fault.error(500)] * 3)
    run = submit(server.url, workdir, *FAST)
    sidecar = assert_kept(run, report, "server")
    assert server.runs == [] and len(server.posts()) == 3
    payload = outbox_payloads(workdir)[0]
    sent = server.posts()[0]
    assert payload.read_bytes() == sent.body  # exactly the bytes that were to be sent
    assert sidecar["payload_sha256"] == hashlib.sha256(sent.body).hexdigest()
    # the Idempotency-Key names the submission (the journal key), not the bytes
    assert sidecar["key"] == sent.headers["idempotency-key"]
    assert_no_token(run, server)


def test_fail_on_error_turns_a_kept_report_into_exit_1(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.faults.extend([Fault.error(503)] * 3)
    run = submit(server.url, workdir, *FAST, "--fail-on-error")
    assert run.code == 1 and run.status_of(report) == "failed"
    assert len(outbox_payloads(workdir)) == 1


def test_connection_refused(workdir: Path, report: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    run = submit(url, workdir, *FAST)
    sidecar = assert_kept(run, report, "connection")
    assert "refused" in run.files[report]["error"]["message"]
    assert TOKEN not in json.dumps(sidecar)
    assert_no_token(run)


def test_connection_dropped_before_the_response_then_answered(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.faults.append(Fault.drop())
    run = submit(server.url, workdir, *FAST)
    assert run.code == 0 and run.status_of(report) == "submitted"
    assert len(server.runs) == 1 and len(server.posts()) == 2
    assert outbox_payloads(workdir) == []
    assert_no_token(run, server)


def test_connection_dropped_every_time(server: JuxServer, workdir: Path, report: str) -> None:
    server.faults.extend([Fault.drop()] * 3)
    run = submit(server.url, workdir, *FAST)
    assert_kept(run, report, "connection")
    assert server.runs == []
    assert_no_token(run, server)


def test_response_delayed_beyond_the_timeout_before_the_server_stored_it(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.faults.append(Fault.delay(1.5, abort_if_gone=True))
    run = submit(server.url, workdir, *FAST, "--timeout", "0.5")
    assert run.code == 0 and run.status_of(report) == "submitted"
    time.sleep(1.5)  # let the slow handler finish: it must not store its copy
    assert len(server.runs) == 1 and len(server.posts()) == 2
    assert outbox_payloads(workdir) == []
    # the client cannot tell this case from the next one: it says a duplicate is possible
    assert any("timed out after the report was sent" in w for w in run.files[report]["warnings"])


def test_response_delayed_beyond_the_timeout_after_the_server_stored_it(
    server: JuxServer, workdir: Path, report: str
) -> None:
    """The documented duplicate: the body arrived, the server stored it, the answer came too
    late. The retry carries the same Idempotency-Key, and the result says what may happen."""
    server.faults.append(Fault.delay(1.5, store_first=True))
    run = submit(server.url, workdir, *FAST, "--timeout", "0.5")
    assert run.code == 0 and run.status_of(report) == "submitted"
    assert len(server.runs) == 2
    assert server.runs[0].idempotency_key == server.runs[1].idempotency_key
    warnings = run.files[report]["warnings"]
    assert any("timed out after the report was sent" in w for w in warnings), warnings
    assert outbox_payloads(workdir) == []
    assert_no_token(run, server)


def test_delayed_after_storing_is_stored_once_by_a_server_honouring_idempotency(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.honour_idempotency = True
    server.faults.append(Fault.delay(1.5, store_first=True))
    run = submit(server.url, workdir, *FAST, "--timeout", "0.5")
    assert run.status_of(report) == "submitted" and len(server.runs) == 1
    assert run.files[report]["test_run_id"] == server.runs[0].test_run_id


def test_429_with_retry_after_in_seconds(server: JuxServer, workdir: Path, report: str) -> None:
    server.faults.append(Fault.error(429, {"Retry-After": "1"}))
    started = time.monotonic()
    run = submit(server.url, workdir, "--max-retry-wait", "5")
    elapsed = time.monotonic() - started
    assert run.status_of(report) == "submitted" and len(server.runs) == 1
    first, second = server.posts()
    assert second.received_at - first.received_at >= 0.95  # waited as asked
    assert elapsed < 4
    assert_no_token(run, server)


def test_429_with_retry_after_as_an_http_date(
    server: JuxServer, workdir: Path, report: str
) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    server.faults.append(Fault.error(429, {"Retry-After": when}))
    run = submit(server.url, workdir, "--max-retry-wait", "5")
    assert run.status_of(report) == "submitted" and len(server.runs) == 1
    first, second = server.posts()
    # an HTTP date has whole seconds: at least ~1 s, at most ~2 s of waiting
    assert 0.9 <= second.received_at - first.received_at <= 3.0


def test_429_without_retry_after_uses_x_ratelimit_reset(
    server: JuxServer, workdir: Path, report: str
) -> None:
    reset = str(int(time.time()) + 2)
    server.faults.append(Fault.error(429, {"X-RateLimit-Reset": reset}))
    run = submit(server.url, workdir, "--max-retry-wait", "5")
    assert run.status_of(report) == "submitted" and len(server.runs) == 1
    first, second = server.posts()
    assert second.received_at - first.received_at >= 0.9


def test_429_without_any_hint_backs_off_then_keeps_it(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.faults.extend([Fault.error(429)] * 3)
    run = submit(server.url, workdir, *FAST)
    assert_kept(run, report, "rate-limited")
    assert len(server.posts()) == 3 and server.runs == []


def test_413_with_retry_after_is_load_shedding(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.faults.append(Fault.error(413, {"Retry-After": "1"}))
    run = submit(server.url, workdir, *FAST)
    assert run.status_of(report) == "submitted" and len(server.runs) == 1
    assert len(server.posts()) == 2


def test_413_without_retry_after_is_rejected_not_kept(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.faults.append(Fault.error(413))
    run = submit(server.url, workdir, *FAST)
    entry = run.files[report]
    assert entry["status"] == "rejected" and entry["http_status"] == 413
    assert "too large" in entry["error"]["message"]
    assert len(server.posts()) == 1 and server.runs == []
    assert outbox_payloads(workdir) == []  # not pending ...
    rejected = list((workdir / ".jux-outbox" / "rejected").glob("*.json"))
    assert len(rejected) == 1  # ... but listed separately, with the reason
    assert json.loads(rejected[0].read_text())["error"]["kind"] == "package-too-large"
    assert run.code == 0
    assert "REJECTED" in run.stdout
    assert_no_token(run, server)


@pytest.mark.parametrize("status", [307, 308])
def test_redirect_to_the_same_host_is_not_followed(
    server: JuxServer, workdir: Path, report: str, status: int
) -> None:
    server.faults.append(Fault.redirect(server.url + "/elsewhere" + RAW_PATH, status))
    run = submit(server.url, workdir, *FAST)
    entry = run.files[report]
    assert entry["status"] == "failed" and entry["error"]["kind"] == "redirect"
    assert len(server.requests) == 2  # the version probe and one POST: nothing followed
    assert server.runs == [] and len(outbox_payloads(workdir)) == 1
    assert_no_token(run, server)


def test_redirect_to_another_host_never_carries_the_token(
    server: JuxServer, workdir: Path, report: str
) -> None:
    with JuxServer(host="127.0.0.2") as other:
        server.faults.append(Fault.redirect(other.url + RAW_PATH))
        run = submit(server.url, workdir, *FAST)
        assert run.files[report]["error"]["kind"] == "redirect"
        assert other.requests == []
        assert other.url in run.files[report]["error"]["message"]
    assert_no_token(run, server)


def test_non_json_error_bodies(server: JuxServer, workdir: Path, report: str) -> None:
    html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    server.faults.extend([Fault.error(502, {"Content-Type": "text/html"}, html)] * 3)
    run = submit(server.url, workdir, *FAST)
    assert_kept(run, report, "server")
    assert "502 Bad Gateway" in run.files[report]["error"]["message"]


def test_non_json_400_is_rejected_with_the_text(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.faults.append(Fault.error(400, {"Content-Type": "text/plain"}, b"bad things"))
    run = submit(server.url, workdir, *FAST)
    entry = run.files[report]
    assert entry["status"] == "rejected" and "bad things" in entry["error"]["message"]
    assert outbox_payloads(workdir) == [] and len(server.posts()) == 1


@pytest.mark.parametrize(
    ("status", "ctype", "body"),
    [
        (201, "text/plain", b"ok!"),
        (201, "application/json", b'{"message": "created"}'),
        (200, "text/html", b"<!DOCTYPE html><html><title>Sign in - Corp SSO</title></html>"),
        (200, "application/json", b'{"test_run_id": "abc"}'),
    ],
)
def test_an_answer_that_is_not_the_contracts_201_is_never_accepted(  # noqa: PLR0917
    server: JuxServer, workdir: Path, report: str, status: int, ctype: str, body: bytes
) -> None:
    """An SSO page, a captive portal or a catch-all proxy answering 2xx: failed, kept in the
    outbox, not journaled (the next run sends it), exit 1 with --fail-on-error."""
    server.faults.append(Fault.error(status, {"Content-Type": ctype}, body))
    run = submit(server.url, workdir, *FAST, "--fail-on-error")
    assert run.code == 1
    sidecar = assert_kept(run, report, "not-jux-api", code=1)
    message = run.files[report]["error"]["message"]
    assert f"HTTP {status} ({ctype})" in message and "does not look like a Jux API" in message
    assert body[:20].decode() in message
    assert server.runs == [] and len(server.posts()) == 1
    assert sidecar["error"]["kind"] == "not-jux-api"
    with server.lock:  # the scripted answer is off-contract on purpose; the request is checked
        first = server.requests[-1]
        first.violations = [v for v in first.violations if not v.startswith("response")]
    journal = workdir / ".jux-outbox" / "journal.jsonl"
    assert not journal.exists() or journal.read_text() == ""
    again = submit(server.url, workdir, *FAST)  # the real server now answers: stored once
    assert again.status_of(report) == "submitted" and len(server.runs) == 1
    assert outbox_payloads(workdir) == []
    assert_no_token(run, server)


def test_version_endpoint_missing(workdir: Path, report: str) -> None:
    with JuxServer(api_key=TOKEN, version=None) as srv:
        run = submit(srv.url, workdir, *FAST)
    assert run.code == 0 and run.status_of(report) == "submitted" and len(srv.runs) == 1
    assert "version" not in run.stderr.lower()


def test_version_2_warns_and_still_submits(workdir: Path, report: str) -> None:
    with JuxServer(api_key=TOKEN, version="2.0.0") as srv:
        run = submit(srv.url, workdir, *FAST)
    assert run.code == 0 and run.status_of(report) == "submitted" and len(srv.runs) == 1
    assert "API version 2.0.0" in run.stderr


def test_dns_failure(workdir: Path, report: str) -> None:
    run = submit("http://jux-server.invalid:8080", workdir, *FAST)
    assert run.code == 2  # plain HTTP to a remote host with a token set is refused ...
    assert "allow-insecure-http" in run.stderr and outbox_payloads(workdir) == []
    run = submit("http://jux-server.invalid:8080", workdir, *FAST, "--allow-insecure-http")
    assert_kept(run, report, "connection")  # ... and with the opt-in, DNS fails: kept
    assert "resolve" in run.files[report]["error"]["message"]
    assert_no_token(run)


def test_outbox_entry_is_sent_by_resubmit_exactly_once(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.faults.extend([Fault.error(503)] * 3)
    first = submit(server.url, workdir, *FAST)
    assert first.status_of(report) == "failed"
    key = server.posts()[0].headers["idempotency-key"]
    again = resubmit(server.url, workdir, *FAST)
    assert again.code == 0, again.output
    assert len(server.runs) == 1 and server.runs[0].idempotency_key == key
    assert outbox_payloads(workdir) == [] and not list((workdir / ".jux-outbox").glob("*.json"))
    twice = resubmit(server.url, workdir, *FAST)  # safe to run twice
    assert twice.code == 0 and "nothing to resubmit" in twice.stdout
    rerun = submit(server.url, workdir, *FAST)  # and the same command again sends nothing
    assert rerun.status_of(report) == "skipped" and len(server.runs) == 1
    assert rerun.files[report]["test_run_id"] == server.runs[0].test_run_id
    for run in (first, again, twice, rerun):
        assert_no_token(run, server)
