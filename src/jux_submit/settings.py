"""The one settings object: the option table, its sources, and their precedence.

Precedence (highest first): command-line flag > GitHub Action input (``INPUT_<NAME>``) >
``JUX_*`` environment variable (then its aliases) > config file (``.jux.yml`` or ``--config``)
> default. An empty string counts as unset everywhere. Every value is checked here, before any
network call; all problems are reported together in one ``ConfigError``.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jux_submit import __version__
from jux_submit.errors import ConfigError
from jux_submit.formats import NAMES as FORMAT_NAMES
from jux_submit.models import Record, record


class Kind(StrEnum):
    """How an option's text is turned into a value."""

    STR = "string"
    INT = "integer"
    FLOAT = "seconds"
    BOOL = "boolean"
    LIST = "list"
    CHOICE = "choice"
    SIZE = "size"


class Command(StrEnum):
    SUBMIT = "submit"
    DETECT = "detect"
    PACKAGE = "package"
    RESUBMIT = "resubmit"


class Mode(StrEnum):
    RAW = "raw"
    PACKAGE = "package"
    AUTO = "auto"


#: --format: auto (detected from each file's content), junit (no conversion), or one format
InputFormat = StrEnum(  # type: ignore[misc]
    "InputFormat", {name.upper(): name for name in ("auto", "junit", *FORMAT_NAMES)}
)
AUTO_FORMAT = InputFormat("auto")


class IfNoFilesFound(StrEnum):
    WARN = "warn"
    ERROR = "error"
    IGNORE = "ignore"


class Compare(StrEnum):
    AUTO = "auto"
    OFF = "off"


class PrComment(StrEnum):
    OFF = "off"
    CHANGES = "changes"  # only when there are new failures or fixes
    ALWAYS = "always"


#: Where producers write their reports when nobody tells them otherwise (a file one of these
#: finds that is not a test report is ignored quietly; see commands/submit.py)
DEFAULT_PATTERNS = (
    "**/TEST-*.xml",  # Maven Surefire/Failsafe, Gradle, Ant
    "**/TESTS-*.xml",  # Ant's junitreport, behave
    "**/*junit*.xml",  # jest-junit, pytest --junitxml=junit.xml, many CI templates
    "**/test-results/**/*.xml",  # Gradle, Playwright, CircleCI's convention
    "**/*test*.xml",  # test-results.xml (mocha-junit-reporter), test_detail.xml (GoogleTest)
    "**/*Test*.xml",  # CTest, PHPUnit, per-class reports
    "**/report.xml",  # bats
    "**/results.xml",  # Playwright's junit reporter as documented
    "**/tap.xml",  # tap-junit
    "**/rspec.xml",  # rspec_junit_formatter
    "**/xunit.xml",  # Robot Framework, mocha's xunit reporter, tap-xunit
    "**/criterion.xml",  # Criterion
    "**/*.trx",  # Visual Studio / dotnet test TRX
    "**/*.tap",  # TAP streams saved to a file (bats --report-formatter tap writes report.tap)
    "**/ctrf-report.json",  # CTRF reporters (ctrf/ctrf-report.json)
    "**/cucumber*.json",  # cucumber --format json:cucumber.json
    "**/*results.json",  # jest-results.json, test-results.json, Playwright's docs' results.json
    "**/*-report.json",  # mocha-report.json, jest --outputFile=jest-report.json
)
DEFAULT_OUTBOX = ".jux-outbox"
#: attachment types a Jux server accepts, per the server implementer's guide
ATTACHMENT_TYPE_DEFAULTS = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/svg+xml",
    "text/plain",
    "text/html",
    "text/csv",
    "application/json",
    "application/xml",
    "application/pdf",
    "video/mp4",
    "video/webm",
)
CONFIG_FILE_NAME = ".jux.yml"
MEGABYTE = 1_000_000


@record
class Option(Record):
    """One row of the option table: the single source for flags, env vars, inputs and docs."""

    name: str  # kebab-case: the Action input, the config-file key and the settings field
    env: str | None  # the JUX_* variable
    kind: Kind
    default: Any
    help: str
    flags: tuple[str, ...] = ()  # empty: never a flag (secrets)
    aliases: tuple[str, ...] = ()  # older env var names, lower precedence than ``env``
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    is_secret: bool = False
    has_input: bool = True
    commands: tuple[Command, ...] = (Command.SUBMIT, Command.PACKAGE)
    metavar: str | None = None
    default_text: str | None = None  # how the docs show the default when it is computed

    @property
    def field_name(self) -> str:
        return self.name.replace("-", "_")

    @property
    def input_env(self) -> str:
        """The variable the GitHub runner sets for this input (hyphens kept, upper-cased)."""
        return "INPUT_" + self.name.upper()

    def describe(self) -> str:
        """Name every way to set this option, for error messages."""
        ways = [*self.flags[:1]]
        if self.env:
            ways.append(self.env)
        if self.has_input:
            ways.append(f"input '{self.name}'")
        return " / ".join(ways)


_ALL = (Command.SUBMIT, Command.DETECT, Command.PACKAGE, Command.RESUBMIT)
#: options that shape what a report carries: ``resubmit`` sends stored copies, so not these
_BUILD = (Command.SUBMIT, Command.PACKAGE, Command.DETECT)

