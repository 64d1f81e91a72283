"""``jux-submit [PATTERN...]``: detect → discover → validate → prepare → deliver.

``run_submit`` returns a ``RunSummary`` and prints nothing (reporters do). Each report goes
through its stages in a worker thread, up to ``parallel`` at once. Nothing about one report can
stop the others: every unexpected exception while handling it becomes that report's result.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from jux_submit.discover import discover_reports
from jux_submit.interrupt import StopFlag, catch_signals, interrupt_grace, run_all
from jux_submit.journal import Journal
from jux_submit.models import (
    CIContext,
    Comparison,
    Counts,
    FileError,
    FileResult,
    Payload,
    PayloadMode,
    Record,
    ReportFile,
    RunSummary,
    Status,
    ValidationProblem,
    record,
)
from jux_submit.payload import check_package_size
from jux_submit.prepare import (
    PackagingPlan,
    SubmissionKeys,
    check_report,
    metadata_for,
    prepare_packaging,
    prepare_payload,
    resolve_context,
)
from jux_submit.settings import Compare, Mode
from jux_submit.validate import Validated

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from concurrent.futures import ThreadPoolExecutor

    from jux_submit.client import QueryClient
    from jux_submit.deliver import Delivery, Parcel
    from jux_submit.enrich import Metadata
    from jux_submit.outbox import Outbox
    from jux_submit.settings import Settings

log = logging.getLogger("jux_submit")

INVALID_SUGGESTIONS = ("fix the file or exclude it with a '!pattern'; it was not sent",)
FORCE_HINT = "--force (JUX_FORCE=true) sends it anyway"


def pending_result(
    path: str, counts: Counts, payload: Payload, *, is_file: bool = True
) -> FileResult:
    """The result of a report whose payload is built but not sent yet."""
    return FileResult(
        path=path,
        status=Status.DRY_RUN,
        counts=counts,
        mode=payload.mode,
        mode_reason=payload.mode_reason,
        size=payload.size,
        endpoint=payload.endpoint,
        warnings=payload.warnings,
        properties_added=payload.properties_added,
        entries=payload.entries,
        is_file=is_file,
    )


@record
class SubmitRun(Record):
    """What every report's worker shares (read-only)."""

    settings: Settings
    metadata: Metadata
    keys: SubmissionKeys
    journal: Journal
    packaging: PackagingPlan
    delivery: Delivery | None = None  # None: a dry run
    outbox: Outbox | None = None


