"""The run, top to bottom: detect → discover → validate → enrich → payload → submit.

``run`` returns a ``RunSummary``; it prints nothing (reporters do) and raises only for
run-level problems. Each file goes through its stages in a worker thread, up to ``parallel``
at once; a problem with one file becomes that file's result.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from jux_submit.detect import apply_overrides, default_project, detect_context
from jux_submit.discover import discover_reports
from jux_submit.enrich import Metadata, Splice, build_metadata, enrich_file, plan_properties
from jux_submit.interrupt import StopFlag, catch_signals, run_all
from jux_submit.models import (
    CIContext,
    Counts,
    FileError,
    FileResult,
    Payload,
    PayloadMode,
    ReportFile,
    RunSummary,
    Status,
    ValidationProblem,
)
from jux_submit.outbox import (
    POSSIBLE_DUPLICATE_WARNING,
    EntryState,
    Journal,
    Outbox,
    OutboxEntry,
    SourceKey,
    hash_file,
    interrupt_grace,
    is_content_rejection,
    stopping_error,
)
from jux_submit.package import PackagingPlan, decide_mode, prepare_packaging
from jux_submit.payload import build_package_payload, build_raw_payload, check_package_size
from jux_submit.redact import Redactor
from jux_submit.validate import Validated, validate_report

if TYPE_CHECKING:
    import requests

    from jux_submit.settings import Mode, Settings

log = logging.getLogger("jux_submit")

SIGNED_WARNING = (
    "the report carries an XML signature: it is sent byte for byte, without "
    "metadata (adding properties would break the signature)"
)
INVALID_SUGGESTIONS = ("fix the file or exclude it with a '!pattern'; it was not sent",)


def resolve_context(settings: Settings) -> CIContext:
    """CI detection plus the user's overrides; ``project`` always filled."""
    context = detect_context(settings.environ, settings.working_directory)
    context = apply_overrides(
        context, project=settings.project, branch=settings.branch, commit=settings.commit
    )
    return context.with_values(project=default_project(context, settings.working_directory))


def explicit_property_names(settings: Settings) -> tuple[str, ...]:
    """Properties the user set on purpose: these replace what a report already carries."""
    names = []
    if settings.project:
        names.append("project")
    if settings.branch:
        names.append("git:branch")
    if settings.commit:
        names.append("git:commit")
    if settings.sources.get("environment", "default") != "default":
        names.append("jux:environment")
    if settings.tags:
        names.append("jux:tags")
    return tuple(names)


def metadata_for(context: CIContext, settings: Settings) -> Metadata:
    """The properties every report of this run gets (see ``enrich.build_metadata``)."""
    return build_metadata(
        context,
        cwd=settings.working_directory,
        explicit_names=explicit_property_names(settings),
        environment=settings.environment,
        tags=settings.tags,
        env_vars=settings.env_var,
        environ=settings.environ,
    )


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


@dataclass(frozen=True)
class RunContext:
    """What every file's worker shares (read-only)."""

    settings: Settings
    metadata: Metadata
    session: requests.Session | None
    root: str | None
    packaging: PackagingPlan = field(default_factory=PackagingPlan)
    # issue 6: cancellation, the run's deadline, the outbox and the journal of accepted files
    stop: StopFlag | None = None
    deadline: float | None = None
    outbox: Outbox | None = None
    journal: Journal | None = None


def run(settings: Settings) -> RunSummary:
    """Run the whole pipeline for ``settings``; see the module docstring."""
    started = time.monotonic()
    context = resolve_context(settings)
    discovery = discover_reports(
        settings.reports, settings.working_directory, extra_skip=(settings.outbox,)
    )
    for warning in discovery.warnings:
        log.warning("%s", warning)
    base = RunSummary(
        files=(),
        context=context,
        server_root=settings.server_root,
        dry_run=settings.dry_run,
        patterns=settings.reports,
        warnings=discovery.warnings,
    )
    if not discovery.files:
        return replace(base, no_reports=True, duration=time.monotonic() - started)
    log.info("found %d report file(s)", len(discovery.files))

    metadata = metadata_for(context, settings)

    # signing key and --attach files: loaded once, a ConfigError here comes before any request
    packaging = prepare_packaging(settings)
    stop = StopFlag()  # set by SIGTERM/SIGINT while files are processed (interrupt.py)
    deadline = started + settings.deadline
    session = None
    server_version = None
    root = settings.server_root
    if not settings.dry_run and root:
        from jux_submit.transport import build_session, fetch_server_version

        session = build_session(settings, deadline=deadline, stop=stop.event)
        server_version = fetch_server_version(session, root, settings)
        check_server_version(server_version)

    journal = Journal(settings.outbox_dir, root)
    outbox = None
    if session is not None:
        outbox = Outbox(settings.outbox_dir, Redactor(settings.secrets))
        if outbox.recover(journal):  # reports in flight when an earlier run was killed
            log.warning("reports in flight when an earlier run stopped are sent again")
    shared = RunContext(
        settings,
        metadata,
        session,
        root,
        packaging,
        stop=stop,
        deadline=deadline,
        outbox=outbox,
        journal=journal,
    )
    try:
        with catch_signals(stop):
            if settings.combine:
                with ThreadPoolExecutor(settings.parallel, thread_name_prefix="jux") as pool:
                    results = process_combined(discovery.files, shared, pool)
            else:
                results = tuple(
                    run_all(
                        discovery.files,
                        lambda f: process_file(f, shared),
                        parallel=workers_for(settings),
                        stop=stop,
                        grace=interrupt_grace(settings),
                        on_abandon=lambda f, started: abandoned_result(f, started, shared),
                    )
                )
    finally:
        if session is not None:
            session.close()
        if outbox is not None:
            outbox.close()
        journal.close()
    return replace(
        base,
        files=results,
        duration=time.monotonic() - started,
        server_version=server_version,
        interrupted=stop.is_set(),
    )


