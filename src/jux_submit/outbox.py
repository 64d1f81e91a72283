"""The outbox (submissions not accepted yet) and the journal (source files already accepted).

Issue 6, "Nothing lost, nothing leaked". A pending submission is the exact payload (``.xml`` or
``.jxz``) plus a sidecar ``.json`` of the same stem, written atomically (temp file + rename).
Before each request the payload is written ahead, so that a killed process leaves it behind:
into a per-thread "in-flight slot" (one pre-created file overwritten in place, because creating
files costs up to 1 ms on some disks) that the next run turns into an outbox entry.
``journal.jsonl`` records each accepted source file (path + content hash) so that running the
same command again sends nothing twice. ``jux-submit resubmit [DIR]`` sends pending entries
again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from jux_submit import __version__
from jux_submit.errors import JuxError, PackageError, ReportRejectedError
from jux_submit.models import FileError, FileResult, Payload, PayloadMode, Status
from jux_submit.payload import PACKAGE_CONTENT_TYPE, PACKAGE_ENDPOINT, open_body

if TYPE_CHECKING:
    from jux_submit.redact import Redactor
    from jux_submit.settings import Settings

log = logging.getLogger("jux_submit")

JOURNAL_NAME = "journal.jsonl"
SLOT_GLOB = ".inflight-*.slot"
SLOT_MAGIC = b"JUXSLOT1 "
REJECTED_DIR = "rejected"
LOCK_NAME = ".resubmit.lock"
SIDECAR_SCHEMA = 1
LEFTOVER_AGE = 600.0  # seconds before a payload without sidecar counts as a killed write
_CHUNK = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

POSSIBLE_DUPLICATE_WARNING = (
    "an earlier run was stopped while this exact report was being sent; if the server stored "
    "it then and does not honour Idempotency-Key, it is now stored twice"
)


class EntryState(StrEnum):
    """Where a pending submission stands."""

    SENDING = "sending"  # written ahead of the request; the process may have died meanwhile
    PENDING = "pending"  # the last attempt failed for a reason a later attempt could fix
    REJECTED = "rejected"  # refused for its content (kept under rejected/ for inspection)


def is_content_rejection(error: JuxError) -> bool:
    """True when the server refused the report itself (400, 413 without Retry-After, 422):
    sending the same bytes again cannot help. Everything else is kept in the outbox."""
    return isinstance(error, ReportRejectedError | PackageError)


def hash_file(path: Path) -> str:
    """SHA-256 of a file's content (streamed; bounded memory)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass(frozen=True)