def run_submit(settings: Settings) -> RunSummary:
    """Run the whole submission for ``settings``; see the module docstring. Raises
    ``ConfigError`` for run-level problems found before any request (signing key)."""
    started = time.monotonic()
    context = resolve_context(settings)
    discovery = discover_reports(
        settings.reports, settings.working_directory, extra_skip=(settings.outbox,)
    )
    for warning in discovery.warnings:
        log.warning("%s", warning)
    summary = RunSummary(
        files=(),
        context=context,
        server_root=settings.server_root,
        dry_run=settings.dry_run,
        patterns=settings.reports,
        warnings=discovery.warnings,
        outbox=str(settings.outbox_dir),
    )
    if not discovery.files:
        return replace(summary, no_reports=True, duration=time.monotonic() - started)
    log.info("found %d report file(s)", len(discovery.files))
    warn_if_unlabelled(context)
    metadata = metadata_for(context, settings)
    keys = SubmissionKeys.for_run(settings, context, metadata)
    # signing key and --attach files: loaded once, a ConfigError here comes before any request
    packaging = prepare_packaging(settings)
    root = settings.server_root
    if settings.dry_run or not root:
        run = SubmitRun(
            settings, metadata, keys, Journal(settings.outbox_dir, settings.api_key), packaging
        )
        results = _process_all(discovery.files, run, StopFlag())
        return _without_ignored(
            replace(summary, files=results, duration=time.monotonic() - started)
        )

    # the sending path's modules: a dry run never loads them (start-up: benchmarks row 2)
    from jux_submit.deliver import RESUBMIT_HINT, Breaker, Delivery
    from jux_submit.outbox import LockState, Outbox
    from jux_submit.redact import Redactor
    from jux_submit.transport import build_client

    stop = StopFlag()  # set by SIGTERM/SIGINT while files are processed (interrupt.py)
    deadline = started + settings.deadline
    breaker = Breaker()
    outbox = Outbox(settings.outbox_dir, Redactor(settings.secrets))
    with ExitStack() as stack:
        client = build_client(
            settings, root, deadline=deadline, stop=stop.event, give_up=breaker.event
        )
        stack.callback(client.close)
        stack.enter_context(catch_signals(stop))  # from here on, SIGTERM gives the summary
        server_version = None if stop.is_set() else client.server_version()
        check_server_version(server_version)
        if outbox.problem() is not None:
            log.warning(
                "the outbox %s is not used: %s; reports not accepted cannot be kept",
                settings.outbox_dir,
                outbox.problem(),
            )
            state = LockState.UNUSABLE
        else:
            state = stack.enter_context(outbox.lock(until=deadline, is_stopping=stop.is_set))
        if state is LockState.BUSY:
            log.warning(
                "another jux-submit run kept %s busy until this run's deadline: reports are not "
                "kept in the outbox in this run",
                settings.outbox_dir,
            )
        usable = outbox if state is LockState.HELD else None
        earlier: set[str] = set()
        journal = Journal(
            settings.outbox_dir, settings.api_key
        )  # read once this run is the outbox's only sender
        stack.callback(journal.close)
        if usable is not None:
            stack.callback(usable.close)
            recovered = usable.recover(lambda p, k: journal.accepted_run(p, k) is not None)
            if recovered:
                log.warning(
                    "%d report(s) in flight when an earlier run stopped are kept", recovered
                )
            earlier = {e.stem for e in usable.pending()}
        delivery = Delivery(
            client,
            settings,
            outbox=usable,
            journal=journal,
            breaker=breaker,
            stop=stop,
            deadline=deadline,
        )
        run = SubmitRun(settings, metadata, keys, journal, packaging, delivery, usable)

        def respawn(flag: StopFlag) -> SubmitRun:
            """The run as a forked worker process sees it: its own connections and flag."""
            if usable is not None:
                usable.forget_this_process()
            own = build_client(
                settings, root, deadline=deadline, stop=flag.event, give_up=breaker.event
            )
            return replace(run, delivery=delivery.with_client(own, stop=flag))

        results = _process_all(discovery.files, run, stop, respawn=respawn, quiesce=client.quiesce)
        older: tuple[FileResult, ...] = ()
        pending_earlier = 0
        if usable is not None:
            older = _send_earlier_entries(usable, earlier, delivery, stop)
            written = {Path(p).stem for p in usable.written.values()}
            pending_earlier = len({e.stem for e in usable.pending()} & earlier - written)
        comparison = None
        # not after an interruption, nor once the breaker stopped contacting the server
        if settings.compare is Compare.AUTO and not stop.is_set() and not breaker.event.is_set():
            comparison = _compare(
                client, settings, context, discovery.files, results, deadline=deadline
            )
    notes: tuple[str, ...] = ()
    if breaker.event.is_set():
        not_sent = sum(1 for r in results if r.error is not None and r.error.kind == "not-sent")
        notes = (
            f"the server could not be used: {not_sent} report(s) were not sent and were kept "
            f"in the outbox {settings.outbox_dir}; {RESUBMIT_HINT}",
        )
    return _without_ignored(
        replace(
            summary,
            files=results,
            duration=time.monotonic() - started,
            server_version=server_version,
            interrupted=stop.is_set(),
            pending_earlier=pending_earlier,
            notes=notes,
            earlier=older,
            comparison=comparison,
        )
    )


def _compare(
    client: QueryClient,
    settings: Settings,
    context: CIContext,
    files: tuple[ReportFile, ...],
    results: tuple[FileResult, ...],
    *,
    deadline: float,
) -> Comparison:
    """This run's accepted reports (sent now or already accepted) against the base run."""
    landed = (Status.SUBMITTED, Status.SKIPPED)
    if any(not r.is_file and r.status in landed for r in results):
        sources: tuple[ReportFile, ...] = files  # a combined submission stands for them all
    else:
        accepted = {r.path for r in results if r.status in landed}
        sources = tuple(f for f in files if f.relpath in accepted)
    from jux_submit.compare import compare_run  # lxml iterparse and a thread pool: only here

    own = [r.test_run_id for r in results if r.test_run_id]
    comparison = compare_run(client, settings, context, sources, own, deadline=deadline)
    log.debug("%s", comparison.note)  # the summary shows it
    return comparison


