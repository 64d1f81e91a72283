"""The pull/merge-request comment after a submission: find the request, render the comment
from the run's summary, and upsert it (``review.py``). Never fails the run: every problem is
one line, a warning when the user has to act (a missing permission)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from jux_submit.models import RunSummary
from jux_submit.report.changes import render_comment
from jux_submit.report.github import redact_summary
from jux_submit.review import (
    COMMENT_LIMIT,
    Outcome,
    find_target,
    insecure_problem,
    marker_for,
    upsert,
)
from jux_submit.settings import PrComment, Settings

log = logging.getLogger("jux_submit")


def publish_comment(
    summary: RunSummary, settings: Settings, redact: Callable[[str], str]
) -> Outcome | None:
    """Keep the one comment of this project on the build's pull/merge request (``--pr-comment``);
    None when there is nothing to do (off, a dry run, an interrupted run). Never raises: the
    comment is a courtesy, never a reason for the run to fail."""
    if settings.pr_comment is PrComment.OFF or summary.dry_run or summary.interrupted:
        return None
    # what is left of the run's deadline (the run itself took ``summary.duration``)
    left = settings.deadline - summary.duration
    try:
        outcome = _publish(
            summary, settings, redact, seconds=min(COMMENT_LIMIT, settings.timeout, left)
        )
    except Exception as exc:  # a bug here must not cost the run its summary
        outcome = Outcome(
            f"no comment: unexpected {type(exc).__name__}: {redact(str(exc))[:200]}",
            is_warning=True,
        )
    log.log(logging.WARNING if outcome.is_warning else logging.INFO, "%s", redact(outcome.note))
    return outcome


def _publish(
    summary: RunSummary, settings: Settings, redact: Callable[[str], str], *, seconds: float
) -> Outcome:
    comparison = summary.comparison
    has_changes = comparison is not None and comparison.has_changes
    target = find_target(settings, summary.context)
    if isinstance(target, Outcome):
        return target
    problem = insecure_problem(target, settings)
    from jux_submit.transport import ApiClient, api_proxy_problems

    problems = api_proxy_problems(target.api_root, target.token, settings)
    if problem is not None or problems:
        return Outcome(problem or f"no comment on {target.where}: {problems[0]}", is_warning=True)
    marker = marker_for(summary.context.project or "")
    body = redact(
        render_comment(
            redact_summary(summary, redact),
            marker,
            limit=target.limit,
            job=summary.context.job_name,
        )
    )
    http = ApiClient(settings, target.api_root, target.auth, extra_headers=dict(target.headers))
    try:
        return upsert(
            http,
            target,
            body,
            marker,
            seconds=seconds,
            # "changes": a comment only when something changed, but one already there is kept
            # current, also when there is no comparison this time (else it would go on
            # listing failures fixed since)
            create=settings.pr_comment is PrComment.ALWAYS or has_changes,
        )
    finally:
        http.close()
