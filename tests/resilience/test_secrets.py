"""Secret hygiene (issue 6, item 6): the token never shows up in stdout, stderr, the JSON result,
the job summary, the step outputs, the outbox, or any request outside ``Authorization``.

Every other test of this suite runs the same scan (``assert_no_token``); these are the cases
built to tempt a leak."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_junit
from tests.jux_server import Fault, JuxServer
from tests.resilience.conftest import (
    TOKEN,
    assert_no_token,
    ci_environ,
    outbox_payloads,
    resubmit,
    submit,
)

FAST = ("--max-retry-wait", "1", "--retries", "1")


@pytest.fixture
def report(workdir: Path) -> str:
    write_junit(workdir / "TEST-a.xml")
    return "TEST-a.xml"


def test_verbose_and_debug_output_redact_headers(
    server: JuxServer, workdir: Path, report: str
) -> None:
    server.faults.extend([Fault.error(503), Fault.error(429, {"Retry-After": "0"})])
    run = submit(server.url, workdir, *FAST, "--retries", "3", "-v", "--debug")
    assert run.status_of(report) == "submitted"
    assert "DEBUG" in run.stderr  # verbose output was really on
    assert "Bearer" not in run.stderr
    assert_no_token(run, server)


def test_a_server_echoing_the_token_in_its_errors(
    server: JuxServer, workdir: Path, report: str
) -> None:
    echo = f'{{"error": "bad gateway", "details": "Authorization: Bearer {TOKEN}"}}'.encode()
    server.faults.extend([Fault.error(502, {"Content-Type": "application/json"}, echo)] * 2)
    run = submit(server.url, workdir, *FAST, "-v")
    assert run.status_of(report) == "failed" and "***" in run.files[report]["error"]["message"]
    assert len(outbox_payloads(workdir)) == 1
    assert_no_token(run, server)  # stdout, summary, outputs, JSON and the outbox sidecar
    again = resubmit(server.url, workdir, *FAST)
    assert again.code == 0 and len(server.runs) == 1
    assert_no_token(again, server)


def test_a_wrong_key_is_kept_and_never_echoed(workdir: Path, report: str) -> None:
    with JuxServer(api_key="the-right-key-0000") as srv:
        run = submit(srv.url, workdir, *FAST)
        entry = run.files[report]
        assert entry["status"] == "failed" and entry["error"]["kind"] == "auth"
        assert entry["http_status"] == 403 and len(srv.posts()) == 1  # 403 is not retried
        assert_no_token(run, srv)
        srv.api_key = TOKEN  # the secret is fixed: resubmit sends it
        again = resubmit(srv.url, workdir, *FAST)
        assert again.code == 0 and len(srv.runs) == 1 and outbox_payloads(workdir) == []
        assert_no_token(again, srv)


def test_plain_http_to_a_remote_host_is_refused_with_a_token(workdir: Path, report: str) -> None:
    run = submit("http://jux.example.invalid", workdir, *FAST)
    assert run.code == 2 and "allow-insecure-http" in run.stderr
    assert not (workdir / ".jux-outbox").exists()  # refused before anything
    assert_no_token(run)
    env = ci_environ(workdir)
    del env["JUX_API_KEY"]  # without a token there is nothing to protect
    run = submit("http://jux.example.invalid", workdir, *FAST, env=env)
    assert run.code == 0 and run.files[report]["error"]["kind"] == "connection"


def test_recording_the_secret_variable_never_sends_it(
    server: JuxServer, workdir: Path, report: str
) -> None:
    run = submit(server.url, workdir, *FAST, "--env-var", "JUX_API_KEY")
    assert_no_token(run, server)
