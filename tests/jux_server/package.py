"""``POST /api/v1/reports/package`` for the test server (registered by ``server.py``).

Checks in the order of the server implementer's guide: content type, size limit (413), ZIP
magic (400), then ``jxz.ContainerReader``: path traversal (400), manifest and ``junit.xml``
present (422), signature (required when ``server.require_signature``; checked against
``server.trusted_certs`` when given), digests (422) and, when ``server.attachment_types`` is
set, the implementer's guide's attachment MIME allowlist (422 naming the attachment). A valid
package is stored with its attachments, and its ``junit.xml`` split into suites and cases for
the query API.
"""

from __future__ import annotations

import mimetypes
import uuid
from typing import TYPE_CHECKING, Any

from tests.jux_server.server import PACKAGE_PATH, StoredRun, _error, read_report, submit_response

if TYPE_CHECKING:
    from tests.jux_server.server import JuxServer, LoggedRequest

PACKAGE_TYPE = "application/vnd.jux.report+zip"
ZIP_MAGIC = b"PK\x03\x04"


def _verify_signature(server: JuxServer, reader: Any) -> str | None:
    """None when the signature verifies (against a trusted certificate if any), else why."""
    from cryptography import x509
    from jxz import SignatureError
    from jxz.signing import verify_signature

    signature = reader.get_signature_xml()
    manifest_text = reader._manifest_text
    if not server.trusted_certs:
        try:
            verify_signature(signature, manifest_text, None)
        except SignatureError as exc:
            return str(exc)
        return None
    reasons = []
    for pem in server.trusted_certs:
        try:
            verify_signature(signature, manifest_text, x509.load_pem_x509_certificate(pem))
        except SignatureError as exc:
            reasons.append(str(exc))
        else:
            return None
    return "not signed by a trusted certificate: " + "; ".join(reasons)


def handle_package(server: JuxServer, req: LoggedRequest) -> tuple[int, dict[str, str], Any]:
    from jxz import (
        ContainerReader,
        ContainerStructureError,
        DigestMismatchError,
        JxzError,
        PathTraversalError,
    )

    content_type = req.headers.get("content-type", "").split(";")[0].strip()
    if content_type != PACKAGE_TYPE:
        return (
            400,
            {},
            _error("Invalid content type", f"expected {PACKAGE_TYPE}, got {content_type!r}"),
        )
    if len(req.body) > server.max_package_size:
        return (
            413,
            {},
            _error(
                "Package too large",
                f"package is {len(req.body)} bytes, the limit is {server.max_package_size}",
                "Split the report or remove attachments",
                size=len(req.body),
                limit=server.max_package_size,
            ),
        )
    if not req.body.startswith(ZIP_MAGIC):
        return 400, {}, _error("Invalid package", "the body is not a ZIP archive")
    try:
        reader = ContainerReader(req.body)
    except PathTraversalError as exc:
        return 400, {}, _error("Invalid package", str(exc), "Remove '..' and absolute paths")
    except ContainerStructureError as exc:
        if "Not a valid ZIP" in str(exc):
            return 400, {}, _error("Invalid package", str(exc))
        return 422, {}, _error("Package verification failed", str(exc))
    except JxzError as exc:  # ManifestError
        return 422, {}, _error("Package verification failed", f"manifest: {exc}")

    if not reader.is_signed and server.require_signature:
        return (
            422,
            {},
            _error(
                "Package verification failed",
                "signature required: this server only accepts signed packages",
                "Sign the package (META-INF/SIGNATURE.XML) with a trusted key",
            ),
        )
    if reader.is_signed:
        reason = _verify_signature(server, reader)
        if reason is not None:
            return 422, {}, _error("Package verification failed", f"signature: {reason}")
    try:
        reader.validate()
    except DigestMismatchError as exc:
        return 422, {}, _error("Package verification failed", f"digest: {exc}")
    except ContainerStructureError as exc:
        return 422, {}, _error("Package verification failed", str(exc))

    if server.attachment_types is not None:
        for name in reader.get_attachments():
            kind = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
            if kind not in server.attachment_types:
                return (
                    422,
                    {},
                    _error(
                        "Package verification failed",
                        f"attachment attachments/{name} has the type {kind}, which this "
                        "server does not accept",
                        "Allowed types: " + ", ".join(sorted(server.attachment_types)),
                    ),
                )
    report = reader.get_report()
    try:
        props, counts, suites = read_report(report)
    except ValueError as exc:
        return 400, {}, _error("Invalid JUnit XML", f"junit.xml: {exc}")
    first: dict[str, str] = {}
    for name, value in props:
        first.setdefault(name, value)
    if not first.get("project", "").strip():
        return (
            400,
            {},
            _error(
                "Missing required metadata",
                "Project name is required but not found in XML properties",
                missing_property="project",
            ),
        )
    run = StoredRun(
        str(uuid.uuid4()),
        PACKAGE_PATH,
        report,
        first,
        props,
        counts,
        attachments=reader.get_attachments(),
        signed=reader.is_signed,
        idempotency_key=req.headers.get("idempotency-key"),
        suites=suites,
    )
    server.store(run)
    return 201, {}, submit_response(run)
