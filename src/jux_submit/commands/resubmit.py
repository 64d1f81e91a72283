"""``jux-submit resubmit [DIR]``: send the pending outbox entries again, as they were built.

Each entry goes through the same delivery path as a fresh report (same retry rules, same bytes,
same ``Idempotency-Key``) to the server of the current settings; it is removed only after a
201. Entries already accepted (per the journal) are dropped unsent; entries that fail their
checks are quarantined. Returns a ``RunSummary``; prints nothing.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from jux_submit.deliver import Breaker, Delivery, deliver_all_stored
from jux_submit.errors import ConfigError, OutboxBusyError
from jux_submit.interrupt import StopFlag, catch_signals
from jux_submit.journal import Journal
from jux_submit.models import CIContext, RunSummary
from jux_submit.outbox import LockState, Outbox
from jux_submit.redact import Redactor

if TYPE_CHECKING:
    from jux_submit.settings import Settings

log = logging.getLogger("jux_submit")


def run_resubmit(settings: Settings) -> RunSummary:
    """Send every pending entry of the outbox again; see the module docstring. Raises
    ``ConfigError`` when the outbox cannot be used, ``OutboxBusyError`` when another run
    holds it past the deadline."""
    folder = settings.resubmit_dir or settings.outbox_dir
    root = settings.server_root
    started = time.monotonic()
    summary = RunSummary(
        files=(), context=CIContext(), server_root=root, dry_run=False, outbox=str(folder)
    )
    outbox = Outbox(folder, Redactor(settings.secrets))
    problem = outbox.problem()
    if problem is not None:
        raise ConfigError(f"the outbox {folder} cannot be used: {problem}")
    if root is None or not folder.is_dir():
        return _with(summary, started, notes=(f"nothing to resubmit: {folder} does not exist",))
    from jux_submit.transport import build_client

    stop = StopFlag()
    deadline = started + settings.deadline
    breaker = Breaker()
    with ExitStack() as stack:
        stack.enter_context(catch_signals(stop))
        state = stack.enter_context(outbox.lock(until=deadline, is_stopping=stop.is_set))
        if state is LockState.UNUSABLE:
            raise ConfigError(
                f"the outbox {folder} cannot be used (see the warning above)",
                hint="check the folder's permissions and that it is a plain folder",
            )
        if state is LockState.BUSY:
            raise OutboxBusyError(
                f"another jux-submit run kept {folder} busy until this run's deadline",
                hint="run resubmit again once the other run has finished",
            )
        journal = Journal(folder, settings.api_key)
        stack.callback(journal.close)
        outbox.recover(lambda p, k: journal.accepted_run(p, k) is not None)
        entries = outbox.pending()
        if not entries:
            return _with(
                summary, started, notes=(f"nothing to resubmit: no pending entries in {folder}",)
            )
        log.info("resubmitting %d pending report(s) from %s", len(entries), folder)
        client = build_client(
            settings, root, deadline=deadline, stop=stop.event, give_up=breaker.event
        )
        stack.callback(client.close)
        delivery = Delivery(
            client,
            settings,
            outbox=outbox,
            journal=journal,
            breaker=breaker,
            stop=stop,
            deadline=deadline,
        )

        results = deliver_all_stored(entries, delivery, force=settings.force)
        left = len(outbox.pending())
    return _with(
        summary,
        started,
        files=tuple(results),
        interrupted=stop.is_set(),
        pending_after=left,
    )


def _with(summary: RunSummary, started: float, **changes: Any) -> RunSummary:
    return replace(summary, duration=time.monotonic() - started, **changes)
