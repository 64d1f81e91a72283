"""Delivery: the one path that sends a payload, classifies the answer and records the outcome.

``Delivery.deliver`` serves a fresh report, a stored outbox entry and ``resubmit`` alike:
write ahead (outbox), send (``client.Client``), classify (``classify_answer``), then record:
accepted → journal and drop the copy; refused for its content → ``rejected/``; anything else →
kept in the outbox (the rule is ``SubmitFailedError.is_kept``). ``Breaker`` stops contacting a
server that is down after a few reports in a row failed at the server level.
"""

from __future__ import annotations

import logging
import mmap
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from jux_submit.classify import POSSIBLE_DUPLICATE_AFTER_TIMEOUT, SubmitOutcome, classify_answer
from jux_submit.errors import (
    DeadlineExceededError,
    InterruptedSubmitError,
    JuxError,
    ServerUnavailableError,
    SubmitFailedError,
)
from jux_submit.interrupt import StopFlag, interrupt_grace, run_all
from jux_submit.models import ENDPOINTS, FileError, FileResult, Payload, Status
from jux_submit.outbox import (
    POSSIBLE_DUPLICATE_WARNING,
    QUARANTINE_DIR,
    EntryState,
    Outbox,
    OutboxEntry,
    OutboxTrustError,
)
from jux_submit.payload import body_chunks, open_body
from jux_submit.redact import Redactor

if TYPE_CHECKING:
    from jux_submit.client import Client
    from jux_submit.journal import Journal
    from jux_submit.settings import Settings

log = logging.getLogger("jux_submit")

#: consecutive server-level failures after which the run stops contacting the server
BREAKER_THRESHOLD = 3
_SHARED_SIZE = 4096  # the breaker's state shared with worker processes: flag, length, cause
INTERNAL_SUGGESTIONS = (
    "this is a bug in jux-submit, not in the report: run again with --debug for a traceback "
    "and report it (https://github.com/jux/submit-action/issues); the other reports were "
    "handled as usual",
)
MAY_HAVE_BEEN_STORED = (
    "a request timed out after the report was sent: the server may have stored it; if it "
    "does not honour Idempotency-Key, sending it again may store it twice"
)
RESUBMIT_HINT = "run 'jux-submit resubmit' once the server is reachable (or the same command again)"


def internal_result(path: str, exc: Exception, settings: Settings, started: float) -> FileResult:
    """The result of a report whose handling raised an unexpected exception."""
    log.error("%s: unexpected %s: %s", path, type(exc).__name__, exc, exc_info=settings.debug)
    return FileResult(
        path=path,
        status=Status.FAILED,
        error=FileError(
            "internal", f"unexpected {type(exc).__name__}: {exc}", INTERNAL_SUGGESTIONS
        ),
        duration=time.monotonic() - started,
    )


class Breaker:
    """Counts reports in a row that failed at the server level (refused, DNS, TLS, connect
    timeout, wrong URL or key, an answer that is not the Jux API); at ``threshold`` it opens:
    no more requests in this run, and ``event`` ends retry waits at once."""

    def __init__(self, threshold: int = BREAKER_THRESHOLD) -> None:
        self.threshold = threshold
        self.event = threading.Event()
        self._lock = threading.Lock()
        self._count = 0
        self.cause: JuxError | None = None
        #: one byte shared with forked worker processes (``share``): set by whichever opens
        self._shared: mmap.mmap | None = None

    def share(self) -> None:
        """Share the open state with processes forked from now on (``workers.run_forked``):
        a breaker that opens in one of them opens in all, at their next report."""
        if self._shared is None:
            self._shared = mmap.mmap(-1, _SHARED_SIZE)

    def is_open(self) -> bool:
        shared = self._shared
        if not self.event.is_set() and shared is not None and shared[0]:
            # opened in another process: say why, and end this one's retry waits too
            size = int.from_bytes(shared[1:3], "big")
            text = shared[3 : 3 + size].decode("utf-8", "replace")
            self.cause = ServerUnavailableError(text or "unreachable")
            self.event.set()
        return self.event.is_set()

    def record(self, error: JuxError | None) -> None:
        is_server_level = isinstance(error, SubmitFailedError) and error.is_server_level
        with self._lock:
            if self.is_open():
                return
            if not is_server_level:
                self._count = 0
                return
            self._count += 1
            if self._count >= self.threshold:
                self.cause = error
                self.event.set()
                if self._shared is not None:
                    text = (error.message if error else "").encode("utf-8")[: _SHARED_SIZE - 3]
                    self._shared[1 : 3 + len(text)] = len(text).to_bytes(2, "big") + text
                    self._shared[0] = 1  # last: the message is whole once the flag is seen
                log.error(
                    "%d reports in a row failed at the server (%s): not contacting it again in "
                    "this run; the remaining reports go to the outbox",
                    self._count,
                    error.message if error else "",
                )

    def open_error(self) -> ServerUnavailableError | None:
        """The error of a report not sent because the breaker is open, or None."""
        if not self.is_open():
            return None
        cause = self.cause.message if self.cause is not None else "unreachable"
        return ServerUnavailableError(
            f"not sent: the server could not be used ({cause})",
            hint=RESUBMIT_HINT,
        )


