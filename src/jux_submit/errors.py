"""The one exception hierarchy of jux-submit and the exit codes it maps to.

Run-level problems are exceptions (caught once, in ``cli``); a problem with one file is a value
(``models.FileError``) so that one bad file never stops the others.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes (README, "Exit codes")."""

    OK = 0
    REPORTS_FAILED = 1
    CONFIG = 2
    NO_REPORTS = 3
    INTERRUPTED = 130


class JuxError(Exception):
    """Base of every error jux-submit raises on purpose.

    ``kind`` is a stable machine-readable name (used in the JSON report), ``hint`` tells the user
    what to do next, and ``exit_code`` is what the process ends with when the error ends the run.
    """

    kind = "error"
    exit_code: ExitCode = ExitCode.REPORTS_FAILED
    #: True when sending the same bytes again later could succeed (network, 5xx, 429, auth).
    is_retryable = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        suggestions: tuple[str, ...] = (),
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.suggestions = suggestions
        self.http_status = http_status


class ConfigError(JuxError):
    """A setting is missing, malformed or contradictory: nothing was sent."""

    kind = "config"
    exit_code = ExitCode.CONFIG


class NoReportsFoundError(JuxError):
    """No report matched the patterns and ``if-no-files-found`` is ``error``."""

    kind = "no-reports"
    exit_code = ExitCode.NO_REPORTS


class InterruptedRunError(JuxError):
    """The run was cancelled (SIGTERM/SIGINT)."""

    kind = "interrupted"
    exit_code = ExitCode.INTERRUPTED


# --- per-file submission failures -----------------------------------------------------------


class SubmitFailedError(JuxError):
    """A report was not accepted by the server."""

    kind = "submit-failed"


class ConnectionFailedError(SubmitFailedError):
    """The server could not be reached (refused, DNS, reset)."""

    kind = "connection"
    is_retryable = True


class TLSError(SubmitFailedError):
    """The TLS handshake or certificate check failed."""

    kind = "tls"
    is_retryable = True


class SubmitTimeoutError(SubmitFailedError):
    """The server did not answer within the timeout."""

    kind = "timeout"
    is_retryable = True


class DeadlineExceededError(SubmitFailedError):
    """The run's overall deadline passed before this report could be accepted."""

    kind = "deadline"
    is_retryable = True


class AuthenticationError(SubmitFailedError):
    """401/403: the API key is missing, wrong or revoked."""

    kind = "auth"
    is_retryable = True


class RateLimitedError(SubmitFailedError):
    """429 after every retry."""

    kind = "rate-limited"
    is_retryable = True


class ServerError(SubmitFailedError):
    """5xx after every retry."""

    kind = "server"
    is_retryable = True


class RedirectError(SubmitFailedError):
    """The server answered a POST with a redirect, which is never followed."""

    kind = "redirect"


class UnexpectedResponseError(SubmitFailedError):
    """A status or body the contract does not describe."""

    kind = "unexpected-response"


class ReportRejectedError(SubmitFailedError):
    """400: the server refused the report's content (invalid XML, missing metadata)."""

    kind = "rejected"


class PackageError(SubmitFailedError):
    """Base for package (``.jxz``) submission errors (ADR-0005)."""

    kind = "package"


class InvalidPackageError(PackageError):
    """400 on the package endpoint: not a ZIP, or an entry path that escapes."""

    kind = "invalid-package"


class PackageTooLargeError(PackageError):
    """413 without Retry-After, or the local size check: the package is over the limit."""

    kind = "package-too-large"


class PackageVerificationError(PackageError):
    """422: manifest, digest or signature verification failed on the server."""

    kind = "package-verification"


class InterruptedSubmitError(SubmitFailedError):
    """The run was cancelled before this report was accepted."""

    kind = "interrupted"
    is_retryable = True