class SourceKey:
    """One source file as the journal knows it: path relative to the workspace + content hash."""

    path: str
    sha256: str

    @property
    def stem(self) -> str:
        """The outbox file stem: readable name plus a hash of the key (stable across runs)."""
        name = self.path.replace("\\", "/").rsplit("/", 1)[-1]
        if name.lower().endswith(".xml"):
            name = name[:-4]
        name = _UNSAFE.sub("_", name).strip("._")[:60] or "report"
        digest = hashlib.sha256(f"{self.path}\0{self.sha256}".encode()).hexdigest()[:16]
        return f"{name}-{digest}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_atomic(dest: Path, chunks: Iterator[bytes]) -> None:
    """Write to a temp file in the same folder, then rename over ``dest``."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        tmp.replace(dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _payload_chunks(payload: Payload) -> Iterator[bytes]:
    body = open_body(payload)
    if isinstance(body, bytes):
        yield body
        return
    with body:
        while chunk := body.read(_CHUNK):
            yield chunk


def _parse_slot(record: bytes) -> tuple[dict[str, Any], bytes] | None:
    """(header, body) of a complete slot record; None for an empty or cut-short one."""
    head = len(SLOT_MAGIC) + 11
    if len(record) < head or not record.startswith(SLOT_MAGIC):
        return None
    try:
        total = int(record[len(SLOT_MAGIC) : head - 1])
    except ValueError:
        return None
    if total != len(record):
        return None
    header, _, body = record[head:].partition(b"\n")
    try:
        meta = json.loads(header)
    except ValueError:
        return None
    if not isinstance(meta, dict) or hashlib.sha256(body).hexdigest() != meta.get("payload_sha256"):
        return None
    return meta, body


@dataclass(frozen=True)
class OutboxEntry:
    """A pending submission on disk: the payload file and its sidecar's content."""

    payload_path: Path
    sidecar_path: Path
    meta: dict[str, Any] = field(hash=False)

    @property
    def state(self) -> EntryState:
        try:
            return EntryState(self.meta.get("state", EntryState.PENDING))
        except ValueError:
            return EntryState.PENDING

    @property
    def source(self) -> SourceKey:
        return SourceKey(
            str(self.meta.get("source_path", "")), str(self.meta.get("source_sha256", ""))
        )

    def to_payload(self) -> Payload:
        """The payload to send again: the stored bytes, streamed from the file."""
        endpoint = str(self.meta.get("endpoint") or "")
        is_package = endpoint == PACKAGE_ENDPOINT
        return Payload(
            mode=PayloadMode.PACKAGE if is_package else PayloadMode.RAW,
            mode_reason="from the outbox",
            content_type=str(self.meta.get("content_type") or ""),
            endpoint=endpoint,
            size=self.payload_path.stat().st_size,
            body_path=self.payload_path,
            sha256=str(self.meta.get("payload_sha256") or ""),
        )


def server_label(root: str | None) -> str:
    """The server a journal record belongs to: its root URL without any user:password@."""
    if not root:
        return ""
    scheme, sep, rest = root.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rsplit('@', 1)[-1]}{slash}{path}"


