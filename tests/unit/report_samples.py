"""Run summaries shared by the GitHub and GitLab reporter tests, and the golden-file check."""

from __future__ import annotations

from pathlib import Path

from jux_submit.models import CIContext, Counts, FileError, FileResult, RunSummary, Status

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def check_golden(relpath: str, text: str, update: bool) -> None:
    """Compare ``text`` with ``tests/golden/<relpath>``, or rewrite it with --update-golden."""
    path = GOLDEN / relpath
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        return
    assert path.exists(), f"missing golden file {path}; run pytest --update-golden"
    assert text == path.read_text(encoding="utf-8"), f"{relpath} differs; see --update-golden"


def mixed_summary() -> RunSummary:
    """One report of every outcome, with text that needs escaping."""
    return RunSummary(
        files=(
            FileResult(
                path="build/test-results/TEST-com.example.CartTest.xml",
                status=Status.SUBMITTED,
                counts=Counts(tests=4, failures=0, errors=0, skipped=1, time=0.4),
                test_run_id="run-101",
                http_status=201,
                attempts=1,
            ),
            FileResult(
                path="reports/pytest|junit.xml",
                status=Status.SUBMITTED,
                counts=Counts(tests=5, failures=1, errors=0, skipped=1, time=1.7),
                test_run_id="run-102",
                warnings=("property 'ci:branch' already set; kept the report's value",),
            ),
            FileResult(
                path="reports/broken, really.xml",
                status=Status.INVALID,
                counts=None,
                error=FileError(
                    kind="invalid-xml",
                    message="XML syntax error: mismatched tag: 100% broken\nsecond line",
                ),
                line=12,
                column=5,
            ),
            FileResult(
                path="reports/huge.xml",
                status=Status.REJECTED,
                counts=Counts(tests=9000, failures=0, errors=0, skipped=0),
                http_status=413,
                error=FileError(
                    kind="payload-too-large",
                    message="the server refused the report: too large (413)",
                    suggestions=("split the report", "use --mode package"),
                ),
            ),
            FileResult(
                path="reports/jest-junit.xml",
                status=Status.FAILED,
                counts=Counts(tests=3, failures=0, errors=1, skipped=0),
                error=FileError(kind="server-error", message="server error 503 after 4 attempts"),
                outbox_path=".jux-outbox/0001-jest-junit.json",
            ),
        ),
        context=CIContext(is_ci=True, provider="github", branch="main"),
        server_root="https://jux.example.com",
        dry_run=False,
        duration=2.5,
        warnings=("api-url ends with /api/v1; using https://jux.example.com as the server root",),
        patterns=("**/*.xml",),
    )


def empty_summary() -> RunSummary:
    return RunSummary(
        files=(),
        context=CIContext(),
        server_root=None,
        dry_run=True,
        no_reports=True,
        patterns=("test-results/*.xml",),
    )


def many_summary(n: int) -> RunSummary:
    files = tuple(
        FileResult(
            path=f"reports/module_{i:05d}/TEST-very.long.package.name.SomeTestClass{i}.xml",
            status=Status.INVALID if i % 7 == 0 else Status.SUBMITTED,
            counts=Counts(tests=10, failures=i % 3, errors=0, skipped=0),
            test_run_id=None if i % 7 == 0 else f"run-{i}",
            error=FileError(kind="invalid", message="not JUnit: " + "x" * 300)
            if i % 7 == 0
            else None,
        )
        for i in range(n)
    )
    return RunSummary(
        files=files,
        context=CIContext(),
        server_root="https://jux.example.com",
        dry_run=False,
        warnings=("a run warning",),
    )