def warn_if_unlabelled(context: CIContext) -> None:
    """Once per run: a submission without a branch or a commit lands in Jux unlabelled (the
    usual cause: a container without git or without the CI's variables)."""
    missing = [
        name
        for name, value in (("branch", context.branch), ("commit", context.commit))
        if not value
    ]
    if not missing:
        return
    settings_for = {"branch": "JUX_BRANCH (--branch)", "commit": "JUX_COMMIT_SHA (--commit)"}
    log.warning(
        "no %s was detected: reports that do not carry git:%s themselves are stored without "
        "it; set %s, or run where git or the CI's own variables are available (a container: "
        "mount the checkout, or pass the CI's variables)",
        " and no ".join(missing),
        "/git:".join(missing),
        " and ".join(settings_for[m] for m in missing),
    )


def _without_ignored(summary: RunSummary) -> RunSummary:
    """Files a default pattern matched that are not test reports leave the results (they are
    neither reports nor errors) and are only listed."""
    ignored = tuple(r.path for r in summary.files if r.status is Status.IGNORED)
    if not ignored:
        return summary
    kept = tuple(r for r in summary.files if r.status is not Status.IGNORED)
    log.info("%d file(s) matched a default pattern but are not test reports", len(ignored))
    return replace(summary, files=kept, ignored=ignored, no_reports=not kept)


EARLIER_NOTE = (
    "left in the outbox by an earlier run, whose report has changed or is gone since: sent as "
    "it was built then"
)


def _send_earlier_entries(
    outbox: Outbox, earlier: set[str], delivery: Delivery, stop: StopFlag
) -> tuple[FileResult, ...]:
    """Entries earlier runs left whose report this run did not rebuild (it changed or is gone)
    go out as they were stored, so that a persistent workspace's outbox empties itself."""
    from jux_submit.deliver import deliver_all_stored

    written = {Path(p).stem for p in outbox.written.values()}
    entries = [e for e in outbox.pending() if e.stem in earlier and e.stem not in written]
    if not entries or stop.is_set():
        return ()
    log.info("sending %d submission(s) earlier runs left in the outbox", len(entries))
    return tuple(deliver_all_stored(entries, delivery, note=EARLIER_NOTE))


def _process_all(
    files: tuple[ReportFile, ...],
    run: SubmitRun,
    stop: StopFlag,
    *,
    respawn: Callable[[StopFlag], SubmitRun] | None = None,
    quiesce: Callable[[], None] | None = None,
) -> tuple[FileResult, ...]:
    """Every report's result, in order. ``respawn`` builds the run a forked worker process
    uses (its own connections), ``quiesce`` stops the helper threads of the parent's client
    before forking; a dry run needs neither."""
    settings = run.settings
    if settings.combine:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(settings.parallel, thread_name_prefix="jux") as pool:
            return process_combined(files, run, pool)
    sending = run.delivery is not None
    processes = processes_for(len(files), settings, is_sending=sending)
    if processes > 1:
        from jux_submit.workers import can_fork

        if quiesce is not None:
            quiesce()
        if can_fork():
            return _process_forked(files, run, stop, processes, respawn)
        log.debug("no worker processes: this process already runs threads")
    return _process_here(files, run, stop, settings.parallel if sending else 1)


def _process_here(
    files: Sequence[ReportFile],
    run: SubmitRun,
    stop: StopFlag,
    parallel: int,
    done: Callable[[int, FileResult], None] | None = None,
) -> tuple[FileResult, ...]:
    """Every result, in order; ``done(i, result)`` as each report ``files[i]`` is finished."""

    def one(item: tuple[int, ReportFile]) -> FileResult:
        result = process_file(item[1], run)
        if done is not None:
            done(item[0], result)
        return result

    items = list(enumerate(files))
    if run.delivery is None:
        # a dry run sends nothing and installs no signal handler: no thread to hand each
        # report to (that cost ~45 µs per report, a third of the work of a small one); only
        # a forked worker's flag is ever set here (its parent is gone): it then stops
        return tuple(one(item) for item in items if not stop.is_set())
    return tuple(
        run_all(
            items,
            one,
            parallel=parallel,
            stop=stop,
            grace=interrupt_grace(run.settings),
            on_abandon=lambda item, started: abandoned_result(item[1], started, run),
        )
    )