#: The option table. README, action.yml, composite/action.yml and the GitLab template are
#: checked against it by tests/unit/test_contract_docs.py.
OPTIONS: tuple[Option, ...] = (
    Option(
        "reports",
        "JUX_REPORTS",
        Kind.LIST,
        DEFAULT_PATTERNS,
        "glob patterns of JUnit XML files, relative to the working directory; '**' recurses, "
        "'!pattern' excludes (env/input: newline- or comma-separated)",
        commands=(Command.SUBMIT, Command.PACKAGE),
        metavar="PATTERN",
    ),
    Option(
        "api-url",
        "JUX_API_URL",
        Kind.STR,
        None,
        "Jux server root or API root (https://jux.example.com or .../api/v1); required "
        "unless --dry-run",
        flags=("--api-url",),
        metavar="URL",
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "api-key",
        "JUX_API_KEY",
        Kind.STR,
        None,
        "API key sent as 'Authorization: Bearer'; environment or secret only, never a flag",
        aliases=("JUX_BEARER_TOKEN",),
        is_secret=True,
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "project",
        "JUX_PROJECT",
        Kind.STR,
        None,
        "project name (default: repository name from CI, then git remote, then folder name)",
        flags=("--project",),
        commands=_BUILD,
        default_text="detected",
    ),
    Option(
        "branch",
        "JUX_BRANCH",
        Kind.STR,
        None,
        "branch name (default: detected)",
        flags=("--branch",),
        commands=_BUILD,
        default_text="detected",
    ),
    Option(
        "commit",
        "JUX_COMMIT_SHA",
        Kind.STR,
        None,
        "commit SHA (default: detected)",
        flags=("--commit",),
        commands=_BUILD,
        default_text="detected",
    ),
    Option(
        "tags",
        "JUX_TAGS",
        Kind.LIST,
        (),
        "comma-separated tags, recorded as jux:tags",
        flags=("--tags",),
        metavar="TAG,...",
    ),
    Option(
        "environment",
        "JUX_ENVIRONMENT",
        Kind.STR,
        "test",
        "test environment name, recorded as jux:environment",
        flags=("--environment",),
    ),
    Option(
        "timeout",
        "JUX_SUBMIT_TIMEOUT",
        Kind.FLOAT,
        30.0,
        "time limit of each attempt in seconds (connect, send the report, read the answer)",
        flags=("--timeout",),
        aliases=("JUX_API_TIMEOUT",),
        minimum=0.001,
        metavar="SECONDS",
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "retries",
        "JUX_SUBMIT_RETRIES",
        Kind.INT,
        3,
        "retries after a connection failure, 429 or 5xx (backoff 1 s, 2 s, 4 s ...)",
        flags=("--retries",),
        aliases=("JUX_API_MAX_RETRIES",),
        minimum=0,
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "max-retry-wait",
        "JUX_MAX_RETRY_WAIT",
        Kind.FLOAT,
        120.0,
        "longest single wait between retries, whatever Retry-After asks (seconds)",
        flags=("--max-retry-wait",),
        minimum=0,
        metavar="SECONDS",
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "deadline",
        "JUX_DEADLINE",
        Kind.FLOAT,
        600.0,
        "overall time budget for submissions; what is left after it goes to the outbox",
        flags=("--deadline",),
        minimum=0.001,
        metavar="SECONDS",
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "parallel",
        "JUX_PARALLEL",
        Kind.INT,
        4,
        "files processed and sent at once",
        flags=("--parallel",),
        minimum=1,
        metavar="N",
        commands=(Command.SUBMIT, Command.PACKAGE, Command.RESUBMIT),
    ),
    Option(
        "processes",
        "JUX_PROCESSES",
        Kind.INT,
        0,
        "worker processes for the per-report work of big runs; 0: one per CPU the job may "
        "use, once there are enough reports; 1: everything in one process",
        flags=("--processes",),
        minimum=0,
        metavar="N",
        commands=(Command.SUBMIT,),
    ),
    Option(
        "dry-run",
        "JUX_DRY_RUN",
        Kind.BOOL,
        False,
        "run every stage except the network and show what would be sent",
        flags=("--dry-run",),
    ),
    Option(
        "force",
        "JUX_FORCE",
        Kind.BOOL,
        False,
        "send every report, even one the journal shows this server already accepted with the "
        "same content, metadata and build",
        flags=("--force",),
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "fail-on-error",
        "JUX_FAIL_ON_ERROR",
        Kind.BOOL,
        False,
        "exit 1 when any report is invalid or not accepted",
        flags=("--fail-on-error", "--strict"),
        aliases=("JUX_STRICT",),
        commands=_ALL,
    ),
    Option(
        "compare",
        "JUX_COMPARE",
        Kind.CHOICE,
        Compare.AUTO,
        "after the reports are accepted, compare them with the base run on the Jux server "
        "(a pull/merge request's target branch, else this branch's latest earlier commit): "
        "new failures, fixed, still failing",
        flags=("--compare",),
        choices=tuple(Compare),
        commands=(Command.SUBMIT,),
    ),
    Option(
        "pr-comment",
        "JUX_PR_COMMENT",
        Kind.CHOICE,
        PrComment.OFF,
        "keep one comment with the comparison on the pull request (GitHub, with github-token) "
        "or merge request (GitLab, with JUX_GITLAB_TOKEN): always, or only when there are "
        "changes",
        flags=("--pr-comment",),
        choices=tuple(PrComment),
        commands=(Command.SUBMIT,),
    ),
    Option(
        "github-token",
        "JUX_GITHUB_TOKEN",
        Kind.STR,
        None,
        "token for the pull-request comment (needs 'pull-requests: write'); environment or "
        "secret only",
        aliases=("GITHUB_TOKEN",),
        is_secret=True,
        commands=(Command.SUBMIT,),
    ),
    Option(
        "gitlab-token",
        "JUX_GITLAB_TOKEN",
        Kind.STR,
        None,
        "project or personal access token with the 'api' scope for the merge-request note "
        "(CI_JOB_TOKEN cannot write notes); environment only",
        is_secret=True,
        has_input=False,
        commands=(Command.SUBMIT,),
    ),
    Option(
        "if-no-files-found",
        "JUX_IF_NO_FILES_FOUND",
        Kind.CHOICE,
        IfNoFilesFound.WARN,
        "what to do when no report matches",
        flags=("--if-no-files-found",),
        choices=tuple(IfNoFilesFound),
        commands=(Command.SUBMIT, Command.PACKAGE),
    ),
    Option(
        "working-directory",
        "JUX_WORKING_DIRECTORY",
        Kind.STR,
        None,
        "folder the patterns are relative to (default: the CI workspace, else the "
        "current directory)",
        flags=("--working-directory",),
        metavar="DIR",
        commands=_ALL,
        default_text="CI workspace, else current directory",
    ),
    Option(
        "json",
        "JUX_JSON",
        Kind.STR,
        None,
        "write the run result as JSON to PATH ('-' for stdout)",
        flags=("--json",),
        metavar="PATH",
        commands=_ALL,
    ),
    Option(
        "env-var",
        "JUX_ENV_VARS",
        Kind.LIST,
        (),
        "environment variable to record as an env:NAME property (repeatable)",
        flags=("--env-var",),
        metavar="NAME",
    ),
    Option(
        "allow-insecure-http",
        "JUX_ALLOW_INSECURE_HTTP",
        Kind.BOOL,
        False,
        "allow sending the API key over plain http:// to a host other than loopback",
        flags=("--allow-insecure-http",),
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "ca-bundle",
        "JUX_CA_BUNDLE",
        Kind.STR,
        None,
        "PEM file or folder of CA certificates that verify the server, for a private CA "
        "(default: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE or SSL_CERT_DIR from the "
        "environment, else the public CAs bundled with certifi)",
        flags=("--ca-bundle",),
        metavar="PATH",
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "client-cert",
        "JUX_CLIENT_CERT",
        Kind.STR,
        None,
        "PEM client certificate (file path) for servers that require mutual TLS; needs "
        "--client-key",
        flags=("--client-cert",),
        metavar="PATH",
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "client-key",
        "JUX_CLIENT_KEY",
        Kind.STR,
        None,
        "PEM private key (file path) of the client certificate; an encrypted key's passphrase "
        "comes from JUX_CLIENT_KEY_PASSWORD",
        flags=("--client-key",),
        metavar="PATH",
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "client-key-password",
        "JUX_CLIENT_KEY_PASSWORD",
        Kind.STR,
        None,
        "passphrase of the client key; environment or secret only",
        is_secret=True,
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "mode",
        "JUX_MODE",
        Kind.CHOICE,
        Mode.AUTO,
        "raw XML, .jxz package, or auto (package when attachments or a signing key exist)",
        flags=("--mode",),
        choices=tuple(Mode),
    ),
    Option(
        "repair",
        "JUX_REPAIR",
        Kind.BOOL,
        True,
        "repair known producer breakage in memory before validating (forbidden control "
        "characters, ']]>' in text or CDATA, text outside CDATA); --no-repair refuses such "
        "reports as invalid",
        flags=("--repair",),
    ),
    Option(
        "format",
        "JUX_FORMAT",
        Kind.CHOICE,
        AUTO_FORMAT,
        "report format: auto (JUnit XML, or another format recognised from each file's "
        "content and converted to JUnit), junit, or one of the converted formats",
        flags=("--format",),
        choices=tuple(InputFormat),
    ),
    Option(
        "attachments",
        "JUX_ATTACHMENTS",
        Kind.LIST,
        (),
        "glob of files attached to every package (repeatable)",
        flags=("--attach",),
        metavar="GLOB",
    ),
    Option(
        "attachment-types",
        "JUX_ATTACHMENT_TYPES",
        Kind.LIST,
        ATTACHMENT_TYPE_DEFAULTS,
        "MIME types of attachments sent in packages (others are left out with a warning); "
        "'*' sends every type",
        flags=("--attachment-types",),
        metavar="TYPE,...",
        default_text="the Jux guide's list: png, jpeg, gif, svg, text, html, csv, json, xml, "
        "pdf, mp4, webm",
    ),
    Option(
        "signing-key",
        "JUX_SIGNING_KEY",
        Kind.STR,
        None,
        "PEM private key (RSA or ECDSA), as a file path or the PEM text, to sign packages",
        flags=("--signing-key",),
        is_secret=True,
        metavar="PATH|PEM",
    ),
    Option(
        "signing-key-password",
        "JUX_SIGNING_KEY_PASSWORD",
        Kind.STR,
        None,
        "passphrase of the signing key; environment or secret only",
        is_secret=True,
    ),
    Option(
        "signing-cert",
        "JUX_SIGNING_CERT",
        Kind.STR,
        None,
        "PEM X.509 certificate matching the signing key, as a file path or the PEM text",
        flags=("--signing-cert",),
        metavar="PATH|PEM",
    ),
    Option(
        "max-package-size",
        "JUX_MAX_PACKAGE_SIZE",
        Kind.SIZE,
        50 * MEGABYTE,
        "largest package sent (bytes, or with a unit: 50MB, 25MiB)",
        flags=("--max-package-size",),
        metavar="SIZE",
        default_text="50MB",
    ),
    Option(
        "combine",
        "JUX_COMBINE",
        Kind.BOOL,
        False,
        "merge every valid report of the run into one test run",
        flags=("--combine",),
    ),
    Option(
        "outbox",
        "JUX_OUTBOX",
        Kind.STR,
        DEFAULT_OUTBOX,
        "folder where submissions that failed for a retryable reason are kept "
        "(relative to the working directory)",
        flags=("--outbox",),
        metavar="DIR",
        commands=(Command.SUBMIT, Command.RESUBMIT),
    ),
    Option(
        "huge-xml",
        "JUX_HUGE_XML",
        Kind.BOOL,
        False,
        "lift the XML parser's safety limits (text nodes over 10 MB, deep nesting)",
        flags=("--huge-xml",),
        commands=(Command.SUBMIT, Command.PACKAGE),
    ),
    Option(
        "config",
        "JUX_CONFIG",
        Kind.STR,
        None,
        "YAML config file with the same keys as the flags (default: .jux.yml in the "
        "working directory, if present)",
        flags=("--config",),
        metavar="PATH",
        commands=_ALL,
        default_text=".jux.yml",
    ),
    Option(
        "verbose",
        "JUX_VERBOSE",
        Kind.BOOL,
        False,
        "log every step (headers redacted)",
        flags=("-v", "--verbose"),
        commands=_ALL,
    ),
    Option(
        "quiet",
        "JUX_QUIET",
        Kind.BOOL,
        False,
        "print only warnings, errors and totals",
        flags=("-q", "--quiet"),
        commands=_ALL,
    ),
    Option(
        "debug",
        "JUX_DEBUG",
        Kind.BOOL,
        False,
        "show a traceback for unexpected errors",
        flags=("--debug",),
        commands=_ALL,
    ),
)

