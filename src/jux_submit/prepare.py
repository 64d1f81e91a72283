"""Prepare what is sent: the run's context and metadata, raw or package, and the payload.

``resolve_context`` and ``metadata_for`` are computed once per run; ``prepare_payload`` turns one
validated report into its payload (``decide_mode`` applies ``--mode``); ``SubmissionKeys`` says
when two submissions are the same, for the journal.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import field, replace
from typing import TYPE_CHECKING

from jux_submit.attachments import (
    AttachmentSet,
    collect_globbed,
    find_references,
    resolve_references,
    unique_names,
)
from jux_submit.detect import apply_overrides, default_project, detect_context
from jux_submit.enrich import Metadata, Splice, build_metadata, enrich_file, plan_properties
from jux_submit.formats import ConversionError, Converted, read_report
from jux_submit.models import (
    Attachment,
    CIContext,
    Payload,
    PayloadMode,
    Record,
    ReportFile,
    ValidationProblem,
    record,
)
from jux_submit.payload import build_package_payload, build_raw_payload
from jux_submit.settings import Mode
from jux_submit.validate import Validated, validate_report

if TYPE_CHECKING:
    from jux_submit.settings import Settings
    from jux_submit.signing import SigningMaterial

log = logging.getLogger("jux_submit")

SIGNED_WARNING = (
    "the report carries an XML signature: it is sent byte for byte, without "
    "metadata (adding properties would break the signature)"
)
#: properties that differ between two sends of the same submission (not part of its identity)
VOLATILE_PROPERTIES = frozenset({"jux:timestamp", "jux:hostname", "jux:submitter"})


def resolve_context(settings: Settings) -> CIContext:
    """CI detection plus the user's overrides; ``project`` always filled."""
    context = detect_context(settings.environ, settings.working_directory)
    context = apply_overrides(
        context, project=settings.project, branch=settings.branch, commit=settings.commit
    )
    return context.with_values(project=default_project(context, settings.working_directory))


def explicit_property_names(settings: Settings) -> tuple[str, ...]:
    """Properties the user set on purpose: these replace what a report already carries."""
    names = []
    if settings.project:
        names.append("project")
    if settings.branch:
        names.append("git:branch")
    if settings.commit:
        names.append("git:commit")
    if settings.sources.get("environment", "default") != "default":
        names.append("jux:environment")
    if settings.tags:
        names.append("jux:tags")
    return tuple(names)


def metadata_for(context: CIContext, settings: Settings) -> Metadata:
    """The properties every report of this run gets (see ``enrich.build_metadata``)."""
    return build_metadata(
        context,
        cwd=settings.working_directory,
        explicit_names=explicit_property_names(settings),
        environment=settings.environment,
        tags=settings.tags,
        env_vars=settings.env_var,
        environ=settings.environ,
    )