class Journal:
    """Source files accepted by one server from this workspace (append-only
    ``journal.jsonl``; each line names its server, so another server starts from scratch).

    Loaded once per run; a lookup hashes the file only when its path is already in the
    journal, so the normal case (nothing recorded yet for that path) costs a dict lookup.
    """

    def __init__(self, folder: Path, server: str | None) -> None:
        self.path = folder / JOURNAL_NAME
        self.server = server_label(server)
        self._lock = threading.Lock()
        self._accepted: dict[str, dict[str, str]] = {}
        self._fd: int | None = None
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:  # a line cut short by a killed process
                continue
            if not isinstance(record, dict) or record.get("server", "") != self.server:
                continue
            if record.get("path") and record.get("sha256"):
                by_hash = self._accepted.setdefault(str(record["path"]), {})
                by_hash[str(record["sha256"])] = str(record.get("test_run_id") or "")

    def has_path(self, path: str) -> bool:
        return path in self._accepted

    def accepted_run(self, key: SourceKey) -> str | None:
        """The test run id (``""`` when unknown) if ``key`` was accepted before, else None."""
        return self._accepted.get(key.path, {}).get(key.sha256)

    def record(self, key: SourceKey, test_run_id: str | None) -> None:
        """Append one accepted source file (one ``write`` of one line, under a lock)."""
        line = json.dumps(
            {
                "path": key.path,
                "server": self.server,
                "sha256": key.sha256,
                "test_run_id": test_run_id,
                "time": _now(),
            },
            sort_keys=True,
        )
        with self._lock:
            self._accepted.setdefault(key.path, {})[key.sha256] = test_run_id or ""
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self._fd, (line + "\n").encode("utf-8"))

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class Outbox:
    """The outbox folder: write ahead, update after a failure, remove after a 201."""

    def __init__(self, folder: Path, redact: Callable[[str], str] = str) -> None:
        self.folder = folder
        self._redact = redact
        self._made = False
        #: report path -> payload file, for entries written during this run
        self.written: dict[str, str] = {}
        #: report path -> what its thread's in-flight slot holds
        self.held: dict[str, tuple[Payload, SourceKey]] = {}
        self._local = threading.local()
        self._slots: list[tuple[int, Path]] = []
        self._slots_lock = threading.Lock()
        self._earlier: set[str] | None = None  # sidecars present when first asked

    # --- in-flight slots: the write-ahead of the normal case -------------------------------
    def _slot_fd(self) -> int:
        fd: int | None = getattr(self._local, "fd", None)
        if fd is None:
            import fcntl

            self._ensure(self.folder)
            path = self.folder / f".inflight-{os.getpid()}-{threading.get_ident()}.slot"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the process ends, however it ends
            self._local.fd = fd
            with self._slots_lock:
                self._slots.append((fd, path))
        return fd

    def hold(self, payload: Payload, key: SourceKey) -> None:
        """Write an in-memory payload ahead of its request into this thread's slot (no file
        is created after the first). Raises ``OSError``."""
        if payload.body is None:
            raise ValueError("only in-memory payloads go to a slot")
        header = json.dumps(
            {
                "source_path": key.path,
                "source_sha256": key.sha256,
                "endpoint": payload.endpoint,
                "content_type": payload.content_type,
                "payload_sha256": payload.sha256,
                "size": len(payload.body),
            }
        ).encode("utf-8")
        data = header + b"\n" + payload.body
        record = SLOT_MAGIC + b"%010d\n" % (len(SLOT_MAGIC) + 11 + len(data)) + data
        fd = self._slot_fd()
        os.pwrite(fd, record, 0)
        os.ftruncate(fd, len(record))
        self.held[key.path] = (payload, key)

    def release(self, key: SourceKey) -> None:
        """Empty this thread's slot (its request is answered, or its entry is written)."""
        self.held.pop(key.path, None)
        fd: int | None = getattr(self._local, "fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)

    def close(self) -> None:
        """Remove this process's slots (at the end of a run, when nothing is in flight)."""
        with self._slots_lock:
            slots, self._slots = self._slots, []
        for fd, path in slots:
            with contextlib.suppress(OSError):
                path.unlink()
            with contextlib.suppress(OSError):
                os.close(fd)

    def recover(self, journal: Journal) -> int:
        """Turn the slots of processes that died (SIGKILL, crash) into outbox entries marked
        ``sending``, unless the journal shows the report was accepted; returns how many."""
        import fcntl

        recovered = 0
        for path in sorted(self.folder.glob(SLOT_GLOB)):
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live run owns it
                record = path.read_bytes()
                parsed = _parse_slot(record)
                if parsed is not None:
                    meta, body = parsed
                    key = SourceKey(str(meta["source_path"]), str(meta["source_sha256"]))
                    if journal.accepted_run(key) is None and self.entry_for(key) is None:
                        payload = Payload(
                            mode=PayloadMode.RAW,
                            mode_reason="in flight when a run stopped",
                            content_type=str(meta["content_type"]),
                            endpoint=str(meta["endpoint"]),
                            size=len(body),
                            body=body,
                            sha256=str(meta["payload_sha256"]),
                        )
                        entry = self.write(payload, key, state=EntryState.SENDING)
                        if self._earlier is not None:
                            self._earlier.add(entry.sidecar_path.name)
                        recovered += 1
                path.unlink()
            except (OSError, KeyError) as exc:
                log.warning("cannot recover %s: %s", path.name, exc)
            finally:
                os.close(fd)
        return recovered

    def _ensure(self, folder: Path) -> None:
        if not self._made or folder != self.folder:
            folder.mkdir(parents=True, exist_ok=True)
            self._made = folder == self.folder or self._made

    def entry_for(self, key: SourceKey) -> OutboxEntry | None:
        """The pending entry left for ``key`` by an earlier run, if any (the folder is listed
        once, so the usual case, an empty outbox, costs a set lookup per report)."""
        if self._earlier is None:
            try:
                self._earlier = {p.name for p in self.folder.glob("*.json")}
            except OSError:
                self._earlier = set()
        name = f"{key.stem}.json"
        if name not in self._earlier:
            return None
        return self.read_entry(self.folder / name)

    def read_entry(self, sidecar: Path) -> OutboxEntry | None:
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict):
            return None
        payload_path = sidecar.with_name(str(meta.get("payload_file") or ""))
        if not meta.get("payload_file") or not payload_path.is_file():
            return None
        return OutboxEntry(payload_path, sidecar, meta)

    def write(self, payload: Payload, key: SourceKey, *, state: EntryState) -> OutboxEntry:
        """Store ``payload``'s exact bytes and a sidecar; payload first, so a sidecar always
        names a complete payload. Raises ``OSError``."""
        self._ensure(self.folder)
        suffix = ".jxz" if payload.content_type == PACKAGE_CONTENT_TYPE else ".xml"
        payload_path = self.folder / f"{key.stem}{suffix}"
        _write_atomic(payload_path, _payload_chunks(payload))
        meta: dict[str, Any] = {
            "schema_version": SIDECAR_SCHEMA,
            "state": str(state),
            "payload_file": payload_path.name,
            "endpoint": payload.endpoint,
            "content_type": payload.content_type,
            "size": payload.size,
            "payload_sha256": payload.sha256,
            "source_path": key.path,
            "source_sha256": key.sha256,
            "created": _now(),
            "updated": _now(),
            "attempts": 0,
            "error": None,
            "tool": f"jux-submit {__version__}",
        }
        entry = OutboxEntry(payload_path, self.folder / f"{key.stem}.json", meta)
        self._write_sidecar(entry)
        self.written[key.path] = str(payload_path)
        return entry

    def _write_sidecar(self, entry: OutboxEntry) -> None:
        text = self._redact(json.dumps(entry.meta, indent=2, sort_keys=True)) + "\n"
        _write_atomic(entry.sidecar_path, iter((text.encode("utf-8"),)))

    def update(
        self,
        entry: OutboxEntry,
        *,
        state: EntryState,
        error: JuxError | None,
        http_status: int | None,
        attempts: int,
    ) -> OutboxEntry:
        """Rewrite the sidecar after an attempt (the payload is untouched)."""
        meta = dict(entry.meta)
        meta.update(
            state=str(state),
            updated=_now(),
            attempts=int(meta.get("attempts") or 0) + attempts,
            http_status=http_status,
            error=None
            if error is None
            else {"kind": error.kind, "message": self._redact(error.message)},
        )
        updated = replace(entry, meta=meta)
        self._write_sidecar(updated)
        return updated

    def remove(self, entry: OutboxEntry) -> None:
        """Drop an entry after a 201: payload first, so that a kill in between leaves a sidecar
        without payload, which ``pending`` ignores and clears (writers go the other way)."""
        for path in (entry.payload_path, entry.sidecar_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self.written.pop(str(entry.meta.get("source_path")), None)

    def reject(
        self, entry: OutboxEntry, error: JuxError, http_status: int | None, attempts: int
    ) -> OutboxEntry:
        """Move an entry the server refused for its content to ``rejected/`` (not pending)."""
        target = self.folder / REJECTED_DIR
        self._ensure(target)
        moved = replace(
            entry,
            payload_path=target / entry.payload_path.name,
            sidecar_path=target / entry.sidecar_path.name,
        )
        moved = self.update(
            moved,
            state=EntryState.REJECTED,
            error=error,
            http_status=http_status,
            attempts=attempts,
        )
        entry.payload_path.replace(moved.payload_path)
        with contextlib.suppress(FileNotFoundError):
            entry.sidecar_path.unlink()
        self.written.pop(str(entry.meta.get("source_path")), None)
        return moved

    def pending(self) -> list[OutboxEntry]:
        """Every pending entry, sorted by source path; removes old leftovers of killed writes
        (temp files, payloads whose sidecar was never written or already removed)."""
        try:
            names = sorted(p.name for p in self.folder.iterdir())
        except OSError:
            return []
        present = set(names)
        entries: list[OutboxEntry] = []
        named: set[str] = set()
        for name in names:
            if name.endswith(".json") and name != JOURNAL_NAME:
                entry = self.read_entry(self.folder / name)
                if entry is not None:
                    entries.append(entry)
                    named.add(entry.payload_path.name)
                elif not any(f"{name[:-5]}{ext}" in present for ext in (".xml", ".jxz")):
                    with contextlib.suppress(OSError):  # its payload is gone: a cut removal
                        (self.folder / name).unlink()
        now = time.time()
        for name in names:
            path = self.folder / name
            is_orphan = name.endswith((".xml", ".jxz")) and name not in named
            is_temp = name.startswith(".") and name.endswith(".tmp")
            if is_orphan or is_temp:
                # only old ones: a run in this workspace may be between payload and sidecar
                with contextlib.suppress(OSError):
                    if now - path.stat().st_mtime > LEFTOVER_AGE:
                        path.unlink()
        return sorted(entries, key=lambda e: (e.source.path, e.sidecar_path.name))


# --- jux-submit resubmit ----------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """One ``resubmit`` per outbox at a time (a second one would send the same entries)."""
    import fcntl

    from jux_submit.errors import ConfigError

    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"another 'jux-submit resubmit' is already sending {folder}",
                hint="wait for it to finish, then run resubmit again if entries remain",
            ) from None
        yield
    finally:
        os.close(fd)


