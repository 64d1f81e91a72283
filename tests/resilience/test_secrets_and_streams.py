"""Secrets never leave, whatever shortens a message; a closed output stream stops nothing.

Real CLI, real contract server on 127.0.0.1; the token is searched for in every output, also
in fragments (a secret cut in two by a shortened message must not survive either half).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.jux_server import Fault, JuxServer
from tests.resilience.conftest import (
    OUTBOX,
    ci_environ,
    outbox_sidecars,
    sources_stored,
    submit,
    write_reports,
)

FAST = ("--max-retry-wait", "1", "--retries", "0")


def fragments(secret: str, size: int = 8) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def everything_written(run, workdir: Path) -> str:  # type: ignore[no-untyped-def]
    texts = [run.stdout, run.stderr, json.dumps(run.report), run.step_summary, run.outputs]
    box = workdir / OUTBOX
    if box.is_dir():
        texts += [p.read_text(errors="replace") for p in box.rglob("*") if p.is_file()]
    return "\n".join(texts)


#: a key whose every 8-character piece is unlikely to occur anywhere else in the outputs
KEY = "zqKeyQw8Rt5Yu2Io9Pa4Sd7FgHj3"


@pytest.mark.parametrize("offset", [0, 60, 105, 118, 190, 1000])
def test_a_gateway_echoing_the_authorization_header_leaks_no_fragment_of_the_key(
    workdir: Path, offset: int
) -> None:
    write_reports(workdir, 1)
    body = ("x" * offset + f"Authorization: Bearer {KEY}\r\n" + "y" * 300).encode()
    with JuxServer(api_key=KEY) as server:
        server.faults.append(Fault.error(502, {"Content-Type": "text/plain"}, body))
        run = submit(server.url, workdir, *FAST, env=ci_environ(workdir, JUX_API_KEY=KEY))
    written = everything_written(run, workdir).replace("::add-mask::" + KEY, "")
    assert "non-JSON answer" in written  # the excerpt is shown ...
    for piece in fragments(KEY):  # ... redacted before it was shortened
        assert piece not in written, piece


def test_an_api_key_with_a_line_break_is_a_configuration_error_that_hides_it(
    workdir: Path,
) -> None:
    write_reports(workdir, 1)
    key = "jux-first-half-0123456789\nsecond-half-abcdefghij"
    with JuxServer(api_key=key) as server:
        run = submit(
            server.url, workdir, env=ci_environ(workdir, JUX_API_KEY=key), subprocess_run=True
        )
        assert run.code == 2
        assert "whitespace or control characters" in run.stderr
        for half in key.split("\n"):
            assert half not in run.stdout + run.stderr
        assert server.posts() == []


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2-password@jux.example.com",
        "https://jux.example.com/?token=hunter2-password",
        "https://jux.example.com:99999999/x?key=hunter2-password",
        "https://jux.example.com/a b?token=hunter2-password",
    ],
)
def test_a_malformed_api_url_is_never_echoed_with_its_credentials(workdir: Path, url: str) -> None:
    run = submit(url, workdir, subprocess_run=True)
    assert run.code == 2
    assert "hunter2-password" not in run.stdout + run.stderr
    assert "--api-url" in run.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CI_REPOSITORY_URL", "https://gitlab-ci-token:glcbt-abc123@gitlab.example.com/g/p.git"),
        ("CI_JOB_JWT_V2", "eyJhbGciOi.payload.sig"),
        ("CI_JOB_TOKEN", "glcbt-abc123"),
        ("CI_REGISTRY_PASSWORD", "pw"),
        ("DOCKER_AUTH_CONFIG", '{"auths": {}}'),
        ("SSH_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----"),
        ("SSH_PRIVATE_KEY", "ssh-value-abc"),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://token.actions.example/x"),
        ("ACTIONS_RUNTIME_TOKEN", "runtime-token-abc"),
        ("GIT_URL", "https://jenkins:ghp_abc123@github.com/o/r.git"),
        ("ANY_NAME", "ftp://user:pass@host/path"),
    ],
)
def test_env_var_refuses_ci_credentials(workdir: Path, name: str, value: str) -> None:
    write_reports(workdir, 1)
    env = ci_environ(workdir, **{name: value})
    run = submit("http://127.0.0.1:9", workdir, "--env-var", name, "--dry-run", env=env)
    assert run.code == 2 and f"refusing to record {name}" in run.stderr
    assert value not in run.stdout + run.stderr


def test_env_var_still_records_ordinary_variables(server: JuxServer, workdir: Path) -> None:
    write_reports(workdir, 1)
    env = ci_environ(workdir, GIT_AUTHOR_NAME="Ada", BUILD_FLAVOUR="release")
    run = submit(
        server.url, workdir, "--env-var", "GIT_AUTHOR_NAME", "--env-var", "BUILD_FLAVOUR", env=env
    )
    assert run.code == 0, run.output
    assert server.runs[0].properties["env:GIT_AUTHOR_NAME"] == "Ada"


def test_a_closed_stdout_under_github_stops_nothing(server: JuxServer, workdir: Path) -> None:
    """``jux-submit | true``: the reader is gone before the first line. Every report is still
    stored, the outputs are written, and the exit code is one of the documented ones."""
    names = write_reports(workdir, 50)
    env = ci_environ(workdir)
    argv = [sys.executable, "-m", "jux_submit", "--api-url", server.url]
    argv += ["--working-directory", str(workdir)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # nobody reads stdout any more
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode(errors="replace")
    assert sorted(sources_stored(server)) == sorted(names)
    outputs = (workdir.parent / "gh" / "output.txt").read_text()
    assert "submitted<<" in outputs or "submitted=50" in outputs
    assert outbox_sidecars(workdir) == []
    assert b"BrokenPipe" not in err and b"Traceback" not in err


def test_closed_stdout_and_stderr_together_stop_nothing(server: JuxServer, workdir: Path) -> None:
    names = write_reports(workdir, 10)
    argv = [sys.executable, "-m", "jux_submit", "--api-url", server.url]
    argv += ["--working-directory", str(workdir), "-v"]
    proc = subprocess.Popen(
        argv, env=ci_environ(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0
    assert sorted(sources_stored(server)) == sorted(names)
