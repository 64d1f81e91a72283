"""A minimal, fast HTTP sink for throughput benchmarks, on 127.0.0.1 only.

It answers every ``POST`` with ``201`` and a valid ``SubmitResponse`` without parsing the body,
``GET /api/version`` with ``{"version": "1.0.0"}``, ``GET /_count`` with the numbers of POSTs
answered and of body bytes received; keeps connections alive; answers ``Expect: 100-continue``
at once (curl sends it for large bodies and would otherwise wait 1 s); and writes each response
with a single ``sendall`` on a socket with ``TCP_NODELAY``, so Nagle's algorithm plus delayed
ACKs never add 40 ms to a keep-alive request. It still costs 130-235 µs of CPU per request, as
much as a fast client: the benchmarks use nginx (``nginx_sink.py``) when they can, and this sink
for the smoke test and as the fallback.

Run it as ``python benchmarks/sink.py [--port 0]``: it prints ``PORT <n>`` on stdout once it
listens, then serves until stdin closes, it is terminated, or ``--max-seconds`` pass.
"""

from __future__ import annotations

import argparse
import socket
import socketserver
import sys
import threading

SUBMIT_BODY = (
    b'{"test_run_id":"550e8400-e29b-41d4-a716-446655440000",'
    b'"message":"Test results submitted successfully","test_count":0,'
    b'"failure_count":0,"error_count":0,"skipped_count":0,"success_rate":100.0}'
)
VERSION_BODY = b'{"version":"1.0.0"}'
_BUFFER = 256 * 1024


def _response(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: keep-alive\r\n\r\n"
        + body
    )


CREATED = _response(b"201 Created", SUBMIT_BODY)
VERSION = _response(b"200 OK", VERSION_BODY)
NOT_FOUND = _response(b"404 Not Found", b'{"error":"not found"}')
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_COUNT = [0, 0]  # POSTs answered and body bytes read, for the harness's check (GET /_count)
_COUNT_LOCK = threading.Lock()


class _Handler(socketserver.BaseRequestHandler):
    """One keep-alive connection: read a request head, drain the body, answer, repeat."""

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray(_BUFFER)
        view = memoryview(buffer)
        pending = b""
        while True:
            while b"\r\n\r\n" not in pending:
                n = conn.recv_into(buffer)
                if n == 0:
                    return
                pending += bytes(view[:n])
            head, _, pending = pending.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, _, rest = lines[0].partition(b" ")
            path = rest.partition(b" ")[0]
            length = 0
            is_chunked = expects_continue = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    is_chunked = True
                elif name == b"expect" and b"100-continue" in value.lower():
                    expects_continue = True
            if expects_continue:
                conn.sendall(CONTINUE)
            if is_chunked:
                drained = self._drain_chunked(conn, pending, buffer)
                if drained is None:
                    return
                pending, length = drained
            else:
                pending = self._drain(conn, pending, length, buffer)
                if pending is None:
                    return
            if method == b"POST":
                with _COUNT_LOCK:
                    _COUNT[0] += 1
                    _COUNT[1] += length
                conn.sendall(CREATED)
            elif path.startswith(b"/_count"):
                with _COUNT_LOCK:
                    body = b'{"posts":%d,"bytes":%d}' % (_COUNT[0], _COUNT[1])
                conn.sendall(_response(b"200 OK", body))
            elif path.startswith(b"/api/version"):
                conn.sendall(VERSION)
            else:
                conn.sendall(NOT_FOUND)

    @staticmethod
    def _drain(conn: socket.socket, pending: bytes, length: int, buffer: bytearray) -> bytes | None:
        """Discard ``length`` body bytes; returns what was read past them (None: closed)."""
        if len(pending) >= length:
            return pending[length:]
        left = length - len(pending)
        while left > 0:
            n = conn.recv_into(buffer, min(left, len(buffer)))
            if n == 0:
                return None
            left -= n
        return b""

    @staticmethod
    def _drain_chunked(
        conn: socket.socket, pending: bytes, buffer: bytearray
    ) -> tuple[bytes, int] | None:
        """Discard a chunked body (rare: only clients that send streams of unknown size);
        returns what was read past it and the body's size (None: closed)."""
        view = memoryview(buffer)
        total = 0

        def fill() -> bool:
            nonlocal pending
            n = conn.recv_into(buffer)
            if n == 0:
                return False
            pending += bytes(view[:n])
            return True

        while True:
            while b"\r\n" not in pending:
                if not fill():
                    return None
            size_line, _, pending = pending.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            total += size
            if size == 0:
                while b"\r\n" not in pending:  # trailers end with an empty line
                    if not fill():
                        return None
                _, _, pending = pending.partition(b"\r\n")
                return pending, total
            while len(pending) < size + 2:
                if not fill():
                    return None
            pending = pending[size + 2 :]


class SinkServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def start_sink(port: int = 0) -> tuple[SinkServer, threading.Thread]:
    """Start a sink in a background thread on 127.0.0.1; returns (server, thread)."""
    server = SinkServer(("127.0.0.1", port), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="sink", daemon=True)
    thread.start()
    return server, thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args(argv)
    server, _thread = start_sink(args.port)
    print(f"PORT {server.server_address[1]}", flush=True)
    # Stop when the parent closes our stdin (or dies), or after the time limit.
    watcher = threading.Thread(target=sys.stdin.read, daemon=True)
    watcher.start()
    watcher.join(args.max_seconds)
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