OPTIONS_BY_NAME: Mapping[str, Option] = {opt.name: opt for opt in OPTIONS}


@record
class Settings(Record):
    """Every option, parsed and checked. Secrets are kept out of ``repr``."""

    command: Command = Command.SUBMIT
    reports: tuple[str, ...] = DEFAULT_PATTERNS
    api_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    project: str | None = None
    branch: str | None = None
    commit: str | None = None
    tags: tuple[str, ...] = ()
    environment: str = "test"
    timeout: float = 30.0
    retries: int = 3
    max_retry_wait: float = 120.0
    deadline: float = 600.0
    parallel: int = 4
    processes: int = 0
    dry_run: bool = False
    force: bool = False
    fail_on_error: bool = False
    compare: Compare = Compare.AUTO
    pr_comment: PrComment = PrComment.OFF
    github_token: str | None = field(default=None, repr=False)
    gitlab_token: str | None = field(default=None, repr=False)
    if_no_files_found: IfNoFilesFound = IfNoFilesFound.WARN
    working_directory: Path = field(default_factory=Path.cwd)
    json: str | None = None
    env_var: tuple[str, ...] = ()
    allow_insecure_http: bool = False
    #: absolute paths, checked to exist (``load_settings``)
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    client_key_password: str | None = field(default=None, repr=False)
    mode: Mode = Mode.AUTO
    format: InputFormat = AUTO_FORMAT
    repair: bool = True
    attachments: tuple[str, ...] = ()
    attachment_types: tuple[str, ...] = ATTACHMENT_TYPE_DEFAULTS
    signing_key: str | None = field(default=None, repr=False)
    signing_key_password: str | None = field(default=None, repr=False)
    signing_cert: str | None = None
    max_package_size: int = 50 * MEGABYTE
    combine: bool = False
    outbox: str = DEFAULT_OUTBOX
    huge_xml: bool = False
    config: str | None = None
    verbose: bool = False
    quiet: bool = False
    debug: bool = False
    # command-specific
    output_dir: Path | None = None  # `package --output-dir`
    resubmit_dir: Path | None = None  # `resubmit [DIR]`
    as_json: bool = False  # `detect --json`
    #: where each value came from ("flag", "input", "env:JUX_X", "config", "default")
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: warnings about how settings were resolved, logged once logging is set up
    notes: tuple[str, ...] = ()
    #: the environment the run was started with (read-only; CI detection and env:NAME use it)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def server_root(self) -> str | None:
        """The server root derived from ``api_url`` (CONTRACT.md, "Base URL")."""
        return normalise_server_root(self.api_url) if self.api_url else None

    @property
    def outbox_dir(self) -> Path:
        return self.working_directory / self.outbox

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value (the options marked secret in ``OPTIONS``), for redaction."""
        values = (getattr(self, opt.field_name) for opt in OPTIONS if opt.is_secret)
        return tuple(v for v in values if v)

    def summary(self) -> dict[str, Any]:
        """Settings as plain data for the JSON report, secrets replaced by whether they are set."""
        out: dict[str, Any] = {}
        for opt in OPTIONS:
            value = getattr(self, opt.field_name)
            if opt.is_secret:
                out[opt.name] = "set" if value else None
            elif isinstance(value, Path):
                out[opt.name] = str(value)
            elif isinstance(value, tuple):
                out[opt.name] = list(value)
            else:
                out[opt.name] = value
        return out


def secret_variables() -> tuple[str, ...]:
    """Every environment variable a secret option is read from (its ``JUX_*`` name, aliases
    and Action input): redacted from everything the run prints, before settings are loaded."""
    names: list[str] = []
    for opt in OPTIONS:
        if opt.is_secret:
            names += [n for n in (opt.env, *opt.aliases) if n]
            if opt.has_input:
                names.append(opt.input_env)
    return tuple(names)


#: what a pasted URL may end with beyond the server root (endpoints first: longest match)
_ROOT_SUFFIXES = (
    "/api/v1/junit/submit",
    "/api/v1/reports/package",
    "/api/version",
    "/api/v1",
    "/api",
)


def normalise_server_root(url: str) -> str:
    """Turn a server root, an API root or a pasted endpoint URL into the server root, without a
    trailing slash."""
    root = url.strip().rstrip("/")
    for suffix in _ROOT_SUFFIXES:
        if root.endswith(suffix):
            root = root[: -len(suffix)]
            break
    return root.rstrip("/")


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        import ipaddress  # only for a URL whose host is an address

        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- parsing ------------------------------------------------------------------------------

#: variables never recorded with --env-var: their values would be stored on the server.
#: Names that look like secrets, and the credential variables of the CI systems detected
#: (GitLab's job token travels inside CI_REPOSITORY_URL; JWTs, registry passwords, runner
#: tokens, SSH keys, Docker's auth config)
#: (patterns are compiled where they are first used: most runs never need one)
_SENSITIVE_NAME = (
    r"TOKEN|SECRET|PASSW|API_?KEY|PRIVATE_?KEY|SIGNING_KEY|CREDENTIAL|JWT|AUTH(?!OR)|SSH_.*KEY|"
    r"COOKIE|SESSION"
)
_CREDENTIAL_VARIABLES = frozenset(
    {
        "CI_JOB_TOKEN",
        "CI_REPOSITORY_URL",
        "CI_REGISTRY_PASSWORD",
        "CI_DEPENDENCY_PROXY_PASSWORD",
        "CI_DEPLOY_PASSWORD",
        "DOCKER_AUTH_CONFIG",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_CACHE_URL",
        "ACTIONS_RESULTS_URL",
        "SYSTEM_ACCESSTOKEN",
        "BITBUCKET_STEP_OIDC_TOKEN",
        "CIRCLE_OIDC_TOKEN",
        "BUILDKITE_AGENT_ACCESS_TOKEN",
        "DRONE_NETRC_PASSWORD",
        "CI_NETRC_PASSWORD",
    }
)
#: a URL carrying credentials (``scheme://user:pass@host``) as a value
_USERINFO = r"[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]+@"


def refuses_env_var(name: str, value: str | None, secret_values: set[str]) -> bool:
    """True when ``--env-var NAME`` must not be recorded: a name that looks like a secret, a
    known credential variable of a CI system, a value that is a configured secret, or a value
    carrying URL credentials (Jenkins' GIT_URL with user:token@, for example)."""
    if re.search(_SENSITIVE_NAME, name, re.IGNORECASE) or name.upper() in _CREDENTIAL_VARIABLES:
        return True
    if name.upper().startswith("ACTIONS_") and name.upper().endswith(("_TOKEN", "_URL")):
        return True
    return value is not None and (value in secret_values or bool(re.search(_USERINFO, value)))


def shown_url(url: str) -> str:
    """A URL as it may be printed: without user:password@, query or fragment."""
    try:
        parts = urlsplit(url.strip())
        host = parts.netloc.rsplit("@", 1)[-1]
    except ValueError:
        return "<an unparsable URL>"
    if not parts.scheme:
        return "<an unparsable URL>"
    shown = f"{parts.scheme}://{host}{parts.path}"
    return shown + ("?..." if parts.query or parts.fragment else "")


_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}
_SIZE = r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$"
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": MEGABYTE,
    "mb": MEGABYTE,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
}


