"""The outbox: submissions not accepted yet, kept on disk as data, never as instructions.

An entry is the exact payload (``<stem>.xml`` or ``<stem>.jxz``) plus a sidecar ``<stem>.json``
naming its kind (raw or package, a closed set), its hashes and its state. Where an entry is
sent is decided by the current settings, never by anything stored. Every sidecar is checked
against its schema, every payload is opened without following links and checked against its
hash; anything else found in the folder is moved to ``quarantine/`` with a warning. Files are
written 0600 in a 0700 folder, atomically (temp file + rename). One process at a time sends
from an outbox (``lock``). Before each request a payload held in memory is written ahead into
a per-thread "in-flight slot" (one pre-created file overwritten in place: creating files costs
up to 1 ms on some disks), which the next run turns into an entry if the process died.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import stat
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from jux_submit import __version__
from jux_submit.errors import JuxError
from jux_submit.models import ENDPOINTS, Payload, PayloadMode

log = logging.getLogger("jux_submit")

SIDECAR_SCHEMA = 2
REJECTED_DIR = "rejected"
QUARANTINE_DIR = "quarantine"
LOCK_NAME = ".lock"
JOURNAL_NAME = "journal.jsonl"
SLOT_PREFIX = ".inflight-"
SLOT_SUFFIX = ".slot"
SLOT_MAGIC = b"JUXSLOT2 "
#: written over the magic when a slot is emptied (its request answered). A slot is rewritten in
#: place and never shortened (truncating the file twice a report cost more than the rest of
#: its outbox work): a record shorter than the file pads its header with spaces (JSON
#: whitespace), so that it fills the file as every record always did
SLOT_EMPTY = b"JUXSLOT- "
#: payloads up to this size are read into memory (and hash-checked there) before sending
IN_MEMORY_LIMIT = 8 * 1024 * 1024
_MAX_SIDECAR = 1024 * 1024
_CHUNK = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_STEM_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}-[0-9a-f]{16}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_OWN_NAMES = frozenset({JOURNAL_NAME, LOCK_NAME, REJECTED_DIR, QUARANTINE_DIR})
_OWN_FILES = (JOURNAL_NAME, LOCK_NAME)
_OWN_DIRS = (REJECTED_DIR, QUARANTINE_DIR)
_QUARANTINE_SHOWN = 5  # warnings about quarantined files, before "and N more"
#: paths written by version 1 of the sidecar, the only two values it may take
_V1_ENDPOINTS = {e.path: e.mode for e in ENDPOINTS.values()}

POSSIBLE_DUPLICATE_WARNING = (
    "an earlier attempt at this report may have reached the server (a run was stopped or timed "
    "out while sending it); if the server stored it then and does not honour Idempotency-Key, "
    "it is now stored twice"
)


class EntryState(StrEnum):
    """Where a pending submission stands."""

    SENDING = "sending"  # written ahead of the request; the process may have died meanwhile
    PENDING = "pending"  # the last attempt failed for a reason a later attempt could fix
    REJECTED = "rejected"  # refused for its content (kept under rejected/ for inspection)


class OutboxTrustError(Exception):
    """What is on disk is not an entry this tool wrote (or it changed since)."""


class LockState(StrEnum):
    """What ``Outbox.lock`` obtained."""

    HELD = "held"
    BUSY = "busy"  # another process kept it until the deadline
    UNUSABLE = "unusable"  # the folder or its lock file cannot be used


def entry_stem(source_path: str, source_sha256: str) -> str:
    """The file stem of an entry: a readable name plus a hash of the source path and content
    (one entry per version of a report; stable across runs)."""
    name = source_path.replace("\\", "/").rsplit("/", 1)[-1]
    if name.lower().endswith(".xml"):
        name = name[:-4]
    name = _UNSAFE.sub("_", name).strip("._-")[:60] or "report"
    digest = hashlib.sha256(f"{source_path}\0{source_sha256}".encode()).hexdigest()[:16]
    return f"{name}-{digest}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class OutboxEntry:
    """A pending submission on disk, as its validated sidecar describes it."""

    folder: Path
    stem: str
    mode: PayloadMode
    state: EntryState
    size: int
    payload_sha256: str
    source_path: str  # "" when unknown; a label and a lookup key, never opened from here
    source_sha256: str
    key: str  # the journal key, "" when the submission is not journaled
    attempts: int = 0
    possible_duplicate: bool = False
    created: str = ""
    error: dict[str, str] | None = None

    @property
    def payload_path(self) -> Path:
        return self.folder / f"{self.stem}{ENDPOINTS[self.mode].suffix}"

    @property
    def sidecar_path(self) -> Path:
        return self.folder / f"{self.stem}.json"

    @property
    def label(self) -> str:
        return self.source_path or self.payload_path.name

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SIDECAR_SCHEMA,
            "kind": self.mode.value,
            "state": self.state.value,
            "size": self.size,
            "payload_sha256": self.payload_sha256,
            "source_path": self.source_path,
            "source_sha256": self.source_sha256,
            "key": self.key,
            "attempts": self.attempts,
            "possible_duplicate": self.possible_duplicate,
            "created": self.created,
            "updated": _now(),
            "error": self.error,
            "tool": f"jux-submit {__version__}",
        }


def _text(meta: dict[str, Any], name: str, *, limit: int = 4096) -> str:
    """A text field: short, valid UTF-8, no control or format characters (a newline in a
    report path would forge lines, and CI commands, wherever the path is printed)."""
    value = meta.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise OutboxTrustError(f"'{name}' is not a short text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise OutboxTrustError(f"'{name}' is not valid UTF-8") from None
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise OutboxTrustError(f"'{name}' contains control characters")
    return value


def _hex(meta: dict[str, Any], name: str, *, optional: bool = False) -> str:
    value = meta.get(name, "")
    if optional and value == "":
        return ""
    if not isinstance(value, str) or not _HEX64.match(value):
        raise OutboxTrustError(f"'{name}' is not a SHA-256 hex digest")
    return value


def _count(meta: dict[str, Any], name: str) -> int:
    value = meta.get(name, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise OutboxTrustError(f"'{name}' is not a count")
    return value


def parse_sidecar(folder: Path, stem: str, data: bytes) -> OutboxEntry:
    """The entry a sidecar describes, after checking it field by field. Raises
    ``OutboxTrustError`` naming the first problem."""
    if not _STEM_RE.match(stem):
        raise OutboxTrustError("its file name is not one this tool writes")
    meta = _json_object(data)
    version = meta.get("schema_version")
    if version == 1 and not isinstance(version, bool):
        meta = _from_version_1(stem, meta)
    elif version != SIDECAR_SCHEMA or isinstance(version, bool):
        raise OutboxTrustError(f"unknown schema_version {_short(version)}")
    try:
        mode = PayloadMode(str(meta.get("kind")))
    except ValueError:
        raise OutboxTrustError("'kind' is neither raw nor package") from None
    try:
        state = EntryState(str(meta.get("state")))
    except ValueError:
        raise OutboxTrustError("unknown 'state'") from None
    if state is EntryState.REJECTED:
        raise OutboxTrustError("a rejected entry outside rejected/")
    error = meta.get("error")
    if error is not None and not (
        isinstance(error, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in error.items())
    ):
        raise OutboxTrustError("'error' is not an object of texts")
    possible = meta.get("possible_duplicate", False)
    if not isinstance(possible, bool):
        raise OutboxTrustError("'possible_duplicate' is not true or false")
    return OutboxEntry(
        folder=folder,
        stem=stem,
        mode=mode,
        state=state,
        size=_count(meta, "size"),
        payload_sha256=_hex(meta, "payload_sha256"),
        source_path=_text(meta, "source_path"),
        source_sha256=_hex(meta, "source_sha256", optional=True),
        key=_hex(meta, "key", optional=True),
        attempts=_count(meta, "attempts"),
        possible_duplicate=possible,
        created=_text(meta, "created", limit=40),
        error=error,
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise OutboxTrustError("not valid JSON") from None
    if not isinstance(meta, dict):
        raise OutboxTrustError("not a JSON object")
    return meta


def _from_version_1(stem: str, meta: dict[str, Any]) -> dict[str, Any]:
    """A sidecar of jux-submit 1.0 in today's terms. Its ``endpoint`` is only ever read as one
    of the two paths that version wrote; any other value (a URL, another host) is refused."""
    endpoint = meta.get("endpoint")
    mode = _V1_ENDPOINTS.get(endpoint) if isinstance(endpoint, str) else None
    if mode is None:
        raise OutboxTrustError(f"a version 1 sidecar with the endpoint {_short(endpoint)}")
    if meta.get("payload_file") != f"{stem}{ENDPOINTS[mode].suffix}":
        raise OutboxTrustError("a version 1 sidecar naming another payload file")
    state = meta.get("state")
    return {
        **{k: meta.get(k, d) for k, d in (("size", 0), ("payload_sha256", ""), ("attempts", 0))},
        "kind": mode.value,
        "state": state if state in ("pending", "sending") else "pending",
        "source_path": meta.get("source_path", ""),
        "source_sha256": meta.get("source_sha256", ""),
        "key": "",
        "possible_duplicate": state == "sending",
        "created": meta.get("created", ""),
        "error": meta.get("error") if isinstance(meta.get("error"), dict) else None,
    }


def _open_plain(path: Path) -> int:
    """An fd on ``path`` read-only, refusing links and anything but a single-link regular file
    (opened non-blocking, so that a FIFO cannot hang the run)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise OutboxTrustError("not a plain file (a link or a special file)")
    os.set_blocking(fd, True)
    return fd