@dataclass(frozen=True)
class Parcel:
    """One submission to deliver: the payload, the report it came from and its journal key
    (``""``: not journaled), and the outbox entry it is (``stored``) or replaces."""

    label: str
    payload: Payload
    source_path: str
    source_sha256: str = ""
    key: str = ""
    stored: OutboxEntry | None = None
    replaces: OutboxEntry | None = None

    @property
    def may_be_stored_already(self) -> bool:
        """An earlier attempt at this report may have reached the server."""
        return any(
            e is not None and (e.state is EntryState.SENDING or e.possible_duplicate)
            for e in (self.stored, self.replaces)
        )


class Delivery:
    """Delivers the parcels of one run (thread-safe)."""

    def __init__(
        self,
        client: Client,
        settings: Settings,
        *,
        outbox: Outbox | None,
        journal: Journal | None,
        breaker: Breaker,
        stop: StopFlag | None = None,
        deadline: float | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.outbox = outbox
        self.journal = journal
        self.breaker = breaker
        self.stop = stop
        self.deadline = deadline
        #: applied to whole messages before anything shortens them
        self.redact = Redactor(settings.secrets)

    def with_client(self, client: Client, *, stop: StopFlag) -> Delivery:
        """The same delivery through another client and stop flag (a forked worker's)."""
        return Delivery(
            client,
            self.settings,
            outbox=self.outbox,
            journal=self.journal,
            breaker=self.breaker,
            stop=stop,
            deadline=self.deadline,
        )

    def stopping_error(self) -> SubmitFailedError | None:
        """Why no new request may start now (interrupted, past the deadline, or the server is
        down), or None."""
        stop = self.stop
        if stop is not None and stop.is_set():
            return InterruptedSubmitError(
                f"not sent: the run was interrupted ({stop.reason})",
                hint="run 'jux-submit resubmit', or the same command again",
            )
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return DeadlineExceededError(
                f"not sent: the run's deadline ({self.settings.deadline:g} s) passed",
                hint="run 'jux-submit resubmit' later, or raise --deadline / JUX_DEADLINE",
            )
        return self.breaker.open_error()

    def deliver(self, base: FileResult, parcel: Parcel) -> FileResult:
        """Send ``parcel`` (unless the run is stopping) and record the outcome; returns the
        report's result. A failure to keep a copy is reported in the result, never raised."""
        started = time.monotonic()
        outbox, payload = self.outbox, parcel.payload
        entry, is_held, keep_problem = parcel.stored, False, None
        if outbox is not None and entry is None:
            try:
                if payload.body is not None:
                    outbox.hold(
                        payload,
                        source_path=parcel.source_path,
                        source_sha256=parcel.source_sha256,
                        key=parcel.key,
                    )
                    is_held = True
                else:  # streamed from disk: a plain entry (its size dwarfs creating two files)
                    entry = self._write(parcel, EntryState.SENDING)
                stale = parcel.replaces
                if stale is not None and (entry is None or entry.stem != stale.stem):
                    outbox.remove(stale)  # the fresh copy is safe: drop the stale one
            except OSError as exc:
                keep_problem = f"it could not be kept in the outbox: {exc.strerror or exc}"
                log.warning("%s: %s", parcel.label, keep_problem)
        outcome = self._send(payload, parcel.key or payload.sha256)
        warnings = base.warnings + outcome.warnings
        if outcome.error is None:
            self._record_accepted(parcel, entry, outcome.test_run_id)
            if is_held and outbox is not None:
                outbox.release(parcel.source_path)
            if parcel.may_be_stored_already:
                warnings += (POSSIBLE_DUPLICATE_WARNING,)
            log.info("%s: submitted, test run %s", parcel.label, outcome.test_run_id)
            return base.with_status(
                Status.SUBMITTED,
                test_run_id=outcome.test_run_id,
                http_status=outcome.http_status,
                attempts=outcome.attempts,
                warnings=warnings,
                outbox_path=None,
                duration=time.monotonic() - started,
            )
        err = outcome.error
        is_kept = not isinstance(err, SubmitFailedError) or err.is_kept
        maybe_stored = isinstance(err, SubmitFailedError) and err.is_possible_duplicate
        if maybe_stored:
            warnings += (MAY_HAVE_BEEN_STORED,)
        kept: str | None = None
        if outbox is not None:
            try:
                if is_held:  # from the slot to a real entry, then free the slot
                    entry = self._write(parcel, EntryState.PENDING)
                    outbox.release(parcel.source_path)
                if entry is not None and not is_kept:
                    kept = str(outbox.reject(entry, err, outcome.attempts))
                elif entry is not None:
                    entry = outbox.update(
                        entry,
                        error=err,
                        attempts=outcome.attempts,
                        possible_duplicate=maybe_stored,
                    )
                    kept = str(entry.payload_path)
            except OSError as exc:
                keep_problem = f"it could not be kept in the outbox: {exc.strerror or exc}"
        suggestions = tuple(self.redact(s) for s in (err.hint, *err.suggestions) if s)
        if is_kept and kept is None:
            suggestions += (
                keep_problem
                or "it was not kept: the outbox cannot be used (see the log); run the same "
                "command again",
            )
        if not isinstance(err, ServerUnavailableError):  # logged once, by the breaker
            status_word = "failed" if is_kept else "rejected"
            log.error("%s: %s: %s", parcel.label, status_word, err.message)
        return base.with_status(
            Status.FAILED if is_kept else Status.REJECTED,
            http_status=outcome.http_status,
            attempts=outcome.attempts,
            error=FileError(err.kind, self.redact(err.message), suggestions),
            warnings=warnings,
            outbox_path=kept if is_kept else None,
            duration=time.monotonic() - started,
        )

    def _write(self, parcel: Parcel, state: EntryState) -> OutboxEntry:
        if self.outbox is None:
            raise OSError("no outbox")
        return self.outbox.write(
            parcel.payload,
            body_chunks(parcel.payload),
            source_path=parcel.source_path,
            source_sha256=parcel.source_sha256,
            key=parcel.key,
            state=state,
            possible_duplicate=parcel.may_be_stored_already,
        )

    def _send(self, payload: Payload, idempotency_key: str) -> SubmitOutcome:
        """Send once (with the transport's retries). The ``Idempotency-Key`` is the submission
        key: a copy rebuilt from the same report for the same submission (only its time
        differs) carries the key of the copy an earlier, stopped run may have delivered."""
        error = self.stopping_error()
        if error is not None:
            return SubmitOutcome(None, 0, error=error)
        try:
            body = open_body(payload)
        except OSError as exc:
            return SubmitOutcome(
                None,
                0,
                error=SubmitFailedError(f"cannot read what was to be sent: {exc.strerror or exc}"),
            )
        try:
            answer = self.client.post(payload.target, body, idempotency_key=idempotency_key)
        except SubmitFailedError as exc:
            if not isinstance(exc, ServerUnavailableError | InterruptedSubmitError):
                self.breaker.record(exc)
            return SubmitOutcome(None, exc.attempts or 0, error=exc)
        finally:
            if not isinstance(body, bytes):
                body.close()
        outcome = classify_answer(answer, payload.target, size=payload.size, redact=self.redact)
        self.breaker.record(outcome.error)
        if answer.is_possible_duplicate and outcome.is_accepted:
            outcome = SubmitOutcome(
                outcome.http_status,
                outcome.attempts,
                test_run_id=outcome.test_run_id,
                warnings=(*outcome.warnings, POSSIBLE_DUPLICATE_AFTER_TIMEOUT),
            )
        return outcome

    def _record_accepted(
        self, parcel: Parcel, entry: OutboxEntry | None, test_run_id: str | None
    ) -> None:
        """After a 201: journal first, then drop the outbox copy (a kill in between leaves a
        copy that the next run drops unsent, never a second run)."""
        try:
            if self.journal is not None and parcel.key:
                self.journal.record(parcel.source_path, parcel.key, test_run_id)
        except OSError as exc:
            log.warning(
                "%s: accepted, but the journal could not be updated (a rerun would send it "
                "again): %s",
                parcel.label,
                exc.strerror or exc,
            )
        try:  # dropped even without a journal line: a copy left here would be sent again
            if entry is not None and self.outbox is not None:
                self.outbox.remove(entry)
        except OSError as exc:
            log.warning(
                "%s: accepted, but its outbox copy could not be removed: %s", parcel.label, exc
            )

    def abandon(self, source_path: str) -> str | None:
        """The run stops waiting for this report's answer: keep what is in flight as an entry
        (its answer may still come); returns where it is kept, if anywhere."""
        if self.outbox is None:
            return None
        try:
            self.outbox.keep_held(source_path, state=EntryState.SENDING)
        except OSError as exc:
            log.warning("%s: could not be kept in the outbox: %s", source_path, exc)
        return self.outbox.written.get(source_path)


def deliver_stored(
    entry: OutboxEntry, delivery: Delivery, *, force: bool = False, note: str | None = None
) -> FileResult:
    """Send a pending outbox entry as it was built (``resubmit``, or an earlier run's entry
    whose report is gone): dropped unsent when the journal shows it accepted (unless
    ``force``), quarantined when its payload fails its checks. Returns its result."""
    outbox, journal = delivery.outbox, delivery.journal
    if outbox is None:
        raise ValueError("stored entries need the outbox")
    base = FileResult(
        path=entry.label,
        status=Status.FAILED,
        size=entry.size,
        mode=entry.mode,
        endpoint=ENDPOINTS[entry.mode].path,
        outbox_path=str(entry.payload_path),
        note=note,
    )
    earlier = journal.accepted_run(entry.source_path, entry.key) if journal and entry.key else None
    if earlier is not None and not force:
        # set aside rather than deleted: the journal line is believed, but costs nothing to keep
        outbox.quarantine(
            [entry.sidecar_path.name, entry.payload_path.name],
            f"already accepted as test run {earlier or '?'} by an earlier run",
        )
        return base.with_status(
            Status.SKIPPED,
            test_run_id=earlier or None,
            outbox_path=None,
            note="already accepted by an earlier run; not sent again, moved to "
            f"{outbox.folder / QUARANTINE_DIR} (--force sends it anyway)",
        )
    try:
        payload = outbox.payload_of(entry)
    except (OutboxTrustError, OSError) as exc:
        outbox.quarantine([entry.sidecar_path.name, entry.payload_path.name], str(exc))
        return base.with_status(
            Status.FAILED,
            outbox_path=None,
            error=FileError(
                "untrusted",
                f"not sent: the stored entry failed its checks ({exc}); moved to "
                f"{outbox.folder / QUARANTINE_DIR}",
            ),
        )
    parcel = Parcel(
        entry.label, payload, entry.source_path, entry.source_sha256, entry.key, stored=entry
    )
    return delivery.deliver(base, parcel)


def deliver_all_stored(
    entries: Sequence[OutboxEntry],
    delivery: Delivery,
    *,
    force: bool = False,
    note: str | None = None,
) -> list[FileResult]:
    """``deliver_stored`` for each entry, up to ``--parallel`` at once, each behind its own
    barrier; when the run is interrupted, what is still in flight stays in the outbox."""
    settings = delivery.settings

    def work(entry: OutboxEntry) -> FileResult:
        try:
            return deliver_stored(entry, delivery, force=force, note=note)
        except Exception as exc:  # the per-entry barrier
            result = internal_result(entry.label, exc, settings, time.monotonic())
            return replace(result, outbox_path=str(entry.payload_path), note=note)

    def abandoned(entry: OutboxEntry, was_started: bool) -> FileResult:
        return FileResult(
            path=entry.label,
            status=Status.FAILED,
            outbox_path=str(entry.payload_path),
            note=note,
            error=FileError(
                "interrupted",
                "the run was interrupted"
                + (" while this report was being sent" if was_started else "")
                + "; it stays in the outbox",
            ),
        )

    stop = delivery.stop or StopFlag()
    return run_all(
        entries,
        work,
        parallel=settings.parallel,
        stop=stop,
        grace=interrupt_grace(settings),
        on_abandon=abandoned,
    )