#: reports a dry-run worker takes at a time (the last batches even out how long each takes)
DRY_RUN_BATCH = 4

#: reports per worker process below which one process does it all: forking, a second set of
#: connections and handing the results back cost about what this many reports do
#: (benchmarks/RESULTS.md)
MIN_REPORTS_PER_PROCESS = {False: 100, True: 25}  # by "is sending"


def processes_for(count: int, settings: Settings, *, is_sending: bool) -> int:
    """Processes for the per-report work: ``--processes`` when set, else one per CPU this job
    may use, none idle for want of reports; when sending, at most one per request in flight
    (``--parallel``).

    The work is Python and lxml holding the GIL: threads only add requests in flight, never
    CPU (a dry run over 2,000 reports took 2.4x as long with 4 threads as with 1 on 2 cores).
    """
    if settings.processes:
        most = min(settings.processes, count)
    else:
        most = count // MIN_REPORTS_PER_PROCESS[is_sending]
    if is_sending:
        most = min(most, settings.parallel)
    if most < 2:
        return 1
    if settings.processes:
        return most
    from jux_submit.workers import usable_cpus

    return min(most, usable_cpus())


def _process_forked(
    files: tuple[ReportFile, ...],
    run: SubmitRun,
    stop: StopFlag,
    processes: int,
    respawn: Callable[[StopFlag], SubmitRun] | None,
) -> tuple[FileResult, ...]:
    """The reports shared out between ``processes`` workers: this process and forked
    children. When sending, report i goes to worker i mod n, each worker sending its own over
    its own connections (``--parallel`` split between them); in a dry run the reports are
    taken in small batches by whichever worker is free (``workers.WorkQueue``). A child
    reports each result as it is done; what a child that died never reported, this process
    then handles itself (after taking in the child's in-flight copies)."""
    from jux_submit.workers import WorkQueue, run_forked

    settings = run.settings
    delivery = run.delivery
    shares = [
        settings.parallel // processes + (i < settings.parallel % processes)
        for i in range(processes)
    ]
    queue: WorkQueue | None = None
    if delivery is None:  # a dry run: reports taken as the workers go (sending: fixed shares)
        try:
            queue = WorkQueue(len(files), DRY_RUN_BATCH)
        except OSError as exc:
            log.debug("no work queue (%s): fixed shares", exc)

    def body(
        index: int, flag: StopFlag, send: Callable[[object], None]
    ) -> tuple[tuple[tuple[int, FileResult], ...], dict[str, str]]:
        """Results travel as (index in ``files``, result): the ones sent as they were done,
        then, in what is returned, the others (the reports an interruption abandoned)."""
        # share 0 is this process's own: its run, its connections, its signal handler's flag
        own = run if index == 0 or respawn is None or delivery is None else respawn(flag)
        reported: set[int] = set()
        rest: list[tuple[int, FileResult]] = []

        def work(numbers: Sequence[int], parallel: int) -> None:
            def done(i: int, result: FileResult) -> None:
                send((numbers[i], result))  # first: a report marked is one on its way
                reported.add(numbers[i])

            results = _process_here([files[n] for n in numbers], own, flag, parallel, done=done)
            rest.extend(
                (numbers[i], r) for i, r in enumerate(results) if numbers[i] not in reported
            )

        if queue is None:
            work(range(index, len(files), processes), max(1, shares[index]))
        else:
            while not flag.is_set() and (batch := queue.take()) is not None:
                work(batch, 1)
        written = dict(own.outbox.written) if own.outbox is not None else {}
        if index and own.outbox is not None:
            own.outbox.close()  # this worker's in-flight slots: nothing is in flight now
        return tuple(rest), written

    if delivery is not None:
        delivery.breaker.share()
    log.debug("the reports go to %d worker processes", processes)
    try:
        outcomes = run_forked(
            processes,
            body,
            stop=stop if delivery is not None else None,
            batched=queue is not None,  # a dry run's lost items are simply done again
        )
    finally:
        if queue is not None:
            queue.close()
    results: list[FileResult | None] = [None] * len(files)
    for index, outcome in enumerate(outcomes):
        for i, result in outcome.items:  # what the worker reported as it went
            results[i] = result
        if outcome.value is not None:
            rest, written = outcome.value
            for i, result in rest:
                results[i] = result
            if run.outbox is not None:
                run.outbox.written.update(written)
            continue
        if queue is None:
            left = sum(1 for i in range(index, len(files), processes) if results[i] is None)
            log.warning(
                "%s; its %d report(s) not done yet are handled by the main process",
                outcome.ended,
                left,
            )
        else:
            log.warning(
                "%s; the reports it had taken and not done are handled by the main process",
                outcome.ended,
            )
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        results = _take_over(files, missing, results, run, stop)
    if delivery is not None:
        delivery.breaker.is_open()  # takes in a breaker that opened in a worker
    return tuple(r for r in results if r is not None)