def _is_plain_file(path: Path) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def _create_exclusive(path: Path) -> int:
    """A new 0600 file that did not exist (never a link or a file someone planted)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.open(path, flags, 0o600)


def _write_atomic(dest: Path, chunks: Iterable[bytes]) -> None:
    """Write to a new 0600 temp file in the same folder, then rename over ``dest``."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = _create_exclusive(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        tmp.replace(dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


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
    except (ValueError, RecursionError):
        return None
    if not isinstance(meta, dict) or hashlib.sha256(body).hexdigest() != meta.get("payload_sha256"):
        return None
    return meta, body


class Outbox:
    """The outbox folder. Every method that writes needs ``lock`` held (one sender at a time)."""

    def __init__(self, folder: Path, redact: Callable[[str], str] = str) -> None:
        self.folder = folder
        self._redact = redact
        #: report path -> payload file, for entries written during this run
        self.written: dict[str, str] = {}
        #: report path -> what its thread's in-flight slot holds
        self.held: dict[str, tuple[Payload, dict[str, Any]]] = {}
        self._local = threading.local()
        self._slots: list[tuple[int, Path]] = []
        self._slots_lock = threading.Lock()
        self._index: dict[tuple[str, str], OutboxEntry] | None = None
        self._ready = False
        self._quarantined: list[tuple[str, str]] | None = None  # batched warnings

    def forget_this_process(self) -> None:
        """In a forked worker process: no slot and nothing written yet (the slots and the list
        of entries written belong to the process that made them; it removes its own)."""
        self.written = {}
        self.held = {}
        self._local = threading.local()
        self._slots = []
        self._slots_lock = threading.Lock()

    # --- the folder and its lock ----------------------------------------------------------
    def problem(self) -> str | None:
        """Why the folder cannot be used (it is a symbolic link, or not a folder), or None."""
        try:
            info = os.lstat(self.folder)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return str(exc.strerror or exc)
        if stat.S_ISLNK(info.st_mode):
            return "it is a symbolic link (not followed: it could lead anywhere)"
        if not stat.S_ISDIR(info.st_mode):
            return "it is not a folder"
        return None

    def ensure(self) -> None:
        """Create the folder 0700 (tightening it when it is ours). Raises ``OSError``."""
        if self._ready:
            return
        problem = self.problem()
        if problem is not None:
            raise OSError(f"{self.folder}: {problem}")
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(self.folder)
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
            self.folder.chmod(0o700)
        self._ready = True

    def _vet(self) -> None:
        """Move aside whatever sits where the outbox keeps its own files and folders but is not
        what this tool makes there (a link, a folder for a file, a file for a folder)."""
        for name in _OWN_FILES:
            path = self.folder / name
            if os.path.lexists(path) and not _is_plain_file(path):
                self._set_aside(name, "not a plain file where the outbox keeps its own")
        for name in _OWN_DIRS:
            path = self.folder / name
            if os.path.lexists(path) and not (path.is_dir() and not path.is_symlink()):
                self._set_aside(name, "not a folder where the outbox keeps its own")

    def _set_aside(self, name: str, reason: str) -> None:
        aside = f"{name}.untrusted-{secrets.token_hex(4)}"
        (self.folder / name).rename(self.folder / aside)
        self.quarantine([aside], reason)

    def _subfolder(self, name: str) -> Path:
        """``rejected/`` or ``quarantine/``: a real folder of ours, created when missing."""
        path = self.folder / name
        if os.path.lexists(path) and not (path.is_dir() and not path.is_symlink()):
            aside = f"{name}.untrusted-{secrets.token_hex(4)}"
            path.rename(self.folder / aside)
            log.warning("outbox: %s was not a folder; moved to %s", path, aside)
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    @contextlib.contextmanager
    def lock(
        self, *, until: float, is_stopping: Callable[[], bool] = lambda: False
    ) -> Iterator[LockState]:
        """Hold the outbox's one-sender lock; waits for another process holding it until the
        monotonic time ``until``. Yields whether it is held, busy or unusable."""
        try:
            self.ensure()
            self._vet()
            flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(self.folder / LOCK_NAME, flags, 0o600)
        except OSError as exc:
            log.warning("the outbox %s cannot be used: %s", self.folder, exc.strerror or exc)
            yield LockState.UNUSABLE
            return
        try:
            told = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not told:
                        log.warning(
                            "another jux-submit run is sending from %s: waiting for it",
                            self.folder,
                        )
                        told = True
                    if time.monotonic() >= until or is_stopping():
                        yield LockState.BUSY
                        return
                    time.sleep(0.05)
            yield LockState.HELD
        finally:
            os.close(fd)

    # --- reading what is there -------------------------------------------------------------
    def quarantine(self, names: Iterable[str], reason: str) -> None:
        """Move the named files of the folder to ``quarantine/`` (links are moved, never
        followed) and say so once."""
        moved: list[str] = []
        for name in names:
            source = self.folder / name
            if not os.path.lexists(source):
                continue
            try:
                target = self._subfolder(QUARANTINE_DIR)
                dest = target / name
                n = 2
                while os.path.lexists(dest):
                    dest = target / f"{name}.{n}"
                    n += 1
                source.rename(dest)
                moved.append(name)
            except OSError as exc:
                log.warning("cannot quarantine %s: %s", source, exc.strerror or exc)
        if not moved:
            return
        if self._quarantined is not None:
            self._quarantined.append((", ".join(moved), reason))
        else:
            log.warning(
                "outbox: moved %s to %s: %s; it was not sent",
                ", ".join(moved),
                self.folder / QUARANTINE_DIR,
                reason,
            )

    @contextlib.contextmanager
    def _batched_warnings(self) -> Iterator[None]:
        """Quarantine warnings of a whole scan: the first few, then how many more."""
        if self._quarantined is not None:  # already inside a batch (recover scans, too)
            yield
            return
        self._quarantined = []
        try:
            yield
        finally:
            moved, self._quarantined = self._quarantined, None
            for names, reason in moved[:_QUARANTINE_SHOWN]:
                log.warning(
                    "outbox: moved %s to %s: %s; it was not sent",
                    names,
                    self.folder / QUARANTINE_DIR,
                    reason,
                )
            if len(moved) > _QUARANTINE_SHOWN:
                log.warning(
                    "outbox: moved %d more item(s) to %s that were not valid entries",
                    len(moved) - _QUARANTINE_SHOWN,
                    self.folder / QUARANTINE_DIR,
                )

    def _read_sidecar(self, stem: str) -> OutboxEntry:
        fd = _open_plain(self.folder / f"{stem}.json")
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(_MAX_SIDECAR + 1)
        if len(data) > _MAX_SIDECAR:
            raise OutboxTrustError("too large for a sidecar")
        entry = parse_sidecar(self.folder, stem, data)
        try:
            info = os.lstat(entry.payload_path)
        except FileNotFoundError:
            raise OutboxTrustError("its payload file is missing") from None
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise OutboxTrustError("its payload is not a plain file (a link or a special file)")
        if info.st_size != entry.size:
            raise OutboxTrustError("its payload's size differs from the recorded one")
        return entry

    def pending(self) -> list[OutboxEntry]:
        """Every pending entry, sorted by source path, after checking each one; whatever is
        not a valid entry is quarantined, leftovers of killed writes are removed."""
        with self._batched_warnings():
            return self._scan()

    def _scan(self) -> list[OutboxEntry]:
        try:
            names = sorted(p.name for p in self.folder.iterdir())
        except OSError:
            self._index = {}
            return []
        entries: list[OutboxEntry] = []
        claimed: set[str] = set()
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            stem = name[: -len(".json")]
            try:
                entry = self._read_sidecar(stem)
            except (OutboxTrustError, OSError) as exc:
                payloads = [f"{stem}{e.suffix}" for e in ENDPOINTS.values()]
                self.quarantine([name, *payloads], f"not a valid entry ({exc})")
                claimed.update([name, *payloads])
                continue
            entries.append(entry)
            claimed.update((name, entry.payload_path.name))
        for name in names:
            if name in claimed or name in _OWN_NAMES:
                continue
            if name.startswith(SLOT_PREFIX) and name.endswith(SLOT_SUFFIX):
                continue  # a live run's slot (dead ones were recovered before)
            path = self.folder / name
            if name.startswith(".") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):  # a write cut short: incomplete, ours
                    if os.lstat(path).st_mtime < time.time() - 60:
                        path.unlink()
                continue
            self.quarantine([name], "not part of any outbox entry")
        entries.sort(key=lambda e: (e.source_path, e.stem))
        self._index = {(e.source_path, e.source_sha256): e for e in entries if e.source_sha256}
        return entries

    def entry_for_source(self, source_path: str, source_sha256: str) -> OutboxEntry | None:
        """The pending entry an earlier run left for this version of this report, if any."""
        if self._index is None:
            self.pending()
        return (self._index or {}).get((source_path, source_sha256))

    def payload_of(self, entry: OutboxEntry) -> Payload:
        """The stored payload, to send as it is: read (small) or streamed (large) from a
        plain file, its content checked against the recorded hash. Raises
        ``OutboxTrustError`` (quarantine it) or ``OSError``."""
        fd = _open_plain(entry.payload_path)
        with os.fdopen(fd, "rb") as handle:
            if entry.size <= IN_MEMORY_LIMIT:
                body = handle.read(entry.size + 1)
                digest = hashlib.sha256(body).hexdigest()
            else:
                body = None
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if digest != entry.payload_sha256:
            raise OutboxTrustError("its payload does not match the recorded SHA-256")
        return Payload(
            mode=entry.mode,
            mode_reason="from the outbox",
            size=entry.size,
            body=body,
            body_path=None if body is not None else entry.payload_path,
            sha256=entry.payload_sha256,
            is_stored=True,
        )

    # --- writing ---------------------------------------------------------------------------
    def write(
        self,
        payload: Payload,
        chunks: Iterable[bytes],
        *,
        source_path: str,
        source_sha256: str,
        key: str,
        state: EntryState,
        possible_duplicate: bool = False,
    ) -> OutboxEntry:
        """Store ``payload``'s exact bytes (given as ``chunks``) and its sidecar; payload
        first, so a sidecar always names a complete payload. Raises ``OSError``."""
        self.ensure()
        entry = OutboxEntry(
            folder=self.folder,
            stem=entry_stem(source_path, source_sha256 or payload.sha256),
            mode=payload.mode,
            state=state,
            size=payload.size,
            payload_sha256=payload.sha256,
            source_path=source_path,
            source_sha256=source_sha256,
            key=key,
            possible_duplicate=possible_duplicate,
            created=_now(),
        )
        _write_atomic(entry.payload_path, chunks)
        self._write_sidecar(entry)
        self.written[source_path] = str(entry.payload_path)
        return entry

    def _write_sidecar(self, entry: OutboxEntry) -> None:
        text = self._redact(json.dumps(entry.to_json(), indent=2, sort_keys=True)) + "\n"
        _write_atomic(entry.sidecar_path, (text.encode("utf-8"),))

    def update(
        self,
        entry: OutboxEntry,
        *,
        error: JuxError | None,
        attempts: int,
        possible_duplicate: bool = False,
    ) -> OutboxEntry:
        """Rewrite the sidecar after a failed attempt (the payload is untouched): pending."""
        updated = replace(
            entry,
            state=EntryState.PENDING,
            attempts=entry.attempts + attempts,
            possible_duplicate=entry.possible_duplicate or possible_duplicate,
            error=None
            if error is None
            else {"kind": error.kind, "message": self._redact(error.message)},
        )
        self._write_sidecar(updated)
        return updated

    def remove(self, entry: OutboxEntry) -> None:
        """Drop an entry (accepted, or replaced by a fresh copy): payload first, so that a
        kill in between leaves a sidecar whose payload is missing, which is quarantined."""
        for path in (entry.payload_path, entry.sidecar_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if self.written.get(entry.source_path) == str(entry.payload_path):
            self.written.pop(entry.source_path, None)
        if self._index is not None:
            self._index.pop((entry.source_path, entry.source_sha256), None)

    def reject(self, entry: OutboxEntry, error: JuxError, attempts: int) -> Path:
        """Move an entry the server refused for its content to ``rejected/``; returns where
        its payload is now."""
        target = self._subfolder(REJECTED_DIR)
        moved = replace(
            entry,
            folder=target,
            state=EntryState.REJECTED,
            attempts=entry.attempts + attempts,
            error={"kind": error.kind, "message": self._redact(error.message)},
        )
        text = self._redact(json.dumps(moved.to_json(), indent=2, sort_keys=True)) + "\n"
        _write_atomic(moved.sidecar_path, (text.encode("utf-8"),))
        entry.payload_path.replace(moved.payload_path)
        with contextlib.suppress(FileNotFoundError):
            entry.sidecar_path.unlink()
        self.written.pop(entry.source_path, None)
        return moved.payload_path

    # --- in-flight slots: the write-ahead of the normal case -------------------------------
    def _slot_fd(self) -> int:
        fd: int | None = getattr(self._local, "fd", None)
        if fd is None:
            self.ensure()
            path = self.folder / f"{SLOT_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{SLOT_SUFFIX}"
            fd = _create_exclusive(path)
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the process ends, however it ends
            self._local.fd = fd
            with self._slots_lock:
                self._slots.append((fd, path))
        return fd

    def hold(self, payload: Payload, *, source_path: str, source_sha256: str, key: str) -> None:
        """Write an in-memory payload ahead of its request into this thread's slot (no file
        is created after the first). Raises ``OSError``."""
        if payload.body is None:
            raise ValueError("only in-memory payloads go to a slot")
        meta = {
            "kind": payload.mode.value,
            "payload_sha256": payload.sha256,
            "source_path": source_path,
            "source_sha256": source_sha256,
            "key": key,
        }
        header = json.dumps(meta).encode("utf-8")
        fd = self._slot_fd()
        size: int = getattr(self._local, "size", 0)  # the slot file's length so far
        short = size - (len(SLOT_MAGIC) + 11 + len(header) + 1 + len(payload.body))
        data = header + b" " * max(short, 0) + b"\n" + payload.body
        record = SLOT_MAGIC + b"%010d\n" % (len(SLOT_MAGIC) + 11 + len(data)) + data
        os.pwrite(fd, record, 0)
        self._local.size = max(size, len(record))
        self.held[source_path] = (payload, meta)

    def release(self, source_path: str) -> None:
        """Empty this thread's slot (its request is answered, or its entry is written)."""
        self.held.pop(source_path, None)
        fd: int | None = getattr(self._local, "fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.pwrite(fd, SLOT_EMPTY, 0)

    def keep_held(self, source_path: str, *, state: EntryState) -> OutboxEntry | None:
        """Turn what a slot holds for ``source_path`` into a real entry (the run stops
        waiting for its answer); None when nothing is held. Raises ``OSError``."""
        held = self.held.get(source_path)
        if held is None:
            return None
        payload, meta = held
        return self.write(
            payload,
            (payload.body or b"",),
            source_path=meta["source_path"],
            source_sha256=meta["source_sha256"],
            key=meta["key"],
            state=state,
            possible_duplicate=True,
        )

    def close(self) -> None:
        """Remove this process's slots (at the end of a run, when nothing is in flight)."""
        with self._slots_lock:
            slots, self._slots = self._slots, []
        for fd, path in slots:
            with contextlib.suppress(OSError):
                path.unlink()
            with contextlib.suppress(OSError):
                os.close(fd)

    def recover(self, is_accepted: Callable[[str, str], bool]) -> int:
        """Turn the slots of processes that died (SIGKILL, crash) into entries marked as
        possibly stored, unless ``is_accepted(source_path, key)``; returns how many. A slot
        that is not one this tool wrote is quarantined."""
        with self._batched_warnings():
            try:
                names = sorted(p.name for p in self.folder.iterdir())
            except OSError:
                return 0
            slots = [n for n in names if n.startswith(SLOT_PREFIX) and n.endswith(SLOT_SUFFIX)]
            return sum(self._recover_one(name, is_accepted) for name in slots)

    def _recover_one(self, name: str, is_accepted: Callable[[str, str], bool]) -> int:
        path = self.folder / name
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            self.quarantine([name], "an in-flight slot that cannot be opened safely")
            return 0
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # a live run owns it
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                raise OutboxTrustError("not a plain file")
            if info.st_size > IN_MEMORY_LIMIT + _MAX_SIDECAR:
                raise OutboxTrustError("larger than any slot this tool writes")
            record = os.pread(fd, info.st_size, 0)
            if not record or record.startswith(SLOT_EMPTY):  # its request was answered
                path.unlink()
                return 0
            parsed = _parse_slot(record)
            if parsed is None:
                raise OutboxTrustError("its record is cut short or does not match its hash")
            recovered = self._recover_slot(*parsed, is_accepted)
            path.unlink()
            return int(recovered)
        except Exception as exc:  # whatever a planted slot holds, the run goes on
            self.quarantine([name], f"an in-flight slot that is not valid ({exc})")
            return 0
        finally:
            os.close(fd)

    def _recover_slot(
        self, meta: dict[str, Any], body: bytes, is_accepted: Callable[[str, str], bool]
    ) -> bool:
        try:
            mode = PayloadMode(str(meta.get("kind")))
        except ValueError:
            raise OutboxTrustError("'kind' is neither raw nor package") from None
        source_path = _text(meta, "source_path")
        source_sha = _hex(meta, "source_sha256", optional=True)
        key = _hex(meta, "key", optional=True)
        if key and is_accepted(source_path, key):
            return False
        if source_sha and self.entry_for_source(source_path, source_sha) is not None:
            return False
        payload = Payload(
            mode=mode,
            mode_reason="in flight when a run stopped",
            size=len(body),
            body=body,
            sha256=hashlib.sha256(body).hexdigest(),
        )
        entry = self.write(
            payload,
            (body,),
            source_path=source_path,
            source_sha256=source_sha,
            key=key,
            state=EntryState.SENDING,
            possible_duplicate=True,
        )
        if self._index is not None and source_sha:
            self._index[(source_path, source_sha)] = entry
        return True
