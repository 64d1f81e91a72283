"""Proxies: the API key never goes in clear text to a proxy on another host.

A real forward proxy on 127.0.0.1 logs everything it receives and forwards absolute-URI
requests to the contract server (whatever host name they name). Loopback servers are reached
directly whatever the proxy variables say; a plain ``http://`` server behind a plain proxy on
another host is refused before any connection unless ``--allow-insecure-http``; proxy
variables are read from the run's environment only; a proxy's credentials are never shown.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from jux_submit.errors import ConfigError
from jux_submit.settings import load_settings
from jux_submit.transport import build_client, proxy_problems
from tests.conftest import write_junit
from tests.jux_server import JuxServer
from tests.resilience.conftest import TOKEN, assert_no_token, ci_environ, submit

PROXY_SECRET = "proxy-pa55word-42"
REMOTE_PROXY = f"http://proxy-user:{PROXY_SECRET}@proxy.invalid:3128"


@dataclass(frozen=True)
class Received:
    """One request as the proxy received it."""

    line: str
    headers: dict[str, str]
    body: bytes

    def carries(self, secret: str) -> bool:
        return secret in self.line + json.dumps(self.headers) or secret.encode() in self.body


class ForwardProxy:
    """A forward proxy on 127.0.0.1 that logs every request, forwards ``GET``/``POST`` with an
    absolute URI to ``upstream`` on 127.0.0.1 (any host name: it stands for the network) and
    refuses ``CONNECT``."""

    def __init__(self, upstream_port: int) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _record(self) -> bytes:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    proxy.received.append(Received(self.requestline, dict(self.headers), body))
                return body

            def do_CONNECT(self) -> None:
                self._record()
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _forward(self) -> None:
                body = self._record()
                target = urlsplit(self.path)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if not k.lower().startswith("proxy-") and k.lower() != "connection"
                }
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    upstream.request(self.command, path, body or None, headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ForwardProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def seen(self) -> list[Received]:
        with self.lock:
            return list(self.received)


@pytest.fixture
def report(workdir: Path) -> str:
    write_junit(workdir / "TEST-a.xml", suite="A", cases=3, failures=1)
    return "TEST-a.xml"


@pytest.fixture
def proxy(server: JuxServer) -> Iterator[ForwardProxy]:
    with ForwardProxy(urlsplit(server.url).port or 0) as running:
        yield running


def port_of(server: JuxServer) -> int:
    return urlsplit(server.url).port or 0


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_loopback_server_is_reached_directly_whatever_the_proxy_variables_say(
    server: JuxServer, proxy: ForwardProxy, workdir: Path, report: str, variable: str
) -> None:
    env = ci_environ(workdir, **{variable: proxy.url})
    run = submit(server.url, workdir, env=env, subprocess_run=True)
    assert run.code == 0 and run.status_of(report) == "submitted", run.output
    assert proxy.seen() == []  # not one byte: the key stays on the machine
    assert len(server.runs) == 1
    assert_no_token(run, server)


def test_a_remote_proxy_is_never_used_for_a_loopback_server(
    server: JuxServer, workdir: Path, report: str
) -> None:
    env = ci_environ(workdir, HTTP_PROXY=REMOTE_PROXY, HTTPS_PROXY=REMOTE_PROXY)
    run = submit(server.url, workdir, env=env, subprocess_run=True)
    assert run.code == 0 and run.status_of(report) == "submitted", run.output
    assert PROXY_SECRET not in run.output + json.dumps(run.report)
    assert_no_token(run, server)


def test_a_plain_proxy_on_another_host_never_gets_the_key(
    server: JuxServer, workdir: Path, report: str
) -> None:
    remote = f"http://jux.example.test:{port_of(server)}"
    env = ci_environ(workdir, HTTP_PROXY=REMOTE_PROXY)
    run = submit(remote, workdir, env=env, subprocess_run=True)
    assert run.code == 2, run.output  # refused before any connection
    assert server.requests == [] and run.report == {}
    assert PROXY_SECRET not in run.output and "proxy-user" not in run.output
    assert_no_token(run, server)
    # the client refuses it too, whoever built the settings (settings refuse the plain URL
    # first; the client's own check is what stands between the key and the proxy)
    checked = load_settings(["--api-url", server.url], env)
    unchecked = dataclasses.replace(checked, api_url=remote)
    with pytest.raises(ConfigError) as refused:
        build_client(unchecked, remote)
    message = refused.value.message
    assert refused.value.exit_code == 2
    assert "HTTP_PROXY" in message and "proxy.invalid:3128" in message, message
    assert "jux.example.test" in message and "--allow-insecure-http" in message
    assert PROXY_SECRET not in message and "proxy-user" not in message
    assert server.requests == []


def test_allow_insecure_http_opts_in_to_the_proxy_the_runs_environment_names(
    server: JuxServer, proxy: ForwardProxy, workdir: Path, report: str
) -> None:
    """In-process on purpose: the proxy is in the environment given to the CLI, not in the
    process's own ``os.environ``."""
    remote = f"http://jux.example.test:{port_of(server)}"
    env = ci_environ(workdir, HTTP_PROXY=proxy.url)
    assert "HTTP_PROXY" not in os.environ
    run = submit(remote, workdir, "--allow-insecure-http", env=env)
    assert run.code == 0 and run.status_of(report) == "submitted", run.output
    posts = [r for r in proxy.seen() if r.line.startswith("POST ")]
    assert len(posts) == 1 and posts[0].line.startswith(f"POST {remote}/api/v1/junit/submit ")
    assert posts[0].headers.get("Authorization") == f"Bearer {TOKEN}"  # what opting in means
    assert_no_token(run)


