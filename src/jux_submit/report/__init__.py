"""Reporters: turn a ``RunSummary`` into text (pure ``render_*``) and put it where it belongs.

``console`` (stdout summary), ``json_report`` (the JSON file), and the CI-native reporters
returned by ``ci_reporters`` (GitHub Actions, GitLab CI), which ``cli`` calls around the run.
Escaping per channel lives in ``escape``, safe writes of output files in ``files``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from jux_submit.models import RunSummary
    from jux_submit.redact import Redactor
    from jux_submit.settings import Settings


class Reporter(Protocol):
    """A CI-native output: ``start`` before the run (mask secrets, open the log group),
    ``end_logs`` when the run's log ends, ``finish`` with its summary."""

    def start(self, settings: Settings) -> None: ...

    def end_logs(self) -> None: ...

    def finish(self, summary: RunSummary, settings: Settings, results_file: str | None) -> None: ...


def ci_reporters(environ: Mapping[str, str], redactor: Redactor) -> list[Reporter]:
    """The reporters for the CI this run is in (none outside a known CI)."""
    reporters: list[Reporter] = []
    if environ.get("GITHUB_ACTIONS", "").lower() == "true":
        from jux_submit.report.github import GithubReporter

        reporters.append(GithubReporter(environ, redactor))
    if environ.get("GITLAB_CI", "").lower() == "true":
        from jux_submit.report.gitlab import GitlabReporter

        reporters.append(GitlabReporter(environ, redactor))
    return reporters
