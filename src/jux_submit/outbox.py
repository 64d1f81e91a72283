"""The outbox: submissions that failed for a retryable reason, kept on disk to be sent again."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from jux_submit.errors import ConfigError

if TYPE_CHECKING:
    from jux_submit.redact import Redactor
    from jux_submit.settings import Settings


def run_resubmit_command(settings: Settings, out: TextIO, redact: Redactor) -> int:
    """Send every pending outbox entry again; returns the exit code."""
    raise ConfigError("the resubmit command is not available in this build")
