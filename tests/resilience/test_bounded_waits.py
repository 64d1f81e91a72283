"""Every wait bounded: real servers on 127.0.0.1 that answer one byte every 0.5 s forever, or
1 GiB, or echo the key into a broken answer. The CLI runs in a subprocess; a run must end
well within what such a server would take, keep the report in the outbox, stay small in
memory, end at once on SIGTERM, and never show any part of the key."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import write_junit
from tests.resilience.conftest import (
    TOKEN,
    assert_no_token,
    ci_environ,
    outbox_sidecars,
    peak_rss_mb,
    submit,
)

TRICKLE_EVERY = 0.5
GIB = 1024**3

#: ``answer(conn, method, headers, stop)``: writes the answer to ``conn`` (headers lower-cased)
Answer = Callable[[socket.socket, str, dict[str, str], threading.Event], None]


class RawServer:
    """A loopback server of raw sockets, one thread per connection: reads each request (head
    and body), logs its request line, then leaves the socket to ``answer``. A client that
    hangs up ends its thread."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._conns: list[socket.socket] = []

    def __enter__(self) -> RawServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._listener.close()
        with self.lock:
            for conn in self._conns:
                conn.close()

    def wait_for(self, prefix: str, limit: float = 30) -> None:
        end = time.monotonic() + limit
        while not any(line.startswith(prefix) for line in self.seen()):
            assert time.monotonic() < end, f"no {prefix} request arrived"
            time.sleep(0.01)

    def seen(self) -> list[str]:
        with self.lock:
            return list(self.requests)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self.lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            head, _, body = data.partition(b"\r\n\r\n")
            line, *fields = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)
            }
            while len(body) < int(headers.get("content-length", "0")):
                more = conn.recv(65536)
                if not more:
                    return
                body += more
            with self.lock:
                self.requests.append(line)
            self.answer(conn, line.split(" ", 1)[0], headers, self.stop)
        except OSError:
            return  # the client hung up: what these servers are here to see


def trickle(where: str) -> Answer:
    """One byte every 0.5 s, forever: in the status line and headers, or in the body of a
    complete head (200 to GET /api/version, 201 to the POST)."""

    def answer(
        conn: socket.socket, method: str, headers: dict[str, str], stop: threading.Event
    ) -> None:
        if where == "headers":
            start = b"HTTP/1.1 200 OK\r\nX-Trickle: "
        else:
            status = b"200 OK" if method == "GET" else b"201 Created"
            conn.sendall(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000000000\r\n\r\n"
            )
            start = b'{"version": "1.0", "test_run_id": "'
        for byte in start:
            conn.sendall(bytes([byte]))
            if stop.wait(TRICKLE_EVERY):
                return
        while not stop.wait(TRICKLE_EVERY):
            conn.sendall(b"a")

    return answer


def one_gib(
    conn: socket.socket, method: str, headers: dict[str, str], stop: threading.Event
) -> None:
    """1 GiB of answer, generated as it is sent (200 to GET, 201 to POST)."""
    status = b"200 OK" if method == "GET" else b"201 Created"
    conn.sendall(
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % GIB
    )
    chunk = b"x" * (256 * 1024)
    sent = 0
    conn.sendall(b'{"test_run_id": "')
    while sent < GIB - 17 and not stop.is_set():
        conn.sendall(chunk[: GIB - 17 - sent])
        sent += len(chunk)


@pytest.fixture
def report(workdir: Path) -> str:
    write_junit(workdir / "TEST-a.xml", suite="A", cases=3, failures=1)
    return "TEST-a.xml"


