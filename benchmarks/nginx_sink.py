"""A fast HTTP sink for the network benchmarks: nginx from the distribution, with its own
configuration written to a temporary folder, on 127.0.0.1 only.

The Python sink (``sink.py``) costs 130-235 µs of CPU per request, as much as a fast client
spends, so on two CPUs it slows down the very clients it measures. nginx answers a keep-alive
POST in a few tens of µs. Routes:

- ``POST /api/v1/junit/submit`` and ``POST /api/v1/reports/package``: ``201`` with a valid
  ``SubmitResponse`` (``test_run_id`` is nginx's ``$request_id``);
- ``GET /api/version``: ``200 {"version":"1.0.1"}``;
- everything else: ``404`` with a JSON body.

Every request is written (unbuffered) to an access log in the temporary folder: method,
status, ``$request_length``, the request's number on its connection, and its time.
``counts()`` adds up the ``201`` answers to POSTs and their request lengths, so a run that
skipped files or cut bodies short cannot look fast.

Two ways of answering a POST (``body=``):

- ``read`` (the default when the echo module is installed; Debian's ``nginx-light`` ships it
  as ``libnginx-mod-http-echo``): ``echo_read_request_body`` reads the whole body before
  anything is answered, into memory up to ``client_body_buffer_size`` (1 MiB: every small
  report stays in memory, a 200 MB one goes to a temporary file in the folder in 1 MiB
  writes), then ``echo_exec @created`` answers with ``return 201`` (a ``Content-Length``
  answer, like a real server's). ``$request_length`` then includes the body, so the harness
  can check that every byte arrived.
- ``discard`` (without the echo module): ``return 201 '...'`` at once. nginx reads what has
  arrived of the body, answers, and reads and throws away the rest before it takes the next
  request on the connection (``ngx_http_discard_request_body``), so keep-alive stays correct;
  but ``$request_length`` leaves the discarded body out, and only POSTs are counted.

Measured on 2 CPUs (2,000 reports of 5 KB, 4-thread ``http.client`` client, and one 200 MB
report): both ways cost nginx 20-50 µs of CPU per small POST; for the 200 MB body ``read``
with a 1 MiB buffer costs what ``discard`` does (about 0.1 s), a 16 KiB buffer (many small
temporary-file writes) about twice that, a 256 MiB buffer (all in memory) 1.5 times. A second
worker (``worker_processes auto``) gained nothing on 2 CPUs, so there is one.

Run on its own: ``python benchmarks/nginx_sink.py`` prints ``URL http://127.0.0.1:<port>`` and
serves until stdin closes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

SUBMIT_BODY = (
    '{"test_run_id":"$request_id","message":"ok","test_count":0,"failure_count":0,'
    '"error_count":0,"skipped_count":0,"success_rate":100.0}'
)
VERSION_BODY = '{"version":"1.0.1"}'
NOT_FOUND_BODY = '{"error":"not found"}'
ECHO_MODULE_PATHS = (
    "/usr/lib/nginx/modules/ngx_http_echo_module.so",
    "/usr/share/nginx/modules/ngx_http_echo_module.so",
)
APT_PACKAGES = ("nginx-light", "nginx")


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def install_nginx(log: Path | None = None) -> tuple[str | None, str]:
    """nginx's path, installing it with apt-get when missing and running as root; and a note
    saying what happened (empty when nginx was already there)."""
    found = find_nginx()
    if found:
        return found, ""
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "nginx not installed (apt-get needs root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    out = open(log or os.devnull, "ab")  # noqa: SIM115 - closed below
    try:
        subprocess.run(["apt-get", "update"], env=env, stdout=out, stderr=out, check=False)
        for package in APT_PACKAGES:
            done = subprocess.run(
                ["apt-get", "install", "-y", "--no-install-recommends", package],
                env=env,
                stdout=out,
                stderr=out,
                check=False,
            )
            if done.returncode == 0 and find_nginx():
                return find_nginx(), f"installed {package} with apt-get"
    finally:
        out.close()
    return None, "nginx not installed (apt-get install failed)"


def echo_module() -> str | None:
    return next((p for p in ECHO_MODULE_PATHS if os.path.exists(p)), None)


def nginx_version(nginx: str) -> str:
    done = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(
    folder: Path,
    port: int,
    *,
    workers: str = "1",
    body: str = "read",
    body_buffer: str = "1m",
    log_buffer: str = "",
    echo: str | None = None,
) -> str:
    """The whole nginx.conf; every path nginx writes to is inside ``folder``."""
    if body == "read" and not echo:
        raise ValueError("body=read needs nginx's echo module")
    if body == "read":
        answer = "echo_read_request_body;\n            echo_exec @created;"
    else:
        answer = f"return 201 '{SUBMIT_BODY}';"
    not_post = f"if ($request_method != POST) {{ return 404 '{NOT_FOUND_BODY}'; }}"
    user = "user root;\n" if os.name == "posix" and os.geteuid() == 0 else ""
    load = f"load_module {echo};\n" if body == "read" else ""
    log_opts = f" buffer={log_buffer} flush=1s" if log_buffer else ""
    return f"""\
