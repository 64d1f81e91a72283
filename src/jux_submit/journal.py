"""The journal: submissions a server accepted from this workspace, so a rerun sends nothing twice.

``journal.jsonl`` in the outbox folder has one JSON line per accepted submission. A line holds
the report's path, the test run id and the submission key: a keyed hash of the server, the
report's content, the effective metadata and the run's identity (``prepare.SubmissionKeys``), so
that only the very same submission counts as "already accepted". Each line carries a tag, an
HMAC keyed with the API key: a line planted by someone without the key (to have a report
skipped) is ignored, as is anything else that is not a valid line.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from pathlib import Path

log = logging.getLogger("jux_submit")

JOURNAL_NAME = "journal.jsonl"
JOURNAL_SCHEMA = 2
_KEY_RE = re.compile(r"[0-9a-f]{64}\Z")
_MAX_LINE = 64 * 1024
_MAX_SIZE = 64 * 1024 * 1024  # a journal this large was not written by us: read no more


class Journal:
    """Accepted submissions (append-only ``journal.jsonl``), indexed by report path.

    Loaded once per run; a lookup hashes the report only when its path is already in the
    journal, so the normal case (nothing recorded for that path) costs a dict lookup.
    """

    def __init__(self, folder: Path, secret: str | None = None) -> None:
        self.path = folder / JOURNAL_NAME
        self._secret = (secret or "").encode("utf-8")
        self._lock = threading.Lock()
        self._accepted: dict[str, dict[str, str]] = {}
        self._fd: int | None = None
        self._load()

    def _tag(self, path: str, key: str, run_id: str | None) -> str:
        import hashlib  # these three only once a journal exists or a report is accepted
        import hmac
        import json

        message = json.dumps([path, key, run_id]).encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _load(self) -> None:
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("the journal %s is not read: %s", self.path, exc.strerror or exc)
            return
        try:
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                    log.warning("the journal %s is not a plain file: not read", self.path)
                    return
                data = handle.read(_MAX_SIZE)
        except OSError as exc:
            log.warning("cannot read the journal %s: %s", self.path, exc.strerror or exc)
            return
        import hmac  # only once there is a journal to read
        import json

        for raw in data.splitlines():
            if len(raw) > _MAX_LINE:
                continue
            try:
                record = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError):  # e.g. a line cut short
                continue
            if not isinstance(record, dict) or record.get("v") != JOURNAL_SCHEMA:
                continue
            key, path, run_id = record.get("key"), record.get("path"), record.get("test_run_id")
            if not isinstance(key, str) or not _KEY_RE.match(key) or not isinstance(path, str):
                continue
            if not isinstance(run_id, str | None):
                continue
            tag = record.get("tag")
            if not isinstance(tag, str) or not hmac.compare_digest(
                tag, self._tag(path, key, run_id)
            ):
                continue
            shown_id = run_id if isinstance(run_id, str) and len(run_id) <= 200 else ""
            self._accepted.setdefault(path, {})[key] = shown_id

    def reload(self) -> None:
        """Read the file again (another process may have appended to it)."""
        with self._lock:
            self._accepted = {}
            self._load()

    def has_path(self, path: str) -> bool:
        return path in self._accepted

    def accepted_run(self, path: str, key: str) -> str | None:
        """The test run id (``""`` when unknown) if this submission was accepted before."""
        return self._accepted.get(path, {}).get(key)

    def record(self, path: str, key: str, test_run_id: str | None) -> None:
        """Append one accepted submission (one ``write`` of one line, under a lock); the file
        is created 0600. Raises ``OSError``."""
        import json

        line = json.dumps(
            {
                "v": JOURNAL_SCHEMA,
                "key": key,
                "path": path,
                "tag": self._tag(path, key, test_run_id),
                "test_run_id": test_run_id,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            sort_keys=True,
        )
        with self._lock:
            self._accepted.setdefault(path, {})[key] = test_run_id or ""
            if self._fd is None:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK
                fd = os.open(self.path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                    os.close(fd)
                    raise OSError(f"{self.path} is not a plain file")
                self._fd = fd
            os.write(self._fd, (line + "\n").encode("utf-8"))

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