@record
class SubmissionKeys(Record):
    """What makes two submissions the same, for the journal.

    A report counts as already accepted only for the same server, the same content at the same
    path, the same effective metadata (project, branch, commit, tags, environment, recorded
    variables and every other property written, except the time, host and tool version) and
    the same run identity (CI provider, build, job and attempt; outside CI, the commit). The
    key is also the submission's ``Idempotency-Key``. The secret is derived from
    ``described`` when a key is first asked for (a dry run of new paths asks for none, and
    OpenSSL's start-up costs milliseconds).
    """

    #: what the keys are derived from: the server, the effective metadata, the run identity
    server: str
    metadata: tuple[tuple[str, str], ...]
    run: tuple[str | None, ...]

    @classmethod
    def for_run(cls, settings: Settings, context: CIContext, metadata: Metadata) -> SubmissionKeys:
        if context.is_ci:
            identity: tuple[str | None, ...] = (
                context.provider,
                context.build_id,
                context.job_id or context.job_name,
                context.run_attempt,
            )
        else:
            identity = (context.commit,)
        root = settings.server_root or ""
        scheme, sep, rest = root.partition("://")
        host, slash, path = rest.partition("/")
        return cls(
            f"{scheme}{sep}{host.rsplit('@', 1)[-1].lower()}{slash}{path}",
            tuple(
                (n, v)
                for n, v in (*metadata.explicit, *metadata.detected)
                if n not in VOLATILE_PROPERTIES
            ),
            identity,
        )

    @functools.cached_property
    def described(self) -> bytes:
        """The canonical JSON the secret is derived from (built when a key is first asked for:
        a dry run of new paths asks for none)."""
        import json

        return json.dumps(
            {
                "server": self.server,
                "metadata": sorted([n, v] for n, v in self.metadata),
                "run": list(self.run),
            },
            sort_keys=True,
        ).encode("utf-8")

    @functools.cached_property
    def secret(self) -> bytes:
        """The run's HMAC key: the SHA-256 of ``described``."""
        import hashlib

        return hashlib.sha256(self.described).digest()

    def key(self, path: str, source_sha256: str) -> str:
        """The journal key of one report of this run."""
        import hashlib
        import hmac

        message = f"{path}\0{source_sha256}".encode("utf-8", "surrogateescape")
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def check_report(
    file: ReportFile, settings: Settings, *, keep_content: bool = True
) -> tuple[Converted | None, Validated | ValidationProblem]:
    """Convert the report to JUnit XML when it is in another format (``--format``), then
    validate it. A report that looks like a format but cannot be converted is a problem."""
    forced = None if settings.format.value == "auto" else settings.format.value
    whole: bytes | None = None  # a small report read once: sniffed, then validated
    try:
        converted, whole = read_report(file.path, file.relpath, forced)
    except ConversionError as exc:
        return None, ValidationProblem(str(exc))
    except OSError:
        converted = None  # validation says why the file cannot be read
    if converted is None:
        checked = validate_report(
            file,
            huge_tree=settings.huge_xml,
            keep_content=keep_content,
            repair=settings.repair,
            data=whole,
        )
        is_other = isinstance(checked, ValidationProblem) and not checked.is_not_a_report
        if is_other and forced is None and _looks_like_json(file):
            return None, ValidationProblem(
                "not a test report: JSON in none of the formats jux-submit converts (see --format)",
                is_not_a_report=True,
            )
        return None, checked
    conversion = converted.conversion
    checked = validate_report(file, huge_tree=settings.huge_xml, converted=conversion.xml)
    if isinstance(checked, ValidationProblem):  # a converter bug: say whose output it is
        return None, ValidationProblem(f"the {conversion.source_format} conversion: {checked}")
    return converted, replace(checked, warnings=(*checked.warnings, *conversion.warnings))


def _looks_like_json(file: ReportFile) -> bool:
    try:
        with file.path.open("rb") as handle:
            head = handle.read(256).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False
    return head[:1] in (b"{", b"[")


# --- raw or package ---------------------------------------------------------------------------


@record
class PackagingPlan(Record):
    """What every package of a run shares: the signing material and the ``--attach`` files."""

    signing: SigningMaterial | None = None
    extra: AttachmentSet = field(default_factory=AttachmentSet)


@record
class ModeDecision(Record):
    """Raw or package for one submission, why, and the attachments it carries."""

    mode: PayloadMode
    reason: str
    attachments: tuple[Attachment, ...] = ()
    warnings: tuple[str, ...] = ()


def prepare_packaging(settings: Settings, *, mode: Mode | None = None) -> PackagingPlan:
    """Load the signing key/certificate and expand ``--attach`` globs, once per run.

    Nothing is loaded in raw mode (a configured key is then only mentioned in the log).
    Raises ``ConfigError`` for an unusable key or certificate.
    """
    effective = mode or settings.mode
    if effective is Mode.RAW:
        if settings.signing_key or settings.attachments:
            log.warning("--mode raw: the signing key and --attach files are not used")
        return PackagingPlan()
    signing = None
    if settings.signing_key or settings.signing_cert:
        from jux_submit.signing import load_signing  # cryptography: only when signing

        signing = load_signing(settings)
    if signing is not None:
        log.info("packages are signed with a %s key", signing.algorithm)
    extra = (
        collect_globbed(settings.attachments, settings.working_directory)
        if settings.attachments
        else AttachmentSet()
    )
    for warning in extra.warnings:
        log.warning("%s", warning)
    # the warnings were logged once here; each package only carries the files
    return PackagingPlan(signing, AttachmentSet(extra.attachments))