def resubmit_entry(
    entry: OutboxEntry,
    *,
    outbox: Outbox,
    journal: Journal,
    send: Callable[[Payload], Any],
    is_stopping: Callable[[], JuxError | None],
) -> FileResult:
    """Send one pending entry again; remove it only after a 201. Returns the file's result."""
    source = entry.source
    shown = source.path or entry.payload_path.name
    base = FileResult(
        path=shown,
        status=Status.FAILED,
        size=entry.payload_path.stat().st_size,
        endpoint=str(entry.meta.get("endpoint") or ""),
        outbox_path=str(entry.payload_path),
    )
    earlier = journal.accepted_run(source) if source.sha256 else None
    if earlier is not None:
        outbox.remove(entry)
        return base.with_status(
            Status.SKIPPED,
            test_run_id=earlier or None,
            outbox_path=None,
            warnings=("already accepted by an earlier run; removed from the outbox",),
        )
    stopping = is_stopping()
    if stopping is not None:
        outbox.update(entry, state=EntryState.PENDING, error=stopping, http_status=None, attempts=0)
        return base.with_status(Status.FAILED, error=FileError(stopping.kind, stopping.message))
    started = time.monotonic()
    outcome = send(entry.to_payload())
    elapsed = time.monotonic() - started
    if outcome.error is None:
        journal.record(source, outcome.test_run_id)
        outbox.remove(entry)
        warnings = tuple(outcome.warnings)
        if entry.state is EntryState.SENDING:
            warnings += (POSSIBLE_DUPLICATE_WARNING,)
        return base.with_status(
            Status.SUBMITTED,
            test_run_id=outcome.test_run_id,
            http_status=outcome.http_status,
            attempts=outcome.attempts,
            warnings=warnings,
            outbox_path=None,
            duration=elapsed,
        )
    err: JuxError = outcome.error
    suggestions = tuple(s for s in (err.hint, *err.suggestions) if s)
    if is_content_rejection(err):
        moved = outbox.reject(entry, err, outcome.http_status, outcome.attempts)
        return base.with_status(
            Status.REJECTED,
            http_status=outcome.http_status,
            attempts=outcome.attempts,
            error=FileError(err.kind, err.message, suggestions),
            outbox_path=str(moved.payload_path),
            duration=elapsed,
        )
    outbox.update(
        entry,
        state=EntryState.PENDING,
        error=err,
        http_status=outcome.http_status,
        attempts=outcome.attempts,
    )
    return base.with_status(
        Status.FAILED,
        http_status=outcome.http_status,
        attempts=outcome.attempts,
        error=FileError(err.kind, err.message, suggestions),
        duration=elapsed,
    )


