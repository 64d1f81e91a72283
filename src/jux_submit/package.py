"""Package mode: choose raw or ``.jxz`` for a report, and ``jux-submit package`` (local build).

``prepare_packaging`` loads what a run's packages share (signing key, ``--attach`` files)
once, before any network call; ``decide_mode`` applies ``--mode`` to one report (or to the
reports of a combined submission); ``run_package_command`` writes the packages to a folder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from jux_submit.attachments import (
    AttachmentSet,
    collect_globbed,
    find_references,
    resolve_references,
    unique_names,
)
from jux_submit.errors import ExitCode
from jux_submit.models import Attachment, Payload, PayloadMode, ReportFile, ValidationProblem
from jux_submit.settings import IfNoFilesFound, Mode

if TYPE_CHECKING:
    from jux_submit.redact import Redactor
    from jux_submit.settings import Settings
    from jux_submit.signing import SigningMaterial

log = logging.getLogger("jux_submit")


@dataclass(frozen=True)
class PackagingPlan:
    """What every package of a run shares: the signing material and the ``--attach`` files."""

    signing: SigningMaterial | None = None
    extra: AttachmentSet = field(default_factory=AttachmentSet)


@dataclass(frozen=True)
class ModeDecision:
    """Raw or package for one submission, why, and the attachments it carries."""

    mode: PayloadMode
    reason: str
    attachments: tuple[Attachment, ...] = ()
    warnings: tuple[str, ...] = ()


def prepare_packaging(settings: Settings, *, mode: Mode | None = None) -> PackagingPlan:
    """Load the signing key/certificate and expand ``--attach`` globs, once per run.

    Nothing is loaded in raw mode (a configured key is then only mentioned in the log).
    Raises ``ConfigError`` for an unusable key or certificate.
    """
    effective = mode or settings.mode
    if effective is Mode.RAW:
        if settings.signing_key or settings.attachments:
            log.warning("--mode raw: the signing key and --attach files are not used")
        return PackagingPlan()
    signing = None
    if settings.signing_key or settings.signing_cert:
        from jux_submit.signing import load_signing  # cryptography: only when signing

        signing = load_signing(settings)
    if signing is not None:
        log.info("packages are signed with a %s key", signing.algorithm)
    extra = (
        collect_globbed(settings.attachments, settings.working_directory)
        if settings.attachments
        else AttachmentSet()
    )
    for warning in extra.warnings:
        log.warning("%s", warning)
    # the warnings were logged once here; each package only carries the files
    return PackagingPlan(signing, AttachmentSet(extra.attachments))


def decide_mode(
    reports: Sequence[ReportFile],
    settings: Settings,
    plan: PackagingPlan,
    *,
    mode: Mode | None = None,
    contents: Sequence[bytes | None] = (),
) -> ModeDecision:
    """Apply ``--mode`` (``mode`` overrides it): ``auto`` sends a package when at least one
    attachment was actually found and allowed, or a signing key is configured; else raw.

    ``contents`` may give, in the order of ``reports``, the bytes of reports already read
    whole (None for the others), so that they are not read again."""
    effective = mode or settings.mode
    if effective is Mode.RAW:
        return ModeDecision(PayloadMode.RAW, "raw: mode is raw")
    found = AttachmentSet()
    for index, report in enumerate(reports):
        content = contents[index] if index < len(contents) else None
        refs = find_references(report.path, huge_tree=settings.huge_xml, content=content)
        found = found + resolve_references(refs, report, settings.working_directory)
    attachments = unique_names(found.attachments + plan.extra.attachments)
    count = f"{len(attachments)} attachment(s)"
    if effective is Mode.PACKAGE:
        reason = f"package: mode is package ({count})"
    elif attachments:
        reason = f"package: {count} found"
    elif plan.signing is not None:
        reason = "package: a signing key is configured"
    else:
        return ModeDecision(
            PayloadMode.RAW, "raw: no attachments found and no signing key", (), found.warnings
        )
    if plan.signing is not None:
        reason += f"; signed ({plan.signing.algorithm})"
    return ModeDecision(PayloadMode.PACKAGE, reason, attachments, found.warnings)


def package_file_name(relpath: str) -> str:
    """``build/test-results/TEST-a.xml`` → ``build__test-results__TEST-a.jxz``."""
    stem = relpath.strip("/").replace("\\", "/")
    if stem.lower().endswith(".xml"):
        stem = stem[:-4]
    stem = "__".join(part for part in stem.split("/") if part not in ("", ".", ".."))
    return (stem or "report") + ".jxz"


def _write(out_dir: Path, name: str, payload: Payload, used: set[str]) -> Path:
    base = name[: -len(".jxz")]
    n = 2
    while name in used:
        name = f"{base}-{n}.jxz"
        n += 1
    used.add(name)
    dest = out_dir / name
    dest.write_bytes(payload.body or b"")
    return dest


def _describe(relpath: str, dest: Path, payload: Payload) -> list[str]:
    lines = [
        f"{relpath}  ->  {dest}  ({payload.size:,} bytes, {len(payload.entries)} entries; "
        f"{payload.mode_reason})"
    ]
    lines.extend(f"    {name}  {size:,} bytes" for name, size in payload.entries)
    return lines


def run_package_command(settings: Settings, out: TextIO, redact: Redactor) -> int:
    """Write one ``.jxz`` per valid report (or one for ``--combine``) into
    ``settings.output_dir``, exactly as a submission would build it, with no network.

    Returns 0, 1 when a report was invalid or over the size limit, or 3 when nothing matched
    and ``if-no-files-found`` is ``error``. Raises ``ConfigError`` for an unusable signing key
    or an output folder that cannot be created.
    """
    from jux_submit.discover import discover_reports
    from jux_submit.errors import ConfigError
    from jux_submit.payload import check_package_size
    from jux_submit.pipeline import metadata_for, prepare_payload, resolve_context
    from jux_submit.validate import validate_report

    if settings.output_dir is None:
        raise ConfigError("--output-dir is required for 'jux-submit package'")
    plan = prepare_packaging(settings, mode=Mode.PACKAGE)
    context = resolve_context(settings)
    discovery = discover_reports(settings.reports, settings.working_directory)
    for warning in discovery.warnings:
        log.warning("%s", warning)
    if not discovery.files:
        out.write(f"no JUnit reports found (patterns: {', '.join(settings.reports)})\n")
        is_error = settings.if_no_files_found is IfNoFilesFound.ERROR
        return int(ExitCode.NO_REPORTS if is_error else ExitCode.OK)
    metadata = metadata_for(context, settings)
    try:
        settings.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--output-dir: cannot create {settings.output_dir}: {exc.strerror or exc}"
        ) from None

    lines: list[str] = []
    failed = 0
    used: set[str] = set()
    built: list[tuple[str, Payload]] = []
    valid = []
    for file in discovery.files:
        checked = validate_report(file, huge_tree=settings.huge_xml)
        if isinstance(checked, ValidationProblem):
            lines.append(f"{file.relpath}  INVALID  {checked}; no package written")
            failed += 1
            continue
        valid.append(checked)
    if settings.combine and valid:
        from jux_submit.combine import prepare_combined_payload

        payload = prepare_combined_payload(
            [v.report for v in valid], metadata, settings, packaging=plan, mode=Mode.PACKAGE
        )
        built.append(("combined.xml", payload))
    else:
        for checked in valid:
            payload = prepare_payload(
                checked, metadata, settings, packaging=plan, mode=Mode.PACKAGE
            )
            built.append((checked.report.file.relpath, payload))
    for relpath, payload in built:
        for warning in payload.warnings:
            log.warning("%s: %s", relpath, warning)
        too_big = check_package_size(payload, settings.max_package_size)
        if too_big is not None:
            lines.append(f"{relpath}  TOO LARGE  {too_big.message}")
            lines.extend(f"    hint: {tip}" for tip in too_big.suggestions)
            failed += 1
            continue
        dest = _write(settings.output_dir, package_file_name(relpath), payload, used)
        lines.extend(_describe(relpath, dest, payload))
    written = len(used)
    lines.append(
        f"total: {written} package(s) written to {settings.output_dir}"
        + (f"; {failed} report(s) not packaged" if failed else "")
    )
    out.write(redact("\n".join(lines) + "\n"))
    return int(ExitCode.REPORTS_FAILED if failed else ExitCode.OK)
