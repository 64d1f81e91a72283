"""Command line: parse settings, run the pipeline, hand the summary to reporters, exit.

This is the only place that prints an exception (``error: ...`` then ``hint: ...``) and the
only place that maps a run to an exit code (``exit_code_for``).
"""

from __future__ import annotations

import os
import sys

from jux_submit import __version__

# Start-up matters (``--version`` must cost little more than the interpreter, issue 7):
# logging, traceback, pathlib and even typing are imported only where they are used.
# Type checkers treat any constant named TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import TextIO

    from jux_submit.models import RunSummary
    from jux_submit.redact import Redactor
    from jux_submit.settings import Settings


def run(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Entry point of ``jux-submit``; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # fast path: imports nothing else
        (stdout or sys.stdout).write(f"jux-submit {__version__}\n")
        return 0
    # A closed stdout or stderr (``jux-submit | head``) must not stop a single submission:
    # every write goes through a stream that turns a broken pipe into silence. The process's
    # own streams are swapped for the run (the CI reporters write to sys.stdout).
    from typing import cast

    real = (sys.stdout, sys.stderr)
    out = GuardedStream(stdout or sys.stdout)
    err = GuardedStream(stderr or sys.stderr)
    out_io, err_io = cast("TextIO", out), cast("TextIO", err)
    if stdout is None:
        sys.stdout = out_io
    if stderr is None:
        sys.stderr = err_io
    try:
        return _guarded_run(args, environ, out_io, err_io)
    finally:
        sys.stdout, sys.stderr = real
        for stream, original in ((out, real[0]), (err, real[1])):
            if stream.is_broken and stream.inner is original:
                _silence(original)


def main() -> None:
    """The process's entry point (console script, ``python -m jux_submit``, the container):
    ``run``, then end the process without the interpreter's teardown.

    Python frees every module and object one by one at exit: ~10 ms after a run, as much as a
    small run's own work. Nothing of ours needs it: what has to outlive the process is done
    first here (the ``atexit`` handlers, logging's shutdown among them, and the buffers of
    stdout and stderr), then ``os._exit`` ends it with the run's exit code. Every file the
    run writes is closed by the stage that writes it; the threads it starts are finished or
    are daemons. ``run`` itself returns normally (tests and embedders call it). The cyclic
    garbage collector is off until start-up is over (``_started``).
    """
    import gc

    gc.disable()  # until start-up is over: see _started
    _PAUSED_COLLECTOR.append(True)
    code = run()
    import atexit

    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:  # None: started with the descriptor closed
                    stream.flush()
            except (OSError, ValueError):  # closed or broken: nothing left to keep
                pass
        os._exit(code)


#: not empty when ``main`` turned the cyclic garbage collector off until ``_started``
_PAUSED_COLLECTOR: list[bool] = []


def _started() -> None:
    """Start-up is over (the command's modules are imported): collect garbage from here on.

    Importing creates tens of thousands of objects that live as long as the process; the
    collector, left on, went through them some thirty times during a small run's start-up
    (~5 ms of ~75). They are frozen once it is over (``gc.freeze``), so that later
    collections leave them alone too."""
    if _PAUSED_COLLECTOR:
        import gc

        _PAUSED_COLLECTOR.clear()
        gc.freeze()
        gc.enable()


def _guarded_run(
    args: list[str], environ: Mapping[str, str] | None, out: TextIO, err: TextIO
) -> int:
    from jux_submit.errors import ConfigError, ExitCode, JuxError
    from jux_submit.redact import Redactor

    env = dict(os.environ if environ is None else environ)
    redact = Redactor(_env_secrets(env))
    debug = any(a == "--debug" for a in args)
    try:
        return _run(args, env, out, err, redact)
    except ConfigError as exc:
        _print_error(err, exc, redact)
        return int(ExitCode.CONFIG)
    except JuxError as exc:
        _print_error(err, exc, redact)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        err.write("error: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except SystemExit as exc:  # argparse --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) else 0
    except Exception as exc:
        from jux_submit.report.escape import guard_text

        err.write(guard_text(redact(f"error: unexpected {type(exc).__name__}: {exc}")) + "\n")
        if debug:
            import traceback

            err.write(guard_text(redact(traceback.format_exc())))
        else:
            err.write("hint: run again with --debug for a traceback, and report the bug\n")
        return int(ExitCode.REPORTS_FAILED)


class GuardedStream:
    """A text stream whose writes never raise: after a broken pipe (or a closed stream) it
    drops what is written, and says so through ``is_broken``."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.is_broken = False

    def write(self, text: str) -> int:
        if not self.is_broken:
            try:
                self.inner.write(text)
            except (OSError, ValueError):  # EPIPE, or a closed file
                self.is_broken = True
        return len(text)

    def flush(self) -> None:
        if not self.is_broken:
            try:
                self.inner.flush()
            except (OSError, ValueError):
                self.is_broken = True

    def isatty(self) -> bool:
        try:
            return not self.is_broken and self.inner.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def _silence(stream: TextIO) -> None:
    """Point a broken process stream at /dev/null, so that the interpreter's final flush
    does not fail (Python would then exit 120, outside the documented exit codes)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _env_secrets(env: Mapping[str, str]) -> list[str]:
    from jux_submit.settings import secret_variables

    return [env[n] for n in secret_variables() if env.get(n)]


def _print_error(err: TextIO, exc: Exception, redact: Redactor) -> None:
    from jux_submit.errors import JuxError
    from jux_submit.report.escape import guard_text

    message = exc.message if isinstance(exc, JuxError) else str(exc)
    err.write(guard_text(redact(f"error: {message}")) + "\n")
    hint = exc.hint if isinstance(exc, JuxError) else None
    if hint:
        err.write(guard_text(redact(f"hint: {hint}")) + "\n")


def _setup_logging(err: TextIO, *, verbose: bool, quiet: bool, redact: Redactor) -> None:
    import logging

    from jux_submit.redact import RedactingFilter
    from jux_submit.report.escape import ConsoleLogFormatter

    # Every record would otherwise look up its thread, process and caller (a walk up the
    # stack): the log format uses none of them, and each report logs a line (logging HOWTO,
    # "Optimization"). Nothing here logs with stack_info, which also needs the caller.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler(err)
    handler.setFormatter(ConsoleLogFormatter("jux-submit: %(levelname)s: %(message)s", redact))
    handler.addFilter(RedactingFilter(redact))
    root = logging.getLogger("jux_submit")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    if verbose:
        for name in ("urllib3", "requests"):
            other = logging.getLogger(name)
            other.handlers[:] = [handler]
            other.setLevel(logging.DEBUG)


def _run(args: list[str], env: dict[str, str], out: TextIO, err: TextIO, redact: Redactor) -> int:
    from jux_submit.detect import detect_workspace
    from jux_submit.redact import Redactor
    from jux_submit.settings import Command, load_settings

    settings = load_settings(args, env, workspace_of=detect_workspace)
    redactor = Redactor(settings.secrets)
    _setup_logging(err, verbose=settings.verbose, quiet=settings.quiet, redact=redactor)
    if settings.notes:
        import logging

        for note in settings.notes:
            logging.getLogger("jux_submit").warning("%s", note)
    if settings.command is Command.DETECT:
        return _detect(settings, out, redactor)
    if settings.command is Command.PACKAGE:
        return _package(settings, out, redactor)
    return _send(settings, out, redactor)


def _detect(settings: Settings, out: TextIO, redact: Redactor) -> int:
    import json

    from jux_submit.commands.detect import run_detect
    from jux_submit.report.console import render_context
    from jux_submit.report.escape import guard_json_text

    _started()
    context = run_detect(settings)
    if settings.as_json:
        out.write(guard_json_text(redact(json.dumps(context.to_dict(), indent=2))) + "\n")
    else:
        out.write(redact(render_context(context)) + "\n")
    return 0


def _package(settings: Settings, out: TextIO, redact: Redactor) -> int:
    from jux_submit.commands.package import run_package
    from jux_submit.errors import ExitCode
    from jux_submit.report.escape import escape_console, guard_line
    from jux_submit.settings import IfNoFilesFound

    _started()
    report = run_package(settings)
    out.write("".join(guard_line(escape_console(redact(line))) + "\n" for line in report.lines))
    if report.no_reports:
        is_error = settings.if_no_files_found is IfNoFilesFound.ERROR
        return int(ExitCode.NO_REPORTS if is_error else ExitCode.OK)
    return int(ExitCode.REPORTS_FAILED if report.failed else ExitCode.OK)


def _send(settings: Settings, out: TextIO, redact: Redactor) -> int:
    """``submit`` and ``resubmit``: run the command, then hand its summary to every reporter
    (console, JSON, and the CI's own)."""
    import logging
    from pathlib import Path

    from jux_submit.report import ci_reporters
    from jux_submit.report.console import render_text
    from jux_submit.settings import Command

    reporters = ci_reporters(settings.environ, redact)
    for reporter in reporters:
        reporter.start(settings)
    try:
        if settings.command is Command.RESUBMIT:
            from jux_submit.commands.resubmit import run_resubmit

            _started()
            summary = run_resubmit(settings)
        else:
            from jux_submit.commands.submit import run_submit

            _started()
            summary = run_submit(settings)
            if summary.no_reports:
                _warn_no_reports(settings)
        if settings.command is Command.SUBMIT and settings.pr_comment.value != "off":
            from jux_submit.commands.review import publish_comment

            publish_comment(summary, settings, redact)  # its outcome is one log line
    finally:
        for reporter in reporters:
            reporter.end_logs()  # close the log group/section before the summary prints
    results_file: str | None = None
    if settings.json:
        from jux_submit.report.json_report import render_json  # json: only for --json

        text = redact(render_json(summary, settings))
        if settings.json == "-":
            out.write(text)
        else:
            from jux_submit.report.files import replace_file

            path = Path(settings.json)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                replace_file(path, text)  # never through a link planted at the name
                results_file = str(path)
            except OSError as exc:
                logging.getLogger("jux_submit").warning(
                    "cannot write the JSON result to %s: %s", path, exc.strerror or exc
                )
    if settings.json != "-":
        out.write(redact(render_text(summary, verbose=settings.verbose, quiet=settings.quiet)))
    for reporter in reporters:
        reporter.finish(summary, settings, results_file)
    return exit_code_for(summary, settings)


def _warn_no_reports(settings: Settings) -> None:
    import logging

    from jux_submit.settings import IfNoFilesFound

    message = (
        f"no JUnit reports matched {', '.join(settings.reports)} in {settings.working_directory}"
    )
    log = logging.getLogger("jux_submit")
    if settings.if_no_files_found is IfNoFilesFound.ERROR:
        log.error("%s", message)
    elif settings.if_no_files_found is IfNoFilesFound.WARN:
        log.warning("%s; check the patterns and the working directory", message)


def exit_code_for(summary: RunSummary, settings: Settings) -> int:
    """The documented exit code: 2 (config) > 3 (no reports, if-no-files-found=error) >
    1 (any report invalid or not accepted, with --fail-on-error) > 0; 130 when interrupted."""
    from jux_submit.errors import ExitCode
    from jux_submit.settings import IfNoFilesFound

    if summary.interrupted:
        return int(ExitCode.INTERRUPTED)
    if summary.no_reports and settings.if_no_files_found is IfNoFilesFound.ERROR:
        return int(ExitCode.NO_REPORTS)
    if settings.fail_on_error and summary.has_failures:
        return int(ExitCode.REPORTS_FAILED)
    return int(ExitCode.OK)