def workers_for(settings: Settings) -> int:
    """Threads for the per-file work: ``--parallel`` when requests are sent; one in a dry run.

    Without network waits to overlap, the work is pure Python and lxml holding the GIL, and
    threads only hand the lock back and forth between cores (a dry run over 2,000 reports took
    2.4x as long with 4 threads as with 1 on 2 cores: benchmarks/RESULTS.md).
    """
    return 1 if settings.dry_run else settings.parallel


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


def process_file(file: ReportFile, shared: RunContext) -> FileResult:
    """Validate, enrich, build and (unless dry run) submit one report."""
    started = time.monotonic()
    settings = shared.settings
    accepted = skip_if_accepted(file, shared)
    if accepted is not None:
        return accepted
    checked = validate_report(file, huge_tree=settings.huge_xml)
    if isinstance(checked, ValidationProblem):
        log.error("%s: invalid: %s", file.relpath, checked)
        return FileResult(
            path=file.relpath,
            status=Status.INVALID,
            size=file.size,
            error=FileError("invalid", str(checked), INVALID_SUGGESTIONS),
            line=checked.line,
            column=checked.column,
            duration=time.monotonic() - started,
        )
    payload = prepare_payload(checked, shared.metadata, settings, packaging=shared.packaging)
    base = pending_result(file.relpath, checked.report.counts, payload)
    return dispatch_payload(base, payload, shared, started, source=checked.content)


def dispatch_payload(
    base: FileResult,
    payload: Payload,
    shared: RunContext,
    started: float,
    *,
    source: bytes | None = None,
) -> FileResult:
    """Log the payload's warnings, refuse it when over the size limit, else send it (or stop
    there in a dry run). ``source`` is the report file's content when already read whole."""
    settings = shared.settings
    for warning in payload.warnings:
        # attachment warnings already name their report (they also serve combined runs)
        prefixed = warning.startswith(f"{base.path}: ")
        log.warning("%s", warning if prefixed else f"{base.path}: {warning}")
    is_limited = payload.mode is PayloadMode.PACKAGE or settings.combine
    too_big = check_package_size(payload, settings.max_package_size) if is_limited else None
    if too_big is not None:
        log.error("%s: not sent: %s", base.path, too_big.message)
        return base.with_status(
            Status.REJECTED,
            error=FileError(too_big.kind, too_big.message, too_big.suggestions),
            duration=time.monotonic() - started,
        )
    if settings.dry_run or shared.session is None or shared.root is None:
        log.info("%s: would send %d bytes to %s", base.path, payload.size, payload.endpoint)
        return base.with_status(Status.DRY_RUN, duration=time.monotonic() - started)
    return send_payload(base, payload, shared, started, source=source)


