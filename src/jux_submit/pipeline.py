"""The run, top to bottom: detect → discover → validate → enrich → payload → submit.

``run`` returns a ``RunSummary``; it prints nothing (reporters do) and raises only for
run-level problems. Each file goes through its stages in a worker thread, up to ``parallel``
at once; a problem with one file becomes that file's result.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from jux_submit.detect import apply_overrides, default_project, detect_context
from jux_submit.discover import discover_reports
from jux_submit.enrich import Metadata, Splice, build_metadata, enrich_file, plan_properties
from jux_submit.models import (
    CIContext,
    FileError,
    FileResult,
    Payload,
    PayloadMode,
    ReportFile,
    RunSummary,
    Status,
    ValidationProblem,
)
from jux_submit.package import PackagingPlan, decide_mode, prepare_packaging
from jux_submit.payload import build_package_payload, build_raw_payload, check_package_size
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


@dataclass(frozen=True)
class RunContext:
    """What every file's worker shares (read-only)."""

    settings: Settings
    metadata: Metadata
    session: requests.Session | None
    root: str | None
    packaging: PackagingPlan = field(default_factory=PackagingPlan)


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

    metadata = build_metadata(
        context,
        cwd=settings.working_directory,
        explicit_names=explicit_property_names(settings),
        environment=settings.environment,
        tags=settings.tags,
        env_vars=settings.env_var,
        environ=settings.environ,
    )

    # signing key and --attach files: loaded once, a ConfigError here comes before any request
    packaging = prepare_packaging(settings)
    session = None
    server_version = None
    root = settings.server_root
    if not settings.dry_run and root:
        from jux_submit.transport import build_session, fetch_server_version

        session = build_session(settings, deadline=started + settings.deadline)
        server_version = fetch_server_version(session, root, settings)
        check_server_version(server_version)

    shared = RunContext(settings, metadata, session, root, packaging)
    try:
        with ThreadPoolExecutor(max_workers=settings.parallel, thread_name_prefix="jux") as pool:
            if settings.combine:
                results = process_combined(discovery.files, shared, pool)
            else:
                results = tuple(pool.map(lambda f: process_file(f, shared), discovery.files))
    finally:
        if session is not None:
            session.close()
    return replace(
        base, files=results, duration=time.monotonic() - started, server_version=server_version
    )


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
    base = FileResult(
        path=file.relpath,
        status=Status.DRY_RUN,
        counts=checked.report.counts,
        mode=payload.mode,
        mode_reason=payload.mode_reason,
        size=payload.size,
        endpoint=payload.endpoint,
        warnings=payload.warnings,
        properties_added=payload.properties_added,
        entries=payload.entries,
    )
    return dispatch_payload(base, payload, shared, started)


def dispatch_payload(
    base: FileResult, payload: Payload, shared: RunContext, started: float
) -> FileResult:
    """Log the payload's warnings, refuse it when over the size limit, else send it (or stop
    there in a dry run)."""
    settings = shared.settings
    for warning in payload.warnings:
        log.warning("%s: %s", base.path, warning)
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
    return send_payload(base, payload, shared, started)


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
    checked = list(pool.map(lambda f: validate_report(f, huge_tree=settings.huge_xml), files))
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
    base = FileResult(
        path=f"combined ({len(merged)} reports)",
        status=Status.DRY_RUN,
        counts=counts,
        mode=payload.mode,
        mode_reason=payload.mode_reason,
        size=payload.size,
        endpoint=payload.endpoint,
        warnings=payload.warnings,
        properties_added=payload.properties_added,
        entries=payload.entries,
    )
    log.info("combined %d report(s) into one submission", len(merged))
    results.append(dispatch_payload(base, payload, shared, started))
    return tuple(results)


def send_payload(
    base: FileResult, payload: Payload, shared: RunContext, started: float
) -> FileResult:
    """Submit a prepared payload and turn the outcome into the file's result."""
    from jux_submit.submit import submit_payload

    if shared.session is None or shared.root is None:
        raise ValueError("send_payload needs a session and a server root")
    outcome = submit_payload(shared.session, shared.root, payload, shared.settings)
    elapsed = time.monotonic() - started
    warnings = base.warnings + outcome.warnings
    if outcome.error is None:
        log.info("%s: submitted, test run %s", base.path, outcome.test_run_id or "(no id)")
        return base.with_status(
            Status.SUBMITTED,
            test_run_id=outcome.test_run_id,
            http_status=outcome.http_status,
            attempts=outcome.attempts,
            warnings=warnings,
            duration=elapsed,
        )
    err = outcome.error
    status = Status.FAILED if err.is_retryable else Status.REJECTED
    suggestions = tuple(s for s in (err.hint, *err.suggestions) if s)
    log.error("%s: %s: %s", base.path, status.value, err.message)
    return base.with_status(
        status,
        http_status=outcome.http_status,
        attempts=outcome.attempts,
        error=FileError(err.kind, err.message, suggestions),
        warnings=warnings,
        duration=elapsed,
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
    decision = decide_mode([file], settings, plan, mode=mode)
    if report.is_signed:
        add: tuple[tuple[str, str], ...] = ()
        splice = Splice(b"", 0)
        warnings: tuple[str, ...] = (SIGNED_WARNING, *decision.warnings)
    else:
        add, remove = plan_properties(checked.first_suite_properties, metadata, file.relpath)
        splice = enrich_file(file.path, file.size, add, remove, report.encoding)
        warnings = decision.warnings
    if decision.mode is PayloadMode.PACKAGE:
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
    )
