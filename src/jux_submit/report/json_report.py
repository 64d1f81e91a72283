"""The JSON result: ``schema_version``, settings without secrets, one object per file, totals."""

from __future__ import annotations

import json
import math
from typing import Any

from jux_submit import __version__
from jux_submit.models import FileResult, RunSummary, Status
from jux_submit.report.changes import format_test_run_url
from jux_submit.report.escape import guard_json_text
from jux_submit.settings import Settings

SCHEMA_VERSION = 1


def file_to_dict(result: FileResult) -> dict[str, Any]:
    counts = result.counts
    return {
        "path": result.path,
        "status": result.status.value,
        "tests": counts.tests if counts else None,
        "failures": counts.failures if counts else None,
        "errors": counts.errors if counts else None,
        "skipped": counts.skipped if counts else None,
        "time": counts.time if counts else None,
        "mode": result.mode.value if result.mode else None,
        "mode_reason": result.mode_reason,
        "size": result.size,
        "endpoint": result.endpoint,
        "test_run_id": result.test_run_id,
        "http_status": result.http_status,
        "attempts": result.attempts,
        "error": None
        if result.error is None
        else {
            "kind": result.error.kind,
            "message": result.error.message,
            "suggestions": list(result.error.suggestions),
        },
        "line": result.line,
        "column": result.column,
        "warnings": list(result.warnings),
        "properties_added": {name: value for name, value in result.properties_added},
        "entries": [{"name": n, "size": s} for n, s in result.entries],
        "outbox_path": result.outbox_path,
        "source_format": result.source_format,
        "repaired": result.repaired,
        "unapplied": list(result.unapplied),
        "note": result.note,
        "source_count": result.source_count,
        "duration": round(result.duration, 4),
    }


def summary_to_dict(summary: RunSummary, settings: Settings) -> dict[str, Any]:
    totals = summary.totals
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "jux-submit", "version": __version__},
        "dry_run": summary.dry_run,
        "server_root": summary.server_root,
        "server_version": summary.server_version,
        "settings": settings.summary(),
        "context": summary.context.to_dict(),
        "files": [file_to_dict(f) for f in summary.files],
        "earlier": [file_to_dict(f) for f in summary.earlier],
        "ignored": list(summary.ignored),
        "totals": {
            "files": sum(f.source_count for f in summary.files),
            "results": len(summary.files),
            #: report files per status; adds up to ``files`` (the top-level status keys count
            #: results, and "skipped" there is the number of skipped tests, kept as it was)
            "files_by_status": summary.files_by_status(),
            **{s.value: summary.count(s) for s in Status},
            "tests": totals.tests,
            "failures": totals.failures,
            "errors": totals.errors,
            "skipped": totals.skipped,
            "test_run_ids": list(summary.test_run_ids),
        },
        "no_reports": summary.no_reports,
        "interrupted": summary.interrupted,
        "warnings": list(summary.warnings),
        "notes": list(summary.notes),
        "outbox": summary.outbox,
        "pending_earlier": summary.pending_earlier,
        "pending_after": summary.pending_after,
        "duration": round(summary.duration, 4),
        "comparison": _comparison(summary),
    }


def _comparison(summary: RunSummary) -> dict[str, Any] | None:
    c = summary.comparison
    if c is None:
        return None
    out = c.to_dict()
    run = c.base_run_id
    out["base_url"] = format_test_run_url(summary.server_root, run) if run else None
    return out


def strict_json_value(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (a report's ``time="NaN"``
    or ``time="1e400"``): JSON has no such numbers, and the result must always parse."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: strict_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json_value(item) for item in value]
    return value


def render_json(summary: RunSummary, settings: Settings) -> str:
    """The JSON document (stable key order, ends with a newline): strict JSON (no NaN or
    Infinity), and safe to print to a CI log (``guard_json_text``) with the same value."""
    document = strict_json_value(summary_to_dict(summary, settings))
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    return guard_json_text(text) + "\n"
