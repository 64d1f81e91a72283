"""``jux-submit package``: local .jxz files that ContainerReader opens and verifies, no network."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from jxz import ContainerReader

from tests.conftest import make_environ, run_cli, run_subprocess, write_junit
from tests.jux_server import JuxServer, parse_junit
from tests.unit.test_signing import cert_pem, key_pem, make_cert, make_key


def test_one_verified_package_per_report_named_after_its_path(
    jux_server: JuxServer, workdir: Path
) -> None:
    (workdir / "build" / "test-results").mkdir(parents=True)
    (workdir / "build" / "test-results" / "trace.log").write_text("trace")
    write_junit(
        workdir / "build" / "test-results" / "TEST-a.xml",
        suite="A",
        extra="<system-out>[[ATTACHMENT|trace.log]]</system-out>",
    )
    write_junit(workdir / "TEST-b.xml", suite="B", cases=3, failures=1)
    key = make_key("rsa")
    cert = make_cert(key)
    (workdir / "signer.crt").write_text(cert_pem(cert))
    # an API URL in the environment must not make the package command talk to the server
    env = make_environ(JUX_PROJECT="shop", JUX_SIGNING_KEY=key_pem(key), JUX_API_URL=jux_server.url)
    result = run_cli(
        [
            "package",
            "--working-directory",
            str(workdir),
            "--output-dir",
            str(workdir / "dist"),
            "--signing-cert",
            "signer.crt",
            "**/TEST-*.xml",
        ],
        env,
    )
    assert result.code == 0, result.output
    assert jux_server.requests == []
    out = workdir / "dist"
    assert sorted(p.name for p in out.iterdir()) == [
        "TEST-b.jxz",
        "build__test-results__TEST-a.jxz",
    ]
    for path in out.iterdir():
        reader = ContainerReader(path.read_bytes())
        reader.verify(x509.load_pem_x509_certificate(cert_pem(cert).encode()))
        assert reader.is_signed
        props = dict(parse_junit(reader.get_report())[0])
        assert props["project"] == "shop"
    a = ContainerReader((out / "build__test-results__TEST-a.jxz").read_bytes())
    assert a.get_attachments() == {"trace.log": b"trace"}
    b = ContainerReader((out / "TEST-b.jxz").read_bytes())
    assert b.get_attachments() == {}
    assert parse_junit(b.get_report())[1]["failure_count"] == 1
    assert "attachments/trace.log  5 bytes" in result.stdout
    assert "total: 2 package(s) written" in result.stdout


def test_combine_writes_one_package(workdir: Path) -> None:
    for i in range(5):
        write_junit(workdir / f"TEST-{i}.xml", suite=f"S{i}", cases=2)
    (workdir / "TEST-bad.xml").write_text("not xml")
    result = run_cli(
        [
            "package",
            "--working-directory",
            str(workdir),
            "--output-dir",
            str(workdir / "out"),
            "--combine",
            "TEST-*.xml",
        ],
        make_environ(JUX_PROJECT="p"),
    )
    assert result.code == 1  # one report was invalid
    assert "TEST-bad.xml  INVALID" in result.stdout
    (path,) = (workdir / "out").iterdir()
    assert path.name == "combined.jxz"
    reader = ContainerReader(path.read_bytes())
    reader.validate()
    assert parse_junit(reader.get_report())[1]["test_count"] == 10


def test_package_over_the_limit_is_not_written(workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml", cases=200)
    result = run_cli(
        [
            "package",
            "--working-directory",
            str(workdir),
            "--output-dir",
            str(workdir / "out"),
            "--max-package-size",
            "1KB",
            "TEST-a.xml",
        ],
        make_environ(JUX_PROJECT="p"),
    )
    assert result.code == 1
    assert "TOO LARGE" in result.stdout and "over the 1,000-byte limit" in result.stdout
    assert list((workdir / "out").iterdir()) == []


def test_package_command_as_a_subprocess(workdir: Path) -> None:
    write_junit(workdir / "reports" / "junit.xml")
    key = make_key("ec")
    env = make_environ(JUX_PROJECT="p", JUX_SIGNING_KEY=key_pem(key))
    result = run_subprocess(
        ["package", "reports/*.xml", "--output-dir", str(workdir / "o")], env, cwd=workdir
    )
    assert result.code == 0, result.output
    reader = ContainerReader((workdir / "o" / "reports__junit.jxz").read_bytes())
    reader.verify()
    assert reader.is_signed and reader.created_by.startswith("jux-submit/")
    assert "PRIVATE KEY" not in result.output