def process_combined(
    files: tuple[ReportFile, ...], shared: RunContext, pool: ThreadPoolExecutor
) -> tuple[FileResult, ...]:
    """``--combine``: validate every file, merge the valid ones into one submission.

    Invalid reports keep their own result; reports carrying an XML signature are sent on
    their own (merging would break the signature). The combined result comes last.
    """
    from jux_submit.combine import prepare_combined_payload

    started = time.monotonic()
    settings = shared.settings
    # every result is held until the merge: without the file bytes (memory stays as before)
    checked = list(
        pool.map(
            lambda f: validate_report(f, huge_tree=settings.huge_xml, keep_content=False), files
        )
    )
    alone = [
        f
        for f, c in zip(files, checked, strict=True)
        if isinstance(c, ValidationProblem) or c.report.is_signed
    ]
    merged = [c.report for c in checked if isinstance(c, Validated) and not c.report.is_signed]
    results = list(pool.map(lambda f: process_file(f, shared), alone))
    if not merged:
        return tuple(results)
    payload = prepare_combined_payload(
        merged, shared.metadata, settings, packaging=shared.packaging
    )
    counts = merged[0].counts
    for report in merged[1:]:
        counts = counts + report.counts
    base = pending_result(f"combined ({len(merged)} reports)", counts, payload, is_file=False)
    log.info("combined %d report(s) into one submission", len(merged))
    results.append(dispatch_payload(base, payload, shared, started))
    return tuple(results)


def send_payload(
    base: FileResult,
    payload: Payload,
    shared: RunContext,
    started: float,
    *,
    source: bytes | None = None,
) -> FileResult:
    """Submit a prepared payload and turn the outcome into the file's result.

    Issue 6: the exact bytes are written to the outbox *before* the request (a killed run
    leaves them behind) and removed after a 201, which is also recorded in the journal. When
    an earlier run left the same report pending, its stored bytes are sent instead (same
    ``Idempotency-Key``). No request starts once the run is interrupted or past its deadline.
    ``source`` is the report file's content when already read whole (its journal key is then
    hashed from it rather than from the file read again).
    """
    from jux_submit.submit import SubmitOutcome, submit_payload

    if shared.session is None or shared.root is None:
        raise ValueError("send_payload needs a session and a server root")
    settings = shared.settings
    key = source_key_for(base.path, payload, settings, source=source)
    entry, resumed, keep_problem, is_held = None, None, None, False
    if shared.outbox is not None:
        try:
            resumed = shared.outbox.entry_for(key)
            if resumed is not None:
                entry, payload = resumed, resumed.to_payload()
                log.info("%s: sending the copy an earlier run left in the outbox", base.path)
            elif payload.body is not None:
                shared.outbox.hold(payload, key)
                is_held = True
            else:  # streamed from disk: a plain entry (its size dwarfs creating two files)
                entry = shared.outbox.write(payload, key, state=EntryState.SENDING)
        except OSError as exc:
            keep_problem = f"it could not be kept in the outbox: {exc.strerror or exc}"
            log.warning("%s: %s", base.path, keep_problem)
    stopping = stopping_error(shared.stop, shared.deadline, settings)
    if stopping is not None:
        outcome = SubmitOutcome(None, 0, error=stopping)
    else:
        outcome = submit_payload(shared.session, shared.root, payload, settings)
    elapsed = time.monotonic() - started
    warnings = base.warnings + outcome.warnings
    if outcome.error is None:
        log.info("%s: submitted, test run %s", base.path, outcome.test_run_id or "(no id)")
        if resumed is not None and resumed.state is EntryState.SENDING:
            warnings += (POSSIBLE_DUPLICATE_WARNING,)
        record_accepted(key, outcome.test_run_id, entry, shared)
        if is_held and shared.outbox is not None:
            shared.outbox.release(key)
        return base.with_status(
            Status.SUBMITTED,
            test_run_id=outcome.test_run_id,
            http_status=outcome.http_status,
            attempts=outcome.attempts,
            warnings=warnings,
            duration=elapsed,
        )
    err = outcome.error
    # Only a refusal of the content itself is final; everything else (network, timeout, 429,
    # 5xx, 401/403, redirect, deadline, interruption) is kept to be sent again.
    status = Status.REJECTED if is_content_rejection(err) else Status.FAILED
    suggestions = tuple(s for s in (err.hint, *err.suggestions) if s)
    kept: str | None = None
    if is_held and shared.outbox is not None:
        try:  # from the slot to a real entry, then free the slot
            entry = shared.outbox.write(payload, key, state=EntryState.SENDING)
        except OSError as exc:
            keep_problem = f"it could not be kept in the outbox: {exc.strerror or exc}"
        shared.outbox.release(key)
    if entry is not None and shared.outbox is not None:
        try:
            if status is Status.REJECTED:
                kept = str(
                    shared.outbox.reject(
                        entry, err, outcome.http_status, outcome.attempts
                    ).payload_path
                )
            else:
                shared.outbox.update(
                    entry,
                    state=EntryState.PENDING,
                    error=err,
                    http_status=outcome.http_status,
                    attempts=outcome.attempts,
                )
                kept = str(entry.payload_path)
        except OSError as exc:
            keep_problem = f"it could not be kept in the outbox: {exc.strerror or exc}"
    if keep_problem and status is Status.FAILED:
        suggestions += (keep_problem,)
    log.error("%s: %s: %s", base.path, status.value, err.message)
    return base.with_status(
        status,
        http_status=outcome.http_status,
        attempts=outcome.attempts,
        error=FileError(err.kind, err.message, suggestions),
        warnings=warnings,
        outbox_path=kept if status is Status.FAILED else None,
        duration=elapsed,
    )