# written by benchmarks/nginx_sink.py
{load}{user}worker_processes {workers};
daemon off;
master_process on;
pid {folder}/nginx.pid;
error_log {folder}/error.log error;
events {{
    worker_connections 1024;
}}
http {{
    log_format posts
        '$request_method $status $request_length $connection_requests $request_time';
    access_log {folder}/access.log posts{log_opts};
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    client_max_body_size 0;
    client_body_buffer_size {body_buffer};
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    tcp_nodelay on;
    server_tokens off;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location = /api/v1/junit/submit {{
            {not_post}
            {answer}
        }}
        location = /api/v1/reports/package {{
            {not_post}
            {answer}
        }}
        location = /api/version {{
            if ($request_method != GET) {{ return 404 '{NOT_FOUND_BODY}'; }}
            return 200 '{VERSION_BODY}';
        }}
        location @created {{
            return 201 '{SUBMIT_BODY}';
        }}
        location / {{
            return 404 '{NOT_FOUND_BODY}';
        }}
    }}
}}
"""


class NginxSink:
    """One nginx master (and its workers) in a temporary folder; ``start``/``stop``."""

    def __init__(
        self,
        nginx: str,
        folder: Path,
        *,
        workers: str = "1",
        body: str = "",
        body_buffer: str = "1m",
        log_buffer: str = "",
    ) -> None:
        self.nginx = nginx
        self.folder = folder
        self.options = {
            "workers": workers,
            "body": body or ("read" if echo_module() else "discard"),
            "body_buffer": body_buffer,
            "log_buffer": log_buffer,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.access_log = folder / "access.log"
        self._offset = 0
        self._posts = self._bytes = self._other = 0
        self._partial = b""

    @property
    def counts_bytes(self) -> bool:
        """Whether ``counts()``'s byte figure includes the bodies (``read`` mode)."""
        return self.options["body"] == "read"

    def describe(self) -> str:
        o = self.options
        return (
            f"nginx {nginx_version(self.nginx)}, worker_processes {o['workers']}, "
            f"body {o['body']}, client_body_buffer_size {o['body_buffer']}"
        )

    def start(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        for attempt in range(5):
            port = free_port()
            conf = self.folder / "nginx.conf"
            conf.write_text(
                render_config(self.folder, port, echo=echo_module(), **self.options),
                encoding="utf-8",
            )
            err = open(self.folder / "stderr.log", "ab")  # noqa: SIM115 - handed to the child
            try:
                self.proc = subprocess.Popen(
                    [
                        self.nginx,
                        "-p",
                        str(self.folder),
                        "-e",
                        str(self.folder / "error.log"),
                        "-c",
                        str(conf),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    start_new_session=True,
                )
            finally:
                err.close()
            self.url = f"http://127.0.0.1:{port}"
            if self._wait_ready():
                return self.url
            self.stop()
            if attempt == 4:
                break
        log = (self.folder / "error.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"nginx did not start: {log}")

    def _wait_ready(self, seconds: float = 10.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{self.url}/api/version", timeout=2) as resp,
            ):
                if resp.status == 200:
                    return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: fast shutdown of the master and its workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.proc = None

    def counts(self) -> tuple[int, int, int]:
        """(POSTs answered ``201``, their request lengths in bytes, other POSTs) so far, read
        from the access log (only what was added since the last call)."""
        try:
            with self.access_log.open("rb") as log:
                log.seek(self._offset)
                data = log.read()
        except FileNotFoundError:
            return 0, 0, 0
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # an unfinished last line waits for the next call
        for line in lines:
            fields = line.split()
            if len(fields) < 3 or fields[0] != b"POST":
                continue
            if fields[1] == b"201":
                self._posts += 1
                self._bytes += int(fields[2])
            else:
                self._other += 1
        return self._posts, self._bytes, self._other

    def posts(self) -> int:
        return self.counts()[0]

    def wait_counts(self, expected: int, seconds: float = 3.0) -> tuple[int, int, int]:
        """``counts()`` once its POSTs reach ``expected`` or ``seconds`` passed (nginx writes
        a request's log line after its answer, so a client may finish a moment before)."""
        deadline = time.monotonic() + seconds
        while True:
            seen = self.counts()
            if seen[0] >= expected or time.monotonic() > deadline:
                return seen
            time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1")
    parser.add_argument("--body", choices=("discard", "read"), default="")
    parser.add_argument("--body-buffer", default="1m")
    parser.add_argument("--log-buffer", default="")
    parser.add_argument("--print-config", action="store_true")
    args = parser.parse_args(argv)
    if args.print_config:
        print(
            render_config(
                Path("/tmp/jux-bench-nginx"),
                8080,
                workers=args.workers,
                body=args.body or ("read" if echo_module() else "discard"),
                body_buffer=args.body_buffer,
                log_buffer=args.log_buffer,
                echo=echo_module() or ECHO_MODULE_PATHS[0],
            ),
            end="",
        )
        return 0
    nginx, note = install_nginx()
    if not nginx:
        print(note, file=sys.stderr)
        return 1
    folder = Path(tempfile.mkdtemp(prefix="jux-nginx-"))
    sink = NginxSink(
        nginx,
        folder,
        workers=args.workers,
        body=args.body,
        body_buffer=args.body_buffer,
        log_buffer=args.log_buffer,
    )
    try:
        print(f"URL {sink.start()}", flush=True)
        sys.stdin.read()
    finally:
        sink.stop()
        print(f"POSTs answered: {sink.posts()}", file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