def test_proxy_variables_of_the_process_itself_are_not_read(
    server: JuxServer,
    proxy: ForwardProxy,
    workdir: Path,
    report: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    remote = f"http://jux.example.test:{port_of(server)}"
    env = {k: v for k, v in ci_environ(workdir).items() if not k.upper().endswith("_PROXY")}
    run = submit(remote, workdir, "--allow-insecure-http", env=env)
    # straight to jux.example.test, which has no address: kept for later, nothing proxied
    assert run.status_of(report) == "failed", run.output
    assert run.files[report]["error"]["kind"] == "connection"
    assert proxy.seen() == [] and server.requests == []


def test_an_unreachable_proxy_is_named_without_its_credentials(workdir: Path, report: str) -> None:
    env = ci_environ(workdir, HTTPS_PROXY=REMOTE_PROXY)
    run = submit(
        "https://jux.example.test", workdir, "--retries", "0", env=env, subprocess_run=True
    )
    entry = run.files[report]
    assert entry["status"] == "failed" and entry["error"]["kind"] == "connection", entry
    message = entry["error"]["message"]
    assert "proxy proxy.invalid:3128 (from HTTPS_PROXY)" in message, message
    assert PROXY_SECRET not in run.output + json.dumps(run.report)
    assert "proxy-user" not in run.output + json.dumps(run.report)
    assert_no_token(run)


PLAIN = "http://jux.example.test"
#: (API URL, environment, --allow-insecure-http, the variable named in the refusal or None)
PROXY_RULES = [
    (PLAIN, {"HTTP_PROXY": REMOTE_PROXY}, False, "HTTP_PROXY"),
    (PLAIN, {"ALL_PROXY": "socks5://proxy.invalid:1080"}, False, "ALL_PROXY"),
    (PLAIN, {"http_proxy": REMOTE_PROXY, "HTTP_PROXY": "https://p.invalid"}, False, "http_proxy"),
    (PLAIN, {"HTTP_PROXY": REMOTE_PROXY}, True, None),  # opted in
    (PLAIN, {"HTTP_PROXY": "https://proxy.invalid:3128"}, False, None),  # TLS to the proxy
    (PLAIN, {"HTTP_PROXY": "http://127.0.0.1:3128"}, False, None),  # on this machine
    (PLAIN, {"HTTP_PROXY": REMOTE_PROXY, "NO_PROXY": ".example.test"}, False, None),
    (PLAIN, {"HTTP_PROXY": REMOTE_PROXY, "no_proxy": "*"}, False, None),
    (PLAIN, {"HTTPS_PROXY": REMOTE_PROXY}, False, None),  # for https:// servers only
    ("https://jux.example.test", {"HTTPS_PROXY": REMOTE_PROXY}, False, None),  # CONNECT: TLS
    ("http://127.0.0.1:8080", {"HTTP_PROXY": REMOTE_PROXY}, False, None),  # loopback: direct
    ("http://localhost:8080", {"ALL_PROXY": REMOTE_PROXY}, False, None),
]


def test_which_proxies_may_carry_the_key() -> None:
    """The rule as a table: only a plain proxy on another host, for a plain http:// server,
    without the opt-in, is refused; the refusal names the variable, never the credentials."""
    wrong = []
    for api_url, environ, allow, refused_by in PROXY_RULES:
        problems = proxy_problems(api_url, TOKEN, environ, allow_insecure=allow)
        if refused_by is None:
            is_right = problems == []
        else:
            is_right = (
                len(problems) == 1
                and problems[0].startswith(f"{refused_by}: refusing")
                and PROXY_SECRET not in problems[0]
                and "proxy-user" not in problems[0]
            )
        without_key = proxy_problems(api_url, None, environ, allow_insecure=allow)
        if not is_right or without_key:
            wrong.append((api_url, environ, allow, problems, without_key))
    assert wrong == []


def test_a_malformed_proxy_variable_is_a_config_error_that_hides_its_value() -> None:
    environ = {"HTTPS_PROXY": f"ftp://proxy-user:{PROXY_SECRET}@proxy.invalid"}
    (problem,) = proxy_problems("https://jux.example.test", TOKEN, environ, allow_insecure=False)
    assert problem.startswith("HTTPS_PROXY: unsupported proxy scheme 'ftp'"), problem
    assert PROXY_SECRET not in problem