def _take_over(
    files: tuple[ReportFile, ...],
    missing: list[int],
    results: list[FileResult | None],
    run: SubmitRun,
    stop: StopFlag,
) -> list[FileResult | None]:
    """Handle the reports a dead worker never reported on: what it had accepted is in the
    journal (read again), what it had in flight in its slots (recovered, marked as possibly
    stored: sending it again says so); the rest is sent as if it had never left."""
    run.journal.reload()
    if run.outbox is not None:
        journal = run.journal
        run.outbox.recover(lambda p, k: journal.accepted_run(p, k) is not None)
    parallel = run.settings.parallel if run.delivery is not None else 1
    redone = _process_here([files[i] for i in missing], run, stop, parallel)
    for i, result in zip(missing, redone, strict=True):
        results[i] = result
    return results


def check_server_version(version: str | None) -> None:
    """Warn (never fail) when the server speaks another major API version."""
    if version is None:
        log.debug("server version unknown (no /api/version)")
        return
    major = version.lstrip("v").split(".", 1)[0]
    if major != "1":
        log.warning(
            "the server reports API version %s; jux-submit speaks API v1: submissions "
            "may fail, upgrade jux-submit when a v%s client is available",
            version,
            major,
        )


def process_file(file: ReportFile, run: SubmitRun) -> FileResult:
    """Validate, enrich, build and (unless dry run) deliver one report; never raises."""
    started = time.monotonic()
    try:
        return _process_file(file, run, started)
    except Exception as exc:  # the per-report barrier: one report never stops the others
        from jux_submit.deliver import internal_result

        return internal_result(file.relpath, exc, run.settings, started)


def _hash_file(file: ReportFile) -> str:
    import hashlib  # OpenSSL's start-up: only once a journal or a send needs a digest

    with file.path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _process_file(file: ReportFile, run: SubmitRun, started: float) -> FileResult:
    settings = run.settings
    source_sha: str | None = None
    earlier: str | None = None
    if run.journal.has_path(file.relpath):  # the usual case, a new path, costs a dict lookup
        try:
            source_sha = _hash_file(file)
        except OSError:
            source_sha = None  # validation says why it cannot be read
        else:
            earlier = run.journal.accepted_run(file.relpath, run.keys.key(file.relpath, source_sha))
    if earlier is not None and not settings.force and run.delivery is not None:
        if run.outbox is not None:  # a run killed between journal and clean-up left a copy
            stale = run.outbox.entry_for_source(file.relpath, source_sha or "")
            if stale is not None:
                run.outbox.remove(stale)
        log.info("%s: already accepted (test run %s), not sent again", file.relpath, earlier or "?")
        return FileResult(
            path=file.relpath,
            status=Status.SKIPPED,
            size=file.size,
            test_run_id=earlier or None,
            note=skip_note(earlier),
        )
    converted, checked = check_report(file, settings)
    if isinstance(checked, ValidationProblem):
        if checked.is_not_a_report and settings.sources.get("reports") == "default":
            # a default pattern is a guess: a pom.xml or coverage.xml it matched is no error
            log.debug("%s: ignored: not a test report (%s)", file.relpath, checked)
            return FileResult(file.relpath, Status.IGNORED, size=file.size, note=str(checked))
        log.error("%s: invalid: %s", file.relpath, checked)
        return invalid_result(file, checked, started)
    payload = prepare_payload(checked, run.metadata, settings, packaging=run.packaging)
    base = pending_result(file.relpath, checked.report.counts, payload)
    if converted is not None:
        base = replace(base, source_format=converted.conversion.source_format)
    if checked.repaired:
        base = replace(base, repaired=checked.repaired)
    if checked.report.is_signed and run.metadata.explicit:
        base = signed_without_settings(base, run.metadata, checked.first_suite_properties)
    if earlier is not None:
        if settings.force:
            base = replace(base, note="sent again although already accepted: --force")
        else:  # a dry run: say what a real run would do
            base = replace(base, note="would be skipped: " + skip_note(earlier))
    if run.delivery is None:  # a dry run stops here: no digest, no parcel
        return checked_for_sending(base, payload, run, started) or dry_run_result(
            base, payload, started
        )
    if converted is not None:
        source_sha = converted.source_sha256
    elif source_sha is None:
        source_sha = _sha256(checked.content) if checked.content is not None else _hash_file(file)
    from jux_submit.deliver import Parcel

    parcel = Parcel(
        file.relpath,
        payload,
        file.relpath,
        source_sha,
        run.keys.key(file.relpath, source_sha),
        replaces=run.outbox.entry_for_source(file.relpath, source_sha) if run.outbox else None,
    )
    result = dispatch(base, parcel, run, started)
    if _refused_for_an_attachment(result) and payload.mode is PayloadMode.PACKAGE:
        result = _resend_without_refused(checked, result, parcel, run, started)
    return result