def decide_mode(
    reports: Sequence[ReportFile],
    settings: Settings,
    plan: PackagingPlan,
    *,
    mode: Mode | None = None,
    contents: Sequence[bytes | None] = (),
    exclude: frozenset[str] = frozenset(),
) -> ModeDecision:
    """Apply ``--mode`` (``mode`` overrides it): ``auto`` sends a package when at least one
    attachment was actually found and allowed, or a signing key is configured; else raw.

    ``contents`` may give, in the order of ``reports``, the bytes of reports already read
    whole (None for the others), so that they are not read again. Attachments whose type the
    server does not take (``--attachment-types``) and those named in ``exclude`` (refused by
    the server before) are left out, with a warning."""
    effective = mode or settings.mode
    if effective is Mode.RAW:
        return ModeDecision(PayloadMode.RAW, "raw: mode is raw")
    found = AttachmentSet()
    for index, report in enumerate(reports):
        content = contents[index] if index < len(contents) else None
        refs = find_references(report.path, huge_tree=settings.huge_xml, content=content)
        found = found + resolve_references(refs, report, settings.working_directory)
    attachments, left_out = filter_attachments(
        unique_names(found.attachments + plan.extra.attachments),
        settings.attachment_types,
        exclude,
    )
    found = AttachmentSet(found.attachments, (*found.warnings, *left_out))
    count = f"{len(attachments)} attachment(s)"
    if effective is Mode.PACKAGE:
        reason = f"package: mode is package ({count})"
    elif attachments:
        reason = f"package: {count} found"
    elif plan.signing is not None:
        reason = "package: a signing key is configured"
    else:
        return ModeDecision(
            PayloadMode.RAW, "raw: no attachments found and no signing key", (), found.warnings
        )
    if plan.signing is not None:
        reason += f"; signed ({plan.signing.algorithm})"
    return ModeDecision(PayloadMode.PACKAGE, reason, attachments, found.warnings)


_TEXT_LOGS = (".log", ".out", ".err", ".stdout", ".stderr")


def attachment_type(name: str) -> str:
    """The MIME type a server infers from an attachment's name (``application/octet-stream``
    when unknown)."""
    import mimetypes

    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed == "text/xml":
        return "application/xml"
    if guessed is None and name.lower().endswith(_TEXT_LOGS):
        return "text/plain"  # test logs: text a server shows as such
    return guessed or "application/octet-stream"


def filter_attachments(
    attachments: Sequence[Attachment], allowed: Sequence[str], exclude: frozenset[str]
) -> tuple[tuple[Attachment, ...], tuple[str, ...]]:
    """(kept, warnings): attachments of a type outside ``allowed`` (``*``: any) or named in
    ``exclude`` are left out, so the server's allowlist cannot cost the whole report."""
    kept: list[Attachment] = []
    warnings: list[str] = []
    accepts_any = "*" in allowed
    for item in attachments:
        kind = attachment_type(item.name)
        if item.name in exclude:
            warnings.append(f"attachment {item.name} left out: the server refused it before")
        elif not accepts_any and kind not in allowed:
            warnings.append(
                f"attachment {item.name} left out: its type {kind} is not one Jux servers "
                "accept (--attachment-types / JUX_ATTACHMENT_TYPES changes the list; '*' "
                "sends every type)"
            )
        else:
            kept.append(item)
    return tuple(kept), tuple(warnings)


def prepare_payload(
    checked: Validated,
    metadata: Metadata,
    settings: Settings,
    *,
    packaging: PackagingPlan | None = None,
    mode: Mode | None = None,
    exclude: frozenset[str] = frozenset(),
) -> Payload:
    """Enrich the report (unless signed) and build what will be sent: raw XML, or a ``.jxz``
    package when ``--mode`` (or ``mode``, which overrides it) says so; see ``decide_mode``
    (``exclude`` names attachments to leave out).
    Raises ``jxz.SignatureError`` if signing fails."""
    report = checked.report
    file = report.file
    plan = packaging or PackagingPlan()
    content = checked.text  # the whole file when small: not read again below
    decision = decide_mode([file], settings, plan, mode=mode, contents=(content,), exclude=exclude)
    if report.is_signed:
        add: tuple[tuple[str, str], ...] = ()
        splice = Splice(b"", 0)
        warnings: tuple[str, ...] = (SIGNED_WARNING, *checked.warnings, *decision.warnings)
    else:
        add, remove = plan_properties(checked.first_suite_properties, metadata, file.relpath)
        splice = enrich_file(
            file.path,
            file.size,
            add,
            remove,
            report.encoding,
            content=content,
            has_properties=checked.first_suite_has_properties,
        )
        warnings = (*checked.warnings, *decision.warnings)
    if decision.mode is PayloadMode.PACKAGE:
        if content is not None:
            xml = splice.head + content[splice.resume_at :]
        else:
            with file.path.open("rb") as handle:
                handle.seek(splice.resume_at)
                xml = splice.head + handle.read()
        return build_package_payload(
            xml,
            decision.attachments,
            reason=decision.reason,
            signing=plan.signing,
            properties_added=add,
            warnings=warnings,
            digest=not settings.dry_run,
        )
    return build_raw_payload(
        file.path,
        file.size,
        splice,
        reason=decision.reason,
        properties_added=add,
        warnings=warnings,
        content=content,
        digest=not settings.dry_run,  # a dry run sends and stores nothing
    )
