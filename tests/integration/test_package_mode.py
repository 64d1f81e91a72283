"""Package mode end to end: the real CLI against the real test server's package endpoint."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
import requests
from jxz import ContainerBuilder, ContainerReader

from tests.conftest import make_environ, run_cli, run_subprocess, write_junit
from tests.jux_server import PACKAGE_PATH, RAW_PATH, Fault, JuxServer
from tests.unit.test_signing import cert_pem, key_pem, make_cert, make_key

SCREENSHOT = bytes(range(256)) * 40 + b"\x89PNG\r\n\x1a\n\x00\xff"
LOG = "line 1\nline 2 \u00e9\n".encode()


def submit(server: JuxServer, ws: Path, *args: str, **env: str):  # type: ignore[no-untyped-def]
    argv = [
        "--api-url",
        server.url,
        "--working-directory",
        str(ws),
        "--max-retry-wait",
        "2",
        "--json",
        str(ws / "out.json"),
        "--fail-on-error",
        *args,
    ]
    return run_cli(argv, make_environ(JUX_PROJECT="shop", **env))


def results(ws: Path) -> list[dict]:  # type: ignore[type-arg]
    return json.loads((ws / "out.json").read_text())["files"]


def report_with_attachments(ws: Path, rel: str = "build/TEST-login.xml") -> Path:
    (ws / "build" / "shots").mkdir(parents=True, exist_ok=True)
    (ws / "build" / "shots" / "login.png").write_bytes(SCREENSHOT)
    (ws / "logs").mkdir(exist_ok=True)
    (ws / "logs" / "app.log").write_bytes(LOG)
    extra = """  <testcase classname="shop.LoginTest" name="test_login">
    <properties><property name="attachment" value="logs/app.log"/></properties>
    <system-out>opened page [[ATTACHMENT|shots/login.png]]</system-out>
  </testcase>