def parse_size(text: str) -> int:
    """``50MB`` → 50_000_000, ``25MiB`` → 26_214_400, ``123`` → 123. Raises ValueError."""
    match = re.match(_SIZE, text, re.IGNORECASE)
    if not match:
        raise ValueError(text)
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[(unit or "").lower()])


def split_list(text: str) -> tuple[str, ...]:
    """Split an env/input list on newlines and commas, dropping blanks."""
    parts = re.split(r"[\n,]", text)
    return tuple(p.strip() for p in parts if p.strip())


def _allowed(opt: Option) -> str:
    if opt.kind is Kind.BOOL:
        return "true or false"
    if opt.kind is Kind.CHOICE:
        return "one of " + ", ".join(opt.choices)
    if opt.kind is Kind.SIZE:
        return "a size in bytes, or with a unit such as 50MB or 25MiB"
    if opt.kind in (Kind.INT, Kind.FLOAT):
        what = "a whole number" if opt.kind is Kind.INT else "a number of seconds"
        if opt.minimum is not None:
            return f"{what} >= {opt.minimum:g}"
        return what
    return "text"


def convert(opt: Option, raw: Any) -> Any:
    """Convert one raw value (text from env/flags, or YAML data) for ``opt``; ValueError if bad."""
    if opt.kind is Kind.LIST:
        if isinstance(raw, (list, tuple)):
            items: list[str] = []
            for item in raw:
                items.extend(split_list(str(item)) if opt.name != "reports" else [str(item)])
            return tuple(i.strip() for i in items if str(i).strip())
        return split_list(str(raw))
    if opt.kind is Kind.BOOL:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(raw)
    if opt.kind is Kind.INT:
        if isinstance(raw, bool):
            raise ValueError(raw)
        value = int(str(raw).strip())
    elif opt.kind is Kind.FLOAT:
        if isinstance(raw, bool):
            raise ValueError(raw)
        import math

        value_f = float(str(raw).strip())
        if math.isnan(value_f) or value_f in (float("inf"), float("-inf")):
            raise ValueError(raw)
        value = value_f  # type: ignore[assignment]
    elif opt.kind is Kind.SIZE:
        value = raw if isinstance(raw, int) and not isinstance(raw, bool) else parse_size(str(raw))
    elif opt.kind is Kind.CHOICE:
        text = str(raw).strip().lower()
        if text not in opt.choices:
            raise ValueError(raw)
        enum_type = type(opt.default)
        return enum_type(text)
    else:
        return str(raw).strip()
    if opt.minimum is not None and value < opt.minimum:
        raise ValueError(raw)
    return value


