"""--combine end to end: many reports become one stored test run with exact counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lxml import etree

from tests.conftest import FIXTURES, make_environ, run_cli, write_junit
from tests.jux_server import PACKAGE_PATH, RAW_PATH, JuxServer, parse_junit


def submit(server: JuxServer, ws: Path, *args: str):  # type: ignore[no-untyped-def]
    argv = [
        "--api-url",
        server.url,
        "--working-directory",
        str(ws),
        "--combine",
        "--fail-on-error",
        "--json",
        str(ws / "out.json"),
        *args,
    ]
    return run_cli(argv, make_environ(JUX_PROJECT="maven-build"))


def test_600_maven_reports_become_one_run_with_the_summed_counts(
    jux_server: JuxServer, workdir: Path
) -> None:
    sources = sorted((FIXTURES / "raw" / "maven-surefire").glob("*.xml"))
    expected = {"test_count": 0, "failure_count": 0, "error_count": 0, "skipped_count": 0}
    for i in range(600):
        source = sources[i % len(sources)]
        dest = workdir / f"module-{i // 100}" / "target" / "surefire-reports" / f"TEST-{i:03}.xml"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        for name, value in parse_junit(dest.read_bytes())[1].items():
            expected[name] += value
    result = submit(jux_server, workdir, "**/TEST-*.xml")
    assert result.code == 0, result.output
    assert len(jux_server.posts()) == 1
    (run,) = jux_server.runs
    assert run.endpoint == RAW_PATH
    assert run.counts == expected and expected["test_count"] > 600
    root = etree.fromstring(run.body)
    suites = root.findall("testsuite")
    files = {
        p.get("value")
        for s in suites
        for p in s.findall("properties/property[@name='jux:source_file']")
    }
    assert len(files) == 600
    assert "module-0/target/surefire-reports/TEST-000.xml" in files
    assert run.properties["project"] == "maven-build"  # metadata on the first suite
    assert run.properties["jux:source_file"] == "module-0/target/surefire-reports/TEST-000.xml"
    report = json.loads((workdir / "out.json").read_text())
    (combined,) = report["files"]
    assert combined["path"] == "combined (600 reports)"
    assert combined["tests"] == expected["test_count"]
    assert combined["failures"] == expected["failure_count"]
    assert combined["mode"] == "raw" and "combined 600 report(s)" in combined["mode_reason"]
    assert report["totals"]["test_run_ids"] == [run.test_run_id]


def test_invalid_reports_keep_their_own_result(jux_server: JuxServer, workdir: Path) -> None:
    write_junit(workdir / "TEST-a.xml", suite="A", cases=2)
    write_junit(workdir / "TEST-b.xml", suite="B", cases=3, failures=1)
    (workdir / "TEST-broken.xml").write_text("<testsuite><testcase>")
    result = submit(jux_server, workdir, "TEST-*.xml")
    assert result.code == 1  # the invalid file still fails the run
    (run,) = jux_server.runs
    assert run.counts["test_count"] == 5 and run.counts["failure_count"] == 1
    statuses = {
        f["path"]: f["status"] for f in json.loads((workdir / "out.json").read_text())["files"]
    }
    assert statuses == {"TEST-broken.xml": "invalid", "combined (2 reports)": "submitted"}


def test_combined_package_carries_every_reports_attachments(
    jux_server: JuxServer, workdir: Path
) -> None:
    for name in ("a", "b"):
        (workdir / name).mkdir()
        (workdir / name / "shot.png").write_bytes(name.encode() * 10)
        write_junit(
            workdir / name / "TEST-x.xml",
            suite=name.upper(),
            extra="<system-out>[[ATTACHMENT|shot.png]]</system-out>",
        )
    result = submit(jux_server, workdir, "*/TEST-*.xml")
    assert result.code == 0, result.output
    (post,) = jux_server.posts()
    assert post.path == PACKAGE_PATH
    (run,) = jux_server.runs
    assert run.attachments == {"shot.png": b"a" * 10, "shot-2.png": b"b" * 10}
    assert run.counts["test_count"] == 4


def test_combined_submission_over_the_limit_is_not_sent(
    jux_server: JuxServer, workdir: Path
) -> None:
    for i in range(20):
        write_junit(workdir / f"TEST-{i}.xml", suite=f"S{i}", cases=20)
    result = submit(jux_server, workdir, "TEST-*.xml", "--max-package-size", "10KB")
    assert result.code == 1
    assert jux_server.requests == [] or all(r.method == "GET" for r in jux_server.requests)
    (file,) = json.loads((workdir / "out.json").read_text())["files"]
    assert file["status"] == "rejected" and file["error"]["kind"] == "package-too-large"
    assert "over the 10,000-byte limit" in file["error"]["message"]
    assert "split the report" in result.stdout
