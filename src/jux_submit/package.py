"""``jux-submit package``: build the ``.jxz`` packages a run would send, without any network."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from jux_submit.errors import ConfigError

if TYPE_CHECKING:
    from jux_submit.redact import Redactor
    from jux_submit.settings import Settings


def run_package_command(settings: Settings, out: TextIO, redact: Redactor) -> int:
    """Write one ``.jxz`` per valid report into ``settings.output_dir``; returns the exit code."""
    raise ConfigError("the package command is not available in this build")
