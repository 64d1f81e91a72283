"""``jux-submit detect``: the CI and git context the run would record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jux_submit.prepare import resolve_context

if TYPE_CHECKING:
    from jux_submit.models import CIContext
    from jux_submit.settings import Settings


def run_detect(settings: Settings) -> CIContext:
    """The detected context with the user's overrides applied."""
    return resolve_context(settings)