def run_resubmit_command(settings: Settings, out: TextIO, redact: Redactor) -> int:
    """Send every pending outbox entry again (same retry rules, same bytes, same
    ``Idempotency-Key``), removing each one only after a 201. Safe to run twice (entries
    already accepted are dropped unsent) and to interrupt (SIGTERM/SIGINT: exit 130, what
    was not accepted stays). Returns the exit code; raises ``ConfigError`` when another
    resubmit holds the outbox."""
    from jux_submit.cli import exit_code_for
    from jux_submit.interrupt import catch_signals, run_all
    from jux_submit.models import CIContext, RunSummary
    from jux_submit.report.console import render_text
    from jux_submit.submit import submit_payload
    from jux_submit.transport import build_session

    folder = settings.resubmit_dir or settings.outbox_dir
    root = settings.server_root
    if root is None or not folder.is_dir():
        out.write(f"nothing to resubmit: {folder} does not exist\n")
        return 0
    started = time.monotonic()
    deadline = started + settings.deadline
    with catch_signals() as stop, _exclusive(folder):
        outbox = Outbox(folder, redact)
        journal = Journal(folder, root)
        outbox.recover(journal)
        entries = outbox.pending()
        if not entries:
            out.write(f"nothing to resubmit: no pending entries in {folder}\n")
            return 0
        log.info("resubmitting %d pending report(s) from %s", len(entries), folder)
        session = build_session(settings, deadline=deadline, stop=stop.event)

        def is_stopping() -> JuxError | None:
            return stopping_error(stop, deadline, settings)

        def work(entry: OutboxEntry) -> FileResult:
            return resubmit_entry(
                entry,
                outbox=outbox,
                journal=journal,
                send=lambda p: submit_payload(session, root, p, settings),
                is_stopping=is_stopping,
            )

        def abandoned(entry: OutboxEntry, was_started: bool) -> FileResult:
            return FileResult(
                path=entry.source.path or entry.payload_path.name,
                status=Status.FAILED,
                outbox_path=str(entry.payload_path),
                error=FileError(
                    "interrupted",
                    "the run was interrupted"
                    + (" while this report was being sent" if was_started else "")
                    + "; it stays in the outbox",
                ),
            )

        try:
            results = run_all(
                entries,
                work,
                parallel=settings.parallel,
                stop=stop,
                grace=interrupt_grace(settings),
                on_abandon=abandoned,
            )
        finally:
            session.close()
            journal.close()
    summary = RunSummary(
        files=tuple(results),
        context=CIContext(),
        server_root=root,
        dry_run=False,
        duration=time.monotonic() - started,
        interrupted=stop.is_set(),
    )
    out.write(redact(render_text(summary, verbose=settings.verbose, quiet=settings.quiet)))
    left = len(outbox.pending())
    out.write(f"outbox: {left} report(s) still pending in {folder}\n")
    return exit_code_for(summary, settings)


def interrupt_grace(settings: Settings) -> float:
    """How long in-flight requests may finish after SIGTERM/SIGINT (CI runners send SIGKILL
    some seconds later: GitHub after 7.5 s + 2.5 s)."""
    return min(settings.timeout, 5.0)


def stopping_error(stop: Any, deadline: float | None, settings: Settings) -> JuxError | None:
    """Why no new request may start now (interrupted, or the run's deadline passed), or None."""
    from jux_submit.errors import DeadlineExceededError, InterruptedSubmitError

    if stop is not None and stop.is_set():
        return InterruptedSubmitError(
            f"not sent: the run was interrupted ({stop.reason}); kept in the outbox",
            hint="run 'jux-submit resubmit', or the same command again",
        )
    if deadline is not None and time.monotonic() >= deadline:
        return DeadlineExceededError(
            f"not sent: the run's deadline ({settings.deadline:g} s) passed; kept in the outbox",
            hint="run 'jux-submit resubmit' later, or raise --deadline / JUX_DEADLINE",
        )
    return None