def _refused_for_an_attachment(result: FileResult) -> bool:
    error = result.error
    return (
        result.status is Status.REJECTED
        and error is not None
        and error.kind == "package-verification"
        and "refused an attachment" in error.message
    )


def _resend_without_refused(
    checked: Validated, refused: FileResult, parcel: Parcel, run: SubmitRun, started: float
) -> FileResult:
    """A package the server refused because of an attachment goes again without the ones it
    named (or, when it named none, as raw XML): a report is never lost to its attachments."""
    message = refused.error.message if refused.error else ""
    from jux_submit.classify import REFUSED_NAME

    names = frozenset(REFUSED_NAME.findall(message))
    settings = run.settings
    mode = None if names else Mode.RAW
    payload = prepare_payload(
        checked, run.metadata, settings, packaging=run.packaging, mode=mode, exclude=names
    )
    left = ", ".join(sorted(names)) if names else "every attachment"
    how = "as raw XML" if payload.mode is PayloadMode.RAW else "as a package"
    warning = (
        f"the server refused the package because of an attachment; sent again {how} without "
        f"{left} ({message})"
    )
    log.warning("%s: %s", parcel.label, warning)
    base = pending_result(parcel.label, checked.report.counts, payload)
    base = replace(base, warnings=(*base.warnings, warning))
    again = replace(parcel, payload=payload, replaces=None)
    return dispatch(base, again, run, started)


def invalid_result(file: ReportFile, problem: ValidationProblem, started: float) -> FileResult:
    return FileResult(
        path=file.relpath,
        status=Status.INVALID,
        size=file.size,
        # the position travels in line/column: each output names it once, in its own way
        error=FileError("invalid", problem.message, INVALID_SUGGESTIONS),
        line=problem.line,
        column=problem.column,
        duration=time.monotonic() - started,
    )


def signed_without_settings(
    result: FileResult, metadata: Metadata, carried: tuple[tuple[str, str], ...]
) -> FileResult:
    """A signed report is sent byte for byte, so settings given on purpose (``--project``,
    ``--branch`` ...) are not applied: say so loudly, and list them in the result (with
    ``--fail-on-error`` such a report counts as not accepted)."""
    names = tuple(name for name, _ in metadata.explicit)
    has = dict(carried)
    stored = ", ".join(f"{n}={has[n]!r}" for n in names if n in has) or "none of them"
    message = (
        f"the report is signed, so {', '.join(names)} could not be applied: the server stores "
        f"what the report carries ({stored}); sign the report after setting its metadata"
    )
    log.warning("%s: %s", result.path, message)
    return replace(result, unapplied=names, warnings=(*result.warnings, message))