def start_run(url: str, workdir: Path, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "jux_submit", "--api-url", url]
    argv += ["--working-directory", str(workdir), "--json", str(workdir.parent / "r.json"), *args]
    return subprocess.Popen(
        argv, env=ci_environ(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen[str], limit: float) -> tuple[str, str]:
    """Wait up to ``limit`` seconds for the run; one that is still going fails the test."""
    try:
        return proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the run was still going after {limit:g} s:\n{out}\n{err}")


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_server_cannot_hold_the_run_past_its_deadline(
    workdir: Path, report: str, where: str
) -> None:
    with RawServer(trickle(where)) as server:
        started = time.monotonic()
        proc = start_run(server.url, workdir, "--timeout", "2", "--deadline", "5")
        out, err = finish(proc, limit=60)
        elapsed = time.monotonic() - started
        seen = server.seen()
    # the version check (2 s) and the POST's attempts (2 s each, within the 5 s deadline);
    # the trickle itself would take days
    assert elapsed < 15, f"{elapsed:.1f} s"
    assert proc.returncode == 0, err
    assert seen[0] == "GET /api/version HTTP/1.1", seen
    assert "POST /api/v1/junit/submit HTTP/1.1" in seen
    result = json.loads((workdir.parent / "r.json").read_text())
    (entry,) = result["files"]
    assert entry["status"] == "failed"
    assert entry["error"]["kind"] in ("timeout", "deadline"), entry
    assert (
        "2 s limit per attempt" in entry["error"]["message"]
        or "deadline" in (entry["error"]["message"])
    ), entry
    (sidecar,) = outbox_sidecars(workdir)
    assert sidecar["state"] == "pending" and sidecar["source_path"] == report
    assert TOKEN not in without_masks(out) + err


def test_sigterm_during_a_trickling_version_check_ends_the_run_at_once(
    workdir: Path, report: str
) -> None:
    with RawServer(trickle("headers")) as server:
        proc = start_run(server.url, workdir, "--timeout", "30", "--deadline", "60")
        server.wait_for("GET /api/version")  # the signal handlers are installed by now
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        out, err = finish(proc, limit=30)
        after = time.monotonic() - signalled
        seen = server.seen()
    assert proc.returncode == 130, err
    assert "total: 1 file(s)" in out and "interrupted" in out
    # left alone, the check would hold the run for its own limit (5 s) after the signal
    assert after < 4, f"{after:.1f} s after SIGTERM"
    assert not any(line.startswith("POST") for line in seen)
    (sidecar,) = outbox_sidecars(workdir)
    assert sidecar["source_path"] == report


def test_a_1gib_answer_is_read_only_up_to_its_limit(workdir: Path, report: str) -> None:
    with RawServer(one_gib) as server:
        argv = [sys.executable, "-m", "jux_submit", "--api-url", server.url]
        argv += ["--working-directory", str(workdir), "--json", str(workdir.parent / "r.json")]
        started = time.monotonic()
        code, output, peak = peak_rss_mb(argv, ci_environ(workdir), timeout=300)
        elapsed = time.monotonic() - started
    assert code == 0, output
    assert peak < 150, f"peak RSS {peak} MB for a 1 GiB answer"
    assert elapsed < 60, f"{elapsed:.1f} s"
    result = json.loads((workdir.parent / "r.json").read_text())
    (entry,) = result["files"]
    # a 201 whose answer is not the contract's JSON is never counted as accepted
    assert entry["status"] == "failed", entry
    assert entry["error"]["kind"] in ("not-jux-api", "unexpected-response"), entry
    (sidecar,) = outbox_sidecars(workdir)
    assert sidecar["state"] == "pending" and sidecar["source_path"] == report
    assert "larger than 1024 KiB" in output


def echo_key_in_a_broken_chunk(pad: int) -> Answer:
    """A 201 whose chunked body starts with a size line carrying the request's own
    ``Authorization`` header (as a broken proxy or debugging endpoint echoes a request),
    after ``pad`` characters: the key lands where a 300-character cut would halve it."""

    def answer(
        conn: socket.socket, method: str, headers: dict[str, str], stop: threading.Event
    ) -> None:
        if method == "GET":
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return
        echoed = ("z" * pad + headers.get("authorization", "")).encode()
        conn.sendall(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + echoed + b"\r\n"
        )

    return answer


def fragments(secret: str, size: int = 8) -> Iterator[str]:
    # the key's own part: its tail, 0123456789abcdef, is also the start of GITHUB_SHA
    own = secret[:17]
    return (own[i : i + size] for i in range(len(own) - size + 1))


def without_masks(stdout: str) -> str:
    """stdout but GitHub's own ``::add-mask::`` line (the one place the key belongs)."""
    return "\n".join(x for x in stdout.splitlines() if not x.startswith("::add-mask::"))


def test_an_echoed_key_is_redacted_before_the_message_is_shortened(
    workdir: Path, report: str
) -> None:
    # urllib3 says "('Connection broken: InvalidChunkLength(got length b'" (53 characters)
    # before the line it could not read: with 224 characters of padding and "Bearer ", the
    # key starts at character 284 and a cut at 300 would keep its first 16 characters
    with RawServer(echo_key_in_a_broken_chunk(224)) as server:
        run = submit(server.url, workdir, "--retries", "0", subprocess_run=True, timeout=60)
    entry = run.files[report]
    assert entry["status"] == "failed", entry
    assert "InvalidChunkLength" in entry["error"]["message"], entry  # the echo is what it saw
    assert_no_token(run)
    places = [
        without_masks(run.stdout),
        run.stderr,
        json.dumps(run.report),
        run.step_summary,
        run.outputs,
    ]
    places += [json.dumps(s) for s in outbox_sidecars(workdir)]
    for text in places:
        leaked = [f for f in fragments(TOKEN) if f in text]
        assert not leaked, f"part of the key reached the output: {leaked[:3]}"
