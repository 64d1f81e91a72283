"""Run the test server in the foreground: ``python -m tests.jux_server [--port N]``.

Prints ``listening on URL`` once ready; on exit (SIGINT/SIGTERM) writes the request log as JSON
to ``--log`` if given.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from tests.jux_server.server import JuxServer


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.jux_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="require this Bearer key")
    parser.add_argument("--log", type=Path, default=None, help="write the request log here")
    parser.add_argument(
        "--port-file",
        type=Path,
        default=None,
        help="write the chosen port to this file once listening",
    )
    args = parser.parse_args()
    server = JuxServer(api_key=args.api_key, host=args.host, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        if args.port_file:
            args.port_file.write_text(str(server.port))
        print(f"listening on {server.url}", flush=True)
        stop.wait()
        if args.log:
            dump_log(server, args.log)
    return 0


def dump_log(server: JuxServer, path: Path) -> None:
    entries = [
        {
            "method": r.method,
            "path": r.path,
            "status": r.status,
            "headers": {k: v for k, v in r.headers.items() if k != "authorization"},
            "has_authorization": "authorization" in r.headers,
            "body": r.body.decode("utf-8", "replace") if r.path.endswith("/submit") else None,
            "size": len(r.body),
            "violations": r.violations,
        }
        for r in server.requests
    ]
    runs = [
        {
            "test_run_id": run.test_run_id,
            "endpoint": run.endpoint,
            "properties": run.properties,
            "counts": run.counts,
            "attachments": sorted(run.attachments),
        }
        for run in server.runs
    ]
    path.write_text(json.dumps({"requests": entries, "runs": runs}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