# --- argparse -----------------------------------------------------------------------------

PROG = "jux-submit"
DESCRIPTION = (
    "Find JUnit XML reports, validate them, add CI and git metadata, and submit them to a Jux "
    "server."
)
EPILOG = (
    "commands: 'jux-submit [PATTERN...]' submits (default); 'jux-submit detect [--json]' shows "
    "the detected CI context; 'jux-submit package PATTERN... --output-dir DIR' builds .jxz "
    "packages locally; 'jux-submit resubmit [DIR]' sends the outbox again.\n"
    "exit codes: 0 ok (or failures without --fail-on-error), 1 failures with --fail-on-error, "
    "2 usage or configuration error, 3 no reports found with --if-no-files-found=error, "
    "130 interrupted.\n"
    "secrets come from the environment only, never from a flag or the config file: "
    "JUX_API_KEY (the API key, sent as 'Authorization: Bearer'; action input 'api-key'), "
    "JUX_SIGNING_KEY_PASSWORD (the signing key's passphrase; input 'signing-key-password'), "
    "JUX_CLIENT_KEY_PASSWORD (the client key's passphrase; input 'client-key-password'), "
    "JUX_GITHUB_TOKEN or GITHUB_TOKEN (the pull-request comment's token; input "
    "'github-token'), JUX_GITLAB_TOKEN (the merge-request note's token). "
    "Every option can also be set as a JUX_* variable (see the README)."
)

