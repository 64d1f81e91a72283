"""``jux-submit package PATTERN... --output-dir DIR``: build the ``.jxz`` packages locally.

Exactly what a submission would send, written to a folder, with no network. Returns a
``PackageReport`` (lines to show and what happened); ``cli`` prints it and picks the exit code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jux_submit.combine import prepare_combined_payload
from jux_submit.discover import discover_reports
from jux_submit.errors import ConfigError
from jux_submit.models import Payload, ValidationProblem
from jux_submit.payload import check_package_size
from jux_submit.prepare import (
    check_report,
    metadata_for,
    prepare_packaging,
    prepare_payload,
    resolve_context,
)
from jux_submit.settings import Mode

if TYPE_CHECKING:
    from jux_submit.settings import Settings

log = logging.getLogger("jux_submit")


@dataclass(frozen=True)
class PackageReport:
    """What ``package`` did: the lines to show, packages written, reports not packaged."""

    lines: tuple[str, ...]
    written: int = 0
    failed: int = 0
    no_reports: bool = False


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


def run_package(settings: Settings) -> PackageReport:
    """Write one ``.jxz`` per valid report (or one for ``--combine``) into
    ``settings.output_dir``, exactly as a submission would build it, with no network.

    Raises ``ConfigError`` for an unusable signing key or an output folder that cannot be
    created.
    """
    if settings.output_dir is None:
        raise ConfigError("--output-dir is required for 'jux-submit package'")
    plan = prepare_packaging(settings, mode=Mode.PACKAGE)
    context = resolve_context(settings)
    discovery = discover_reports(settings.reports, settings.working_directory)
    for warning in discovery.warnings:
        log.warning("%s", warning)
    if not discovery.files:
        return PackageReport(
            (f"no JUnit reports found (patterns: {', '.join(settings.reports)})",),
            no_reports=True,
        )
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
        checked = check_report(file, settings)[1]
        if isinstance(checked, ValidationProblem):
            if checked.is_not_a_report and settings.sources.get("reports") == "default":
                continue  # a default pattern's guess that is no test report
            lines.append(f"{file.relpath}  INVALID  {checked}; no package written")
            failed += 1
            continue
        valid.append(checked)
    if settings.combine and valid:
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
    return PackageReport(tuple(lines), written=written, failed=failed)
