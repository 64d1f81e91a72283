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
    """A report was not accepted by the server.

    The one rule on what happens next lives here, on the classes: ``is_kept`` says whether the
    submission is kept in the outbox to be sent again (everything but a refusal of the content
    itself), ``is_server_level`` whether the failure says the server cannot be used at all
    (unreachable, wrong URL, wrong key), which counts toward stopping the run early. Whether a
    request is retried within the run is the transport's retry policy (CONTRACT.md).
    """

    kind = "submit-failed"
    is_kept = True
    is_server_level = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        suggestions: tuple[str, ...] = (),
        http_status: int | None = None,
        attempts: int | None = None,
        is_possible_duplicate: bool = False,
        is_server_level: bool | None = None,
    ) -> None:
        super().__init__(message, hint=hint, suggestions=suggestions, http_status=http_status)
        #: requests made for this report (None: not known)
        self.attempts = attempts
        #: an attempt timed out after the body was sent: the server may have stored it
        self.is_possible_duplicate = is_possible_duplicate
        if is_server_level is not None:
            self.is_server_level = is_server_level


class ConnectionFailedError(SubmitFailedError):
    """The server could not be reached (refused, DNS, reset)."""

    kind = "connection"
    is_server_level = True


class TLSError(SubmitFailedError):
    """The TLS handshake or certificate check failed."""

    kind = "tls"
    is_server_level = True


class SubmitTimeoutError(SubmitFailedError):
    """The server did not answer within the timeout (server-level when even connecting timed
    out: set per instance)."""

    kind = "timeout"


class DeadlineExceededError(SubmitFailedError):
    """The run's overall deadline passed before this report could be accepted."""

    kind = "deadline"


class AuthenticationError(SubmitFailedError):
    """401/403: the API key is missing, wrong or revoked."""

    kind = "auth"
    is_server_level = True


class RateLimitedError(SubmitFailedError):
    """429 after every retry."""

    kind = "rate-limited"


class ServerError(SubmitFailedError):
    """5xx after every retry."""

    kind = "server"


class RedirectError(SubmitFailedError):
    """The server answered a POST with a redirect, which is never followed."""

    kind = "redirect"
    is_server_level = True


class UnexpectedResponseError(SubmitFailedError):
    """A status or body the contract does not describe (an HTML 200 from a login page or a
    catch-all proxy, a 201 without a test run id): never counted as accepted."""

    kind = "unexpected-response"


class NotJuxAPIError(UnexpectedResponseError):
    """A success status whose answer is not the contract's (201 + JSON with ``test_run_id``):
    the URL most likely points at something other than a Jux API."""

    kind = "not-jux-api"
    is_server_level = True


class EndpointNotFoundError(SubmitFailedError):
    """404 on an endpoint: the URL's path is wrong."""

    kind = "not-found"
    is_server_level = True


class ServerUnavailableError(SubmitFailedError):
    """Not sent: earlier reports of this run showed the server cannot be used right now."""

    kind = "not-sent"


class ReportRejectedError(SubmitFailedError):
    """400: the server refused the report's content (invalid XML, missing metadata)."""

    kind = "rejected"
    is_kept = False


class PackageError(SubmitFailedError):
    """Base for package (``.jxz``) submission errors (ADR-0005)."""

    kind = "package"
    is_kept = False


class InvalidPackageError(PackageError):
    """400 on the package endpoint: not a ZIP, or an entry path that escapes."""

    kind = "invalid-package"


class PackageTooLargeError(PackageError):
    """413 without Retry-After, or the local size check: the package is over the limit."""

    kind = "package-too-large"


class PackageVerificationError(PackageError):
    """422: manifest, digest or signature verification failed on the server."""

    kind = "package-verification"


class OutboxBusyError(SubmitFailedError):
    """Another run kept the outbox's one-sender lock for longer than this run's deadline."""

    kind = "outbox-busy"


class InterruptedSubmitError(SubmitFailedError):
    """The run was cancelled before this report was accepted."""

    kind = "interrupted"