_SECRET_WORDS = {
    "api-key": "API key",
    "signing-key-password": "signing key's passphrase",
    "client-key-password": "client key's passphrase",
    "github-token": "GitHub token",
    "gitlab-token": "GitLab token",
}
#: flags people try for the secrets, which exist only as environment variables
_SECRET_FLAGS = {
    "--api-key": "api-key",
    "--apikey": "api-key",
    "--token": "api-key",
    "--api-token": "api-key",
    "--bearer-token": "api-key",
    "--key": "api-key",
    "--signing-key-password": "signing-key-password",
    "--password": "signing-key-password",
    "--client-key-password": "client-key-password",
    "--client-key-passphrase": "client-key-password",
    "--key-password": "client-key-password",
    "--github-token": "github-token",
    "--gitlab-token": "gitlab-token",
}


def _terminal_columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` measures it (``COLUMNS``, else
    the terminal on stdout, else 80), without importing shutil and its compression modules."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter with the terminal measured once a parser (``build_parser``):
    argparse builds one formatter for every option it adds (help or not), and its own way of
    measuring imports shutil."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
        *,
        columns: int = 80,
    ) -> None:
        width = columns - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print and exit(2) itself
        raise ConfigError(f"{self.prog}: {message}", hint=f"run '{self.prog} --help'")


def build_parser(command: Command = Command.SUBMIT) -> argparse.ArgumentParser:
    """The argparse parser for one command, built from ``OPTIONS``."""
    prog = PROG if command is Command.SUBMIT else f"{PROG} {command.value}"
    parser = _Parser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=functools.partial(_HelpFormatter, columns=_terminal_columns()),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    if command in (Command.SUBMIT, Command.PACKAGE):
        parser.add_argument(
            "patterns", nargs="*", metavar="PATTERN", help=OPTIONS_BY_NAME["reports"].help
        )
    if command is Command.PACKAGE:
        parser.add_argument(
            "--output-dir",
            required=True,
            metavar="DIR",
            help="folder the .jxz packages are written to",
        )
    if command is Command.RESUBMIT:
        parser.add_argument(
            "resubmit_dir",
            nargs="?",
            metavar="DIR",
            help="outbox folder to send again (default: the outbox setting)",
        )
    if command is Command.DETECT:
        parser.add_argument(
            "--json",
            dest="as_json",
            action="store_true",
            default=False,
            help="print the detected context as one JSON object",
        )
    for opt in OPTIONS:
        if not opt.flags or command not in opt.commands:
            continue
        if command is Command.DETECT and opt.name == "json":
            continue
        env_text = f" [env {opt.env}]" if opt.env else ""
        kwargs: dict[str, Any] = {"dest": opt.field_name, "default": None}
        if opt.kind is Kind.BOOL:
            if opt.name in ("verbose", "quiet", "debug"):
                kwargs["action"] = "store_const"
                kwargs["const"] = True
            else:
                kwargs["action"] = argparse.BooleanOptionalAction
        elif opt.kind is Kind.LIST:
            kwargs["action"] = "append"
            kwargs["metavar"] = opt.metavar or opt.name.upper()
        else:
            kwargs["metavar"] = opt.metavar or opt.name.upper()
        if opt.kind is Kind.CHOICE:
            kwargs["metavar"] = "{" + ",".join(opt.choices) + "}"
        default_text = opt.default_text or _doc_default(opt)
        suffix = f" (default: {default_text})" if default_text else ""
        parser.add_argument(*opt.flags, help=opt.help + suffix + env_text, **kwargs)
    return parser


def _doc_default(opt: Option) -> str:
    value = opt.default
    if value is None or value == ():
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def doc_default(opt: Option) -> str:
    """The default as the docs show it (README table, action.yml descriptions)."""
    return opt.default_text or _doc_default(opt) or "none"


# --- loading ------------------------------------------------------------------------------


def load_settings(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    cwd: Path | None = None,
    workspace_of: Callable[[Mapping[str, str]], str | None] | None = None,
) -> Settings:
    """Build the frozen ``Settings`` from the command line and the environment.

    ``argv`` excludes the program name and may start with a command word (``detect``,
    ``package``, ``resubmit``, ``submit``). ``workspace_of`` returns the CI workspace from the
    environment (injected by ``cli`` so that this module never runs detection itself).
    Raises ``ConfigError`` (exit 2) naming every bad value.
    """
    args = list(argv)
    command = Command.SUBMIT
    if args and args[0] in {c.value for c in Command}:
        command = Command(args.pop(0))
    elif args:
        _refuse_near_command(args[0], cwd or Path.cwd())
    _refuse_secret_flags(args)
    _refuse_other_commands_flags(command, args)
    namespace = build_parser(command).parse_args(args)
    flag_values: dict[str, Any] = {
        k: v for k, v in vars(namespace).items() if v is not None and v != []
    }
    if flag_values.get("patterns"):
        flag_values["reports"] = tuple(flag_values.pop("patterns"))
    else:
        flag_values.pop("patterns", None)

    cwd = cwd or Path.cwd()
    problems: list[str] = []
    notes: list[str] = []
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def raw_from_environment(opt: Option) -> tuple[Any, str] | None:
        if opt.has_input:
            text = environ.get(opt.input_env, "")
            if text.strip():
                return text, f"input '{opt.name}'"
        for name in (opt.env, *opt.aliases):
            if name and environ.get(name, "").strip():
                return environ[name], name
        return None

    # working-directory and config first: the config file is found relative to the former.
    def resolve(opt: Option, config: Mapping[str, Any]) -> None:
        raw: Any
        if opt.field_name in flag_values:
            raw, source = flag_values[opt.field_name], f"{opt.flags[0] if opt.flags else 'flag'}"
        elif (found := raw_from_environment(opt)) is not None:
            raw, source = found
        elif opt.name in config and config[opt.name] not in (None, ""):
            raw, source = config[opt.name], "config file"
        else:
            values[opt.field_name] = opt.default
            sources[opt.name] = "default"
            return
        try:
            if opt.kind is Kind.LIST and isinstance(raw, list) and source.startswith("-"):
                value: Any = tuple(
                    item
                    for chunk in raw
                    for item in (split_list(chunk) if opt.name != "reports" else [chunk])
                    if item
                )
            else:
                value = convert(opt, raw)
        except (ValueError, TypeError, OverflowError):
            shown = "<hidden>" if opt.is_secret else repr(raw)
            problems.append(
                f"{opt.describe()}: invalid value {shown} (from {source}); expected {_allowed(opt)}"
            )
            value = opt.default
        values[opt.field_name] = value
        sources[opt.name] = source

    resolve(OPTIONS_BY_NAME["working-directory"], {})
    resolve(OPTIONS_BY_NAME["config"], {})
    workdir_text = values["working_directory"]
    if workdir_text:
        workdir = (cwd / Path(workdir_text).expanduser()).resolve()
    else:
        workspace = workspace_of(environ) if workspace_of else None
        workdir = Path(workspace).expanduser().resolve() if workspace else cwd.resolve()
        sources["working-directory"] = "CI workspace" if workspace else "current directory"
        if workspace and not workdir.is_dir():
            # e.g. a container where the CI's workspace path is mounted elsewhere
            notes.append(
                f"the CI workspace {workspace!r} does not exist here; using the current "
                f"directory {str(cwd.resolve())!r} (set --working-directory to choose)"
            )
            workdir = cwd.resolve()
            sources["working-directory"] = "current directory"
    if not workdir.is_dir():
        problems.append(
            f"{OPTIONS_BY_NAME['working-directory'].describe()}: {str(workdir)!r} is not a "
            "directory; expected an existing folder"
        )

    config = _read_config(values.get("config"), cwd, workdir, problems)
    for opt in OPTIONS:
        if opt.name not in ("working-directory", "config"):
            resolve(opt, config)
    values["working_directory"] = workdir

    if command is Command.SUBMIT and not values["dry_run"] and not values["api_url"]:
        problems.append(
            f"{OPTIONS_BY_NAME['api-url'].describe()}: no server given; set the Jux server URL "
            "(for example https://jux.example.com), or use --dry-run"
        )
    if command is Command.RESUBMIT and not values["api_url"]:
        problems.append(f"{OPTIONS_BY_NAME['api-url'].describe()}: required to resubmit")
    if values["api_url"]:
        problems.extend(
            _check_url(values["api_url"], values["api_key"], values["allow_insecure_http"])
        )
    key = values["api_key"]
    if key and any(c.isspace() or not c.isprintable() for c in key):
        problems.append(
            f"{OPTIONS_BY_NAME['api-key'].describe()}: the API key contains whitespace or "
            "control characters (a line break copied with it?); remove them (the key is not "
            "shown)"
        )
    if values["verbose"] and values["quiet"]:
        problems.append("-v/--verbose and -q/--quiet: choose one")
    tls_problems = _check_tls_paths(values, workdir)
    if command in OPTIONS_BY_NAME["ca-bundle"].commands:  # detect and package send nothing
        problems.extend(tls_problems)
    secret_values = {
        v
        for v in (
            values["api_key"],
            values["signing_key"],
            values["signing_key_password"],
            values["client_key_password"],
        )
        if v
    }
    for name in values["env_var"]:
        if refuses_env_var(name, environ.get(name), secret_values):
            problems.append(
                f"{OPTIONS_BY_NAME['env-var'].describe()}: refusing to record {name}: it holds "
                "(or looks like it holds) a secret, and recorded variables are stored on the "
                "server as env:NAME properties"
            )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            problems.append(
                f"{OPTIONS_BY_NAME['env-var'].describe()}: invalid variable name {name!r}; "
                "expected letters, digits and underscores"
            )

    if problems:
        raise ConfigError(
            "invalid configuration:\n  " + "\n  ".join(problems),
            hint="fix the values above; 'jux-submit --help' lists every option",
        )

    extra: dict[str, Any] = {}
    if command is Command.PACKAGE:
        extra["output_dir"] = (cwd / namespace.output_dir).resolve()
    if command is Command.RESUBMIT and getattr(namespace, "resubmit_dir", None):
        extra["resubmit_dir"] = (cwd / namespace.resubmit_dir).resolve()
    if command is Command.DETECT:
        extra["as_json"] = bool(namespace.as_json)
    return Settings(
        command=command,
        sources=sources,
        environ=environ,
        notes=tuple(notes),
        **values,
        **extra,
    )


def _refuse_near_command(word: str, cwd: Path) -> None:
    """A first argument that looks like a mistyped command (``resubmt``), not a pattern: no
    wildcard, no path, no existing file of that name. Raises ``ConfigError``."""
    if word.startswith("-") or _looks_like_path(word) or (cwd / word).exists():
        return
    import difflib

    close = difflib.get_close_matches(word, [c.value for c in Command], n=1, cutoff=0.7)
    if close:
        raise ConfigError(
            f"unknown command {word!r}: did you mean 'jux-submit {close[0]}'?",
            hint="report patterns contain a wildcard or a path, e.g. 'build/**/TEST-*.xml'; "
            "'jux-submit --help' lists the commands",
        )


def _refuse_secret_flags(args: Sequence[str]) -> None:
    """A secret given as a flag would show in process lists and CI logs: say where it goes
    instead (the value itself is never echoed). Raises ``ConfigError``."""
    for arg in args:
        flag = arg.split("=", 1)[0]
        name = _SECRET_FLAGS.get(flag)
        if name is not None:
            opt = OPTIONS_BY_NAME[name]
            raise ConfigError(
                f"{flag}: the {_SECRET_WORDS[name]} is never given as a flag (it would show "
                f"in process lists and CI logs); set the environment variable {opt.env} or the "
                f"action input '{opt.name}', from your CI's secret store",
                hint="'jux-submit --help' lists the settings that come from the environment",
            )


def _looks_like_path(word: str) -> bool:
    return any(c in word for c in "*?[/\\.!")


def _refuse_other_commands_flags(command: Command, args: Sequence[str]) -> None:
    """Name the flags given to a command that does not use them (argparse would only say
    'unrecognized arguments'). Raises ``ConfigError``."""
    own = {flag for opt in OPTIONS if command in opt.commands for flag in opt.flags}
    others = {flag for opt in OPTIONS if command not in opt.commands for flag in opt.flags}
    given = sorted({a.split("=", 1)[0] for a in args if a.startswith("-")} & (others - own))
    if not given:
        return
    name = f"{PROG} {command.value}" if command is not Command.SUBMIT else PROG
    if command is Command.RESUBMIT:
        why = (
            "resubmit sends the stored copies exactly as the failed run built them (with that "
            "run's project, branch, commit and build); to change them, run 'jux-submit' on the "
            "reports again: it rebuilds each one and replaces its stored copy"
        )
    else:
        why = f"run '{name} --help' for the options of this command"
    raise ConfigError(f"'{name}' does not use {', '.join(given)}", hint=why)


def _check_url(url: str, api_key: str | None, allow_insecure: bool) -> list[str]:
    opt = OPTIONS_BY_NAME["api-url"]
    shown = repr(shown_url(url))  # never echo credentials or a query token
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return [f"{opt.describe()}: invalid URL {shown}; expected http(s)://host[:port][/path]"]
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url.strip()):
        return [f"{opt.describe()}: invalid URL {shown}: it contains spaces or control characters"]
    if parts.username or parts.password:
        return [
            f"{opt.describe()}: the URL must not contain credentials; put the key in "
            "JUX_API_KEY (or the api-key input) instead"
        ]
    if parts.scheme not in ("http", "https") or not hostname:
        return [f"{opt.describe()}: invalid URL {shown}; expected http(s)://host[:port][/path]"]
    if parts.query or parts.fragment:
        return [f"{opt.describe()}: invalid URL {shown}; remove the query or fragment"]
    if (
        parts.scheme == "http"
        and api_key
        and not allow_insecure
        and not is_loopback_host(parts.hostname)
    ):
        return [
            f"{opt.describe()}: refusing to send the API key over plain http:// to "
            f"{parts.hostname}; use https://, or opt in with --allow-insecure-http / "
            "JUX_ALLOW_INSECURE_HTTP=true / input 'allow-insecure-http'"
        ]
    return []


def _check_tls_paths(values: dict[str, Any], workdir: Path) -> list[str]:
    """Check ``ca-bundle``, ``client-cert`` and ``client-key`` (relative to the working
    directory, like ``signing-key``) and replace them in ``values`` by absolute paths. The
    files are only looked at here (they exist, hold PEM); ``transport`` loads them when it
    builds the client (a wrong passphrase is found there, still before any request)."""
    problems: list[str] = []
    for name in ("ca-bundle", "client-cert", "client-key"):
        opt = OPTIONS_BY_NAME[name]
        text = values[opt.field_name]
        if not text:
            values[opt.field_name] = None
            continue
        path = Path(text).expanduser()
        path = path if path.is_absolute() else workdir / path
        values[opt.field_name] = path
        if name == "ca-bundle" and path.is_dir():
            continue
        expected = (
            "a PEM file or a folder of PEM certificates" if name == "ca-bundle" else "a PEM file"
        )
        if not path.exists():
            problems.append(f"{opt.describe()}: {str(path)!r} does not exist; expected {expected}")
        elif not path.is_file():
            problems.append(f"{opt.describe()}: {str(path)!r} is not a file; expected {expected}")
        else:
            try:
                with path.open("rb") as handle:
                    head = handle.read(4 * MEGABYTE)
            except OSError as exc:
                problems.append(
                    f"{opt.describe()}: cannot read {str(path)!r}: {exc.strerror or exc}"
                )
                continue
            if b"-----BEGIN " not in head:
                problems.append(
                    f"{opt.describe()}: {str(path)!r} holds no PEM block ('-----BEGIN ...'); "
                    f"expected {expected}"
                )
    cert, key = OPTIONS_BY_NAME["client-cert"], OPTIONS_BY_NAME["client-key"]
    if values["client_cert"] and not values["client_key"]:
        problems.append(
            f"{cert.describe()} is set but {key.describe()} is not; mutual TLS needs both "
            "the certificate and its private key"
        )
    if values["client_key"] and not values["client_cert"]:
        problems.append(
            f"{key.describe()} is set but {cert.describe()} is not; mutual TLS needs both "
            "the certificate and its private key"
        )
    return problems


def _read_config(
    explicit: str | None, cwd: Path, workdir: Path, problems: list[str]
) -> Mapping[str, Any]:
    opt = OPTIONS_BY_NAME["config"]
    if explicit:
        path = cwd / Path(explicit).expanduser()
    else:
        path = workdir / CONFIG_FILE_NAME
        if not path.is_file():
            return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(
            f"{opt.describe()}: cannot read config file {str(path)!r}: "
            f"{getattr(exc, 'strerror', None) or exc}"
        )
        return {}
    import yaml  # lazily: only runs that have a config file pay for it

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(
            f"{opt.describe()}: invalid YAML in {str(path)!r}{where}: "
            f"{getattr(exc, 'problem', None) or exc}"
        )
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(
            f"{opt.describe()}: {str(path)!r} must be a mapping of option names to values"
        )
        return {}
    config: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("_", "-")
        if name == "patterns":
            name = "reports"
        opt_for_key = OPTIONS_BY_NAME.get(name)
        if opt_for_key is None or name in ("config", "working-directory"):
            known = ", ".join(o.name for o in OPTIONS if o.name not in ("config",))
            problems.append(
                f"{opt.describe()}: unknown key {key!r} in {str(path)!r}; known keys: {known}"
            )
            continue
        if opt_for_key.is_secret:
            problems.append(
                f"{opt.describe()}: {key!r} is a secret and is not read from a "
                f"config file; set {opt_for_key.env} instead"
            )
            continue
        config[name] = value
    return config