"""
    return write_junit(ws / rel, suite="Login", cases=1, extra=extra)


def test_attachments_travel_in_one_package_byte_identical(
    jux_server: JuxServer, workdir: Path
) -> None:
    report_with_attachments(workdir)
    result = submit(jux_server, workdir, "build/*.xml")
    assert result.code == 0, result.output
    assert jux_server.posts(RAW_PATH) == []
    (post,) = jux_server.posts(PACKAGE_PATH)
    assert post.headers["content-type"] == "application/vnd.jux.report+zip"
    (run,) = jux_server.runs
    assert run.endpoint == PACKAGE_PATH and not run.signed
    assert run.attachments == {"login.png": SCREENSHOT, "app.log": LOG}
    assert run.counts["test_count"] == 2
    assert run.properties["project"] == "shop"
    assert run.properties["jux:source_file"] == "build/TEST-login.xml"
    manifest = ContainerReader(post.body).get_manifest()
    attachment_for = {e["Name"]: e.get("Attachment-For") for e in manifest.entries}
    assert attachment_for["attachments/login.png"] == "shop.LoginTest.test_login"
    assert attachment_for["attachments/app.log"] == "shop.LoginTest.test_login"
    (file,) = results(workdir)
    assert file["status"] == "submitted" and file["mode"] == "package"
    assert file["mode_reason"] == "package: 2 attachment(s) found"
    assert file["test_run_id"] == run.test_run_id


def test_marker_to_a_missing_file_does_not_make_a_package(
    jux_server: JuxServer, workdir: Path
) -> None:
    write_junit(workdir / "TEST-a.xml", extra="<system-out>[[ATTACHMENT|gone.png]]</system-out>")
    result = submit(jux_server, workdir, "TEST-a.xml")
    assert result.code == 0, result.output
    assert len(jux_server.posts(RAW_PATH)) == 1 and jux_server.posts(PACKAGE_PATH) == []
    assert "attachment not found: [[ATTACHMENT|gone.png]]" in result.stderr
    (file,) = results(workdir)
    assert file["mode"] == "raw"
    assert file["mode_reason"] == "raw: no attachments found and no signing key"
    assert any("gone.png" in w for w in file["warnings"])


def test_attach_glob_goes_into_every_package(jux_server: JuxServer, workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml", suite="A")
    write_junit(workdir / "TEST-b.xml", suite="B")
    (workdir / "env").mkdir()
    (workdir / "env" / "versions.txt").write_text("python 3.11\n")
    result = submit(jux_server, workdir, "TEST-*.xml", "--attach", "env/*.txt")
    assert result.code == 0, result.output
    assert len(jux_server.runs) == 2
    for run in jux_server.runs:
        assert run.attachments == {"versions.txt": b"python 3.11\n"}
    entries = ContainerReader(jux_server.posts(PACKAGE_PATH)[0].body).get_manifest().entries
    assert "Attachment-For" not in next(e for e in entries if e["Name"].startswith("attach"))


def test_duplicate_attachment_names_are_kept_apart(jux_server: JuxServer, workdir: Path) -> None:
    for folder, data in (("a", b"first"), ("b", b"second")):
        (workdir / folder).mkdir()
        (workdir / folder / "shot.png").write_bytes(data)
    write_junit(
        workdir / "TEST-a.xml",
        extra="<system-out>[[ATTACHMENT|a/shot.png]] [[ATTACHMENT|b/shot.png]]</system-out>",
    )
    assert submit(jux_server, workdir, "TEST-a.xml").code == 0
    assert jux_server.runs[0].attachments == {"shot.png": b"first", "shot-2.png": b"second"}


@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize("with_cert", [False, True], ids=["no-cert", "cert"])
def test_signed_package_verifies_on_the_server(
    jux_server: JuxServer, workdir: Path, kind: str, with_cert: bool
) -> None:
    key = make_key(kind)
    env = {"JUX_SIGNING_KEY": key_pem(key, "pw"), "JUX_SIGNING_KEY_PASSWORD": "pw"}
    jux_server.require_signature = True
    if with_cert:
        cert = make_cert(key)
        (workdir / "signer.crt").write_text(cert_pem(cert))
        jux_server.trusted_certs = [cert_pem(cert).encode()]
    write_junit(workdir / "TEST-a.xml")
    args = ["TEST-a.xml", *(["--signing-cert", "signer.crt"] if with_cert else [])]
    result = submit(jux_server, workdir, *args, **env)
    assert result.code == 0, result.output
    (run,) = jux_server.runs
    assert run.signed and run.endpoint == PACKAGE_PATH
    (file,) = results(workdir)
    assert file["mode_reason"].startswith("package: a signing key is configured; signed (")
    assert "PRIVATE KEY" not in result.output + (workdir / "out.json").read_text()


def test_certificate_the_server_does_not_trust_is_rejected(
    jux_server: JuxServer, workdir: Path
) -> None:
    key = make_key("ec")
    jux_server.trusted_certs = [cert_pem(make_cert(make_key("ec"))).encode()]
    write_junit(workdir / "TEST-a.xml")
    result = submit(
        jux_server,
        workdir,
        "TEST-a.xml",
        "--signing-cert",
        cert_pem(make_cert(key)),
        JUX_SIGNING_KEY=key_pem(key),
    )
    assert result.code == 1
    assert "HTTP 422" in result.stdout and "not signed by a trusted certificate" in result.stdout
    assert jux_server.runs == []


def test_unsigned_package_gets_422_when_signatures_are_required(
    jux_server: JuxServer, workdir: Path
) -> None:
    jux_server.require_signature = True
    write_junit(workdir / "TEST-a.xml")
    result = submit(jux_server, workdir, "TEST-a.xml", "--mode", "package")
    assert result.code == 1
    assert len(jux_server.posts(PACKAGE_PATH)) == 1  # 422 is not retried
    (file,) = results(workdir)
    assert file["status"] == "rejected" and file["http_status"] == 422
    assert file["error"]["kind"] == "package-verification"
    assert "signature required" in file["error"]["message"]
    assert "signature required" in result.stdout
    assert "JUX_SIGNING_KEY" in result.stdout  # the hint says what to do


@pytest.mark.parametrize("target", ["../../etc/passwd", "ABSOLUTE", "link.txt"])
def test_paths_leading_out_of_the_workspace_are_refused(
    jux_server: JuxServer, tmp_path: Path, workdir: Path, target: str
) -> None:
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("do not send")
    (workdir / "build").mkdir()
    (workdir / "build" / "link.txt").symlink_to(outside)
    (workdir / "build" / "ok.log").write_text("fine")
    marker = str(outside) if target == "ABSOLUTE" else target
    write_junit(
        workdir / "build" / "TEST-a.xml",
        extra=f"<system-out>[[ATTACHMENT|{marker}]] [[ATTACHMENT|ok.log]]</system-out>",
    )
    result = submit(jux_server, workdir, "build/*.xml")
    assert result.code == 0, result.output
    assert jux_server.runs[0].attachments == {"ok.log": b"fine"}
    warning = next(line for line in result.stderr.splitlines() if "refused" in line)
    assert "build/TEST-a.xml" in warning and f"[[ATTACHMENT|{marker}]]" in warning
    assert "outside the working directory" in warning
    assert all(b"do not send" not in p.body for p in jux_server.posts())


def test_oversized_package_never_reaches_the_network(jux_server: JuxServer, workdir: Path) -> None:
    (workdir / "big.webm").write_bytes(os.urandom(300_000))
    write_junit(workdir / "TEST-a.xml", extra="<system-out>[[ATTACHMENT|big.webm]]</system-out>")
    result = submit(jux_server, workdir, "TEST-a.xml", "--max-package-size", "100KB")
    assert result.code == 1
    assert jux_server.posts() == []
    (file,) = results(workdir)
    assert file["status"] == "rejected" and file["error"]["kind"] == "package-too-large"
    message = file["error"]["message"]
    assert "over the 100,000-byte limit" in message and f"{file['size']:,} bytes" in message
    assert file["size"] > 300_000
    assert any("split the report" in s for s in file["error"]["suggestions"])
    assert "raise --max-package-size" in result.stdout


def test_413_without_retry_after_is_not_retried(jux_server: JuxServer, workdir: Path) -> None:
    jux_server.faults.append(Fault.error(413, path=PACKAGE_PATH))
    write_junit(workdir / "TEST-a.xml")
    result = submit(jux_server, workdir, "TEST-a.xml", "--mode", "package")
    assert result.code == 1
    assert len(jux_server.posts(PACKAGE_PATH)) == 1
    (file,) = results(workdir)
    assert file["error"]["kind"] == "package-too-large" and file["http_status"] == 413
    assert "too large" in result.stdout and "drop attachments" in result.stdout


def test_413_with_retry_after_is_retried(jux_server: JuxServer, workdir: Path) -> None:
    jux_server.faults.append(Fault.error(413, {"Retry-After": "0"}, path=PACKAGE_PATH))
    write_junit(workdir / "TEST-a.xml")
    result = submit(jux_server, workdir, "TEST-a.xml", "--mode", "package")
    assert result.code == 0, result.output
    assert [p.status for p in jux_server.posts(PACKAGE_PATH)] == [413, 201]
    (file,) = results(workdir)
    assert file["status"] == "submitted" and file["attempts"] == 2


def test_400_invalid_package_is_shown_and_not_retried(jux_server: JuxServer, workdir: Path) -> None:
    body = json.dumps(
        {
            "error": "Invalid package",
            "details": {"message": "Path traversal detected: ../x"},
            "suggestions": ["Remove '..' from entry names"],
        }
    )
    jux_server.faults.append(
        Fault.error(
            400, body=body.encode(), path=PACKAGE_PATH, headers={"Content-Type": "application/json"}
        )
    )
    write_junit(workdir / "TEST-a.xml")
    result = submit(jux_server, workdir, "TEST-a.xml", "--mode", "package")
    assert result.code == 1
    assert len(jux_server.posts(PACKAGE_PATH)) == 1
    (file,) = results(workdir)
    assert file["error"]["kind"] == "invalid-package"
    assert "Path traversal detected" in file["error"]["message"]
    assert "Remove '..' from entry names" in result.stdout


def test_unusable_signing_key_is_a_config_error_before_any_request(
    jux_server: JuxServer, workdir: Path
) -> None:
    write_junit(workdir / "TEST-a.xml")
    key = make_key("rsa")
    result = submit(
        jux_server,
        workdir,
        "TEST-a.xml",
        JUX_SIGNING_KEY=key_pem(key),
        JUX_SIGNING_CERT=cert_pem(make_cert(make_key("rsa"))),
    )
    assert result.code == 2
    assert "does not match" in result.stderr
    assert jux_server.requests == []


def test_dry_run_lists_package_entries_and_sizes(workdir: Path) -> None:
    report_with_attachments(workdir)
    result = run_cli(
        ["--dry-run", "--working-directory", str(workdir), "build/*.xml"],
        make_environ(JUX_PROJECT="shop"),
    )
    assert result.code == 0, result.output
    out = result.stdout
    assert "as package to /api/v1/reports/package" in out
    assert f"attachments/login.png  {len(SCREENSHOT):,} bytes" in out
    assert f"attachments/app.log  {len(LOG):,} bytes" in out
    assert "junit.xml  " in out and "META-INF/MANIFEST.MF  " in out


def test_subprocess_signed_package_with_attachments(jux_server: JuxServer, workdir: Path) -> None:
    report_with_attachments(workdir)
    key = make_key("ec")
    env = make_environ(
        JUX_API_URL=jux_server.url,
        JUX_PROJECT="shop",
        JUX_SIGNING_KEY=key_pem(key),
        JUX_MODE="auto",
    )
    result = run_subprocess(
        ["--working-directory", str(workdir), "--fail-on-error", "build/*.xml"], env
    )
    assert result.code == 0, result.output
    (run,) = jux_server.runs
    assert run.signed and set(run.attachments) == {"login.png", "app.log"}
    assert "PRIVATE KEY" not in result.output


# --- the test server's own checks (what the client relies on) -------------------------------


def _post(server: JuxServer, body: bytes, ctype: str = "application/vnd.jux.report+zip"):  # type: ignore[no-untyped-def]
    return requests.post(
        server.url + PACKAGE_PATH, data=body, headers={"Content-Type": ctype}, timeout=10
    )


def _package(
    report: bytes = b'<testsuite><properties><property name="project" value="p"/>'
    b'</properties><testcase name="t"/></testsuite>',
) -> bytes:
    builder = ContainerBuilder()
    builder.set_report(report)
    builder.add_attachment("a.txt", b"abc")
    return builder.build(created_by="test", report_type="junit")


def test_server_rejects_what_a_real_server_rejects() -> None:
    with JuxServer(check_spec=False) as server:
        assert _post(server, b"<xml/>").status_code == 400  # not a ZIP
        assert _post(server, _package(), "application/zip").status_code == 400
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("junit.xml", "<testsuite/>")
        answer = _post(server, buf.getvalue())
        assert answer.status_code == 422 and "MANIFEST.MF" in answer.json()["details"]["message"]
        # a tampered attachment: digest mismatch
        src = zipfile.ZipFile(io.BytesIO(_package()))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name in src.namelist():
                zf.writestr(name, b"abd" if name == "attachments/a.txt" else src.read(name))
        answer = _post(server, buf.getvalue())
        assert answer.status_code == 422 and "digest" in answer.json()["details"]["message"]
        server.max_package_size = 100
        assert _post(server, _package()).status_code == 413
        server.max_package_size = 50_000_000
        assert _post(server, _package()).status_code == 201
        assert server.runs[0].attachments == {"a.txt": b"abc"}


def test_mode_raw_ignores_attachments_and_mode_package_forces_a_package(
    jux_server: JuxServer, workdir: Path
) -> None:
    report_with_attachments(workdir)
    write_junit(workdir / "build" / "TEST-plain.xml", suite="Plain")
    assert submit(jux_server, workdir, "build/TEST-login.xml", "--mode", "raw").code == 0
    assert [f["mode_reason"] for f in results(workdir)] == ["raw: mode is raw"]
    assert submit(jux_server, workdir, "build/TEST-plain.xml", "--mode", "package").code == 0
    assert [f["mode_reason"] for f in results(workdir)] == [
        "package: mode is package (0 attachment(s))"
    ]
    assert [r.endpoint for r in jux_server.runs] == [RAW_PATH, PACKAGE_PATH]
    assert jux_server.runs[1].attachments == {}