def source_key_for(
    path: str, payload: Payload, settings: Settings, *, source: bytes | None = None
) -> SourceKey:
    """The journal key of a report: its path and content hash (a combined submission, which
    has no single source file, is keyed by its own body hash). ``source`` is the file's
    content when already read whole: it is hashed instead of reading the file again."""
    if source is not None:
        return SourceKey(path, hashlib.sha256(source).hexdigest())
    try:
        return SourceKey(path, hash_file(settings.working_directory / path))
    except OSError:
        return SourceKey(path, payload.sha256)


def record_accepted(
    key: SourceKey, test_run_id: str | None, entry: OutboxEntry | None, shared: RunContext
) -> None:
    """After a 201: journal first, then drop the outbox entry (a kill in between leaves an
    entry the next run or ``resubmit`` drops unsent, never a second copy)."""
    try:
        if shared.journal is not None:
            shared.journal.record(key, test_run_id)
        if entry is not None and shared.outbox is not None:
            shared.outbox.remove(entry)
    except OSError as exc:
        log.warning("%s: accepted, but the outbox journal could not be updated: %s", key.path, exc)


def skip_if_accepted(file: ReportFile, shared: RunContext) -> FileResult | None:
    """A SKIPPED result when this exact file (path + content) was accepted by an earlier run
    in this workspace, per the journal; None otherwise (the usual case costs a dict lookup)."""
    journal = shared.journal
    if journal is None or not journal.has_path(file.relpath):
        return None
    try:
        key = SourceKey(file.relpath, hash_file(file.path))
    except OSError:
        return None
    earlier = journal.accepted_run(key)
    if earlier is None:
        return None
    if shared.outbox is not None:  # a run killed between journal and clean-up left a copy
        stale = shared.outbox.entry_for(key)
        if stale is not None:
            shared.outbox.remove(stale)
    log.info("%s: already accepted (test run %s), not sent again", file.relpath, earlier or "?")
    return FileResult(
        path=file.relpath,
        status=Status.SKIPPED,
        size=file.size,
        test_run_id=earlier or None,
    )


def abandoned_result(file: ReportFile, was_started: bool, shared: RunContext) -> FileResult:
    """The result of a file the interrupted run stopped waiting for."""
    kept = None
    if shared.outbox is not None:
        held = shared.outbox.held.get(file.relpath)
        if held is not None:  # in flight: keep a real entry (its answer may still come)
            with contextlib.suppress(OSError):
                shared.outbox.write(held[0], held[1], state=EntryState.SENDING)
        kept = shared.outbox.written.get(file.relpath)
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


def prepare_payload(
    checked: Validated,
    metadata: Metadata,
    settings: Settings,
    *,
    packaging: PackagingPlan | None = None,
    mode: Mode | None = None,
) -> Payload:
    """Enrich the report (unless signed) and build what will be sent: raw XML, or a ``.jxz``
    package when ``--mode`` (or ``mode``, which overrides it) says so; see ``decide_mode``.
    Raises ``jxz.SignatureError`` if signing fails."""
    report = checked.report
    file = report.file
    plan = packaging or PackagingPlan()
    content = checked.content  # the whole file when small: not read again below
    decision = decide_mode([file], settings, plan, mode=mode, contents=(content,))
    if report.is_signed:
        add: tuple[tuple[str, str], ...] = ()
        splice = Splice(b"", 0)
        warnings: tuple[str, ...] = (SIGNED_WARNING, *decision.warnings)
    else:
        add, remove = plan_properties(checked.first_suite_properties, metadata, file.relpath)
        splice = enrich_file(file.path, file.size, add, remove, report.encoding, content=content)
        warnings = decision.warnings
    if decision.mode is PayloadMode.PACKAGE:
        if content is not None:
            xml = splice.head + content[splice.resume_at :]
        else:
            with file.path.open("rb") as handle:
                handle.seek(splice.resume_at)
                xml = splice.head + handle.read()
        return build_package_payload(
            xml,
            decision.attachments,
            reason=decision.reason,
            signing=plan.signing,
            properties_added=add,
            warnings=warnings,
        )
    return build_raw_payload(
        file.path,
        file.size,
        splice,
        reason=decision.reason,
        properties_added=add,
        warnings=warnings,
        content=content,
    )