def skip_note(test_run_id: str) -> str:
    shown = f" as test run {test_run_id}" if test_run_id else ""
    return (
        f"already accepted{shown} by this server, with the same content, metadata and build "
        f"identity; not sent again ({FORCE_HINT})"
    )


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def checked_for_sending(
    base: FileResult, payload: Payload, run: SubmitRun, started: float
) -> FileResult | None:
    """Log the payload's warnings; the result of a payload over the size limit, else None."""
    settings = run.settings
    for warning in payload.warnings:
        # attachment warnings already name their report (they also serve combined runs)
        prefixed = warning.startswith(f"{base.path}: ")
        log.warning("%s", warning if prefixed else f"{base.path}: {warning}")
    is_limited = payload.mode is PayloadMode.PACKAGE or settings.combine
    too_big = check_package_size(payload, settings.max_package_size) if is_limited else None
    if too_big is None:
        return None
    log.error("%s: not sent: %s", base.path, too_big.message)
    return base.with_status(
        Status.REJECTED,
        error=FileError(too_big.kind, too_big.message, too_big.suggestions),
        duration=time.monotonic() - started,
    )


def dry_run_result(base: FileResult, payload: Payload, started: float) -> FileResult:
    # a debug line: the summary on stdout says the same for every report (the log line cost
    # a dry run of 600 reports 6 % of its time)
    log.debug("%s: would send %d bytes to %s", base.path, payload.size, payload.endpoint)
    return base.with_status(Status.DRY_RUN, duration=time.monotonic() - started)


def dispatch(base: FileResult, parcel: Parcel, run: SubmitRun, started: float) -> FileResult:
    """Log the payload's warnings, refuse it when over the size limit, else deliver it (or stop
    there in a dry run)."""
    refused = checked_for_sending(base, parcel.payload, run, started)
    if refused is not None:
        return refused
    if run.delivery is None:
        return dry_run_result(base, parcel.payload, started)
    if parcel.replaces is not None:
        log.info("%s: replacing the copy an earlier run left in the outbox", base.path)
    result = run.delivery.deliver(base, parcel)
    return replace(result, duration=time.monotonic() - started)


def process_combined(
    files: tuple[ReportFile, ...], run: SubmitRun, pool: ThreadPoolExecutor
) -> tuple[FileResult, ...]:
    """``--combine``: validate every file, merge the valid ones into one submission.

    Invalid reports keep their own result; reports carrying an XML signature are sent on
    their own (merging would break the signature). The combined result comes last.
    """
    from jux_submit.combine import prepare_combined_payload
    from jux_submit.deliver import Parcel, internal_result

    started = time.monotonic()
    settings = run.settings

    def check(file: ReportFile) -> Validated | ValidationProblem | FileResult:
        try:  # every result is held until the merge: without the file bytes
            return check_report(file, settings, keep_content=False)[1]
        except Exception as exc:  # the per-report barrier
            return internal_result(file.relpath, exc, settings, started)

    checked = list(pool.map(check, files))
    failed = [c for c in checked if isinstance(c, FileResult)]
    alone = [
        f
        for f, c in zip(files, checked, strict=True)
        if isinstance(c, ValidationProblem) or (isinstance(c, Validated) and c.report.is_signed)
    ]
    merged = [c.report for c in checked if isinstance(c, Validated) and not c.report.is_signed]
    results = failed + list(pool.map(lambda f: process_file(f, run), alone))
    if not merged:
        return tuple(results)
    label = f"combined ({len(merged)} reports)"
    try:
        payload = prepare_combined_payload(merged, run.metadata, settings, packaging=run.packaging)
        counts = merged[0].counts
        for report in merged[1:]:
            counts = counts + report.counts
        base = replace(
            pending_result(label, counts, payload, is_file=False), source_count=len(merged)
        )
        log.info("combined %d report(s) into one submission", len(merged))
        # not journaled: a combined run has no single source to compare with later
        result = dispatch(base, Parcel(label, payload, label), run, started)
    except Exception as exc:  # the per-report barrier
        result = replace(internal_result(label, exc, settings, started), source_count=len(merged))
    results.append(result)
    return tuple(results)


def abandoned_result(file: ReportFile, was_started: bool, run: SubmitRun) -> FileResult:
    """The result of a file the interrupted run stopped waiting for."""
    kept = run.delivery.abandon(file.relpath) if run.delivery is not None else None
    if was_started:
        message = "the run was interrupted while this report was being sent"
        if kept:
            message += "; it was kept in the outbox and may already have reached the server"
    else:
        message = "the run was interrupted before this report was read; run the same command again"
    return FileResult(
        path=file.relpath,
        status=Status.FAILED,
        size=file.size,
        outbox_path=kept,
        error=FileError("interrupted", message),
    )
