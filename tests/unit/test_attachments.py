"""Attachment discovery: markers, properties, --attach globs, confinement, names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jux_submit.attachments import (
    collect_globbed,
    find_references,
    resolve_references,
    unique_names,
)
from jux_submit.models import Attachment, ReportFile
from tests.conftest import write_junit

CASES_WITH_REFS = """
  <testcase classname="shop.LoginTest" name="test_ok">
    <properties><property name="attachment" value="shots/ok.png"/></properties>
    <system-out>step 1
[[ATTACHMENT|logs/login.log]] and [[ATTACHMENT|shots/ok.png]]</system-out>
  </testcase>
  <testcase name="bare"><system-err>[[ATTACHMENT|err.txt]]</system-err></testcase>
  <system-out>[[ATTACHMENT|suite.txt]]</system-out>
"""


def report_with(tmp_path: Path, extra: str, rel: str = "build/report.xml") -> ReportFile:
    path = write_junit(tmp_path / rel, cases=1, extra=extra)
    return ReportFile(path, rel, path.stat().st_size)


def test_markers_and_properties_in_document_order(tmp_path: Path) -> None:
    report = report_with(tmp_path, CASES_WITH_REFS)
    refs = find_references(report.path)
    assert [(r.target, r.attachment_for) for r in refs] == [
        ("shots/ok.png", "shop.LoginTest.test_ok"),
        ("logs/login.log", "shop.LoginTest.test_ok"),
        ("shots/ok.png", "shop.LoginTest.test_ok"),
        ("err.txt", "bare"),
        ("suite.txt", None),
    ]
    assert refs[1].origin == "[[ATTACHMENT|logs/login.log]] in system-out of shop.LoginTest.test_ok"
    assert "property" in refs[0].origin


def test_report_without_references_is_not_parsed_again(tmp_path: Path) -> None:
    report = report_with(tmp_path, "")
    assert find_references(report.path) == ()
    (tmp_path / "broken.xml").write_text("<testsuite>[[ATTACHMENT|x]]")
    assert find_references(tmp_path / "broken.xml") == ()


def test_resolved_against_report_folder_then_working_directory(tmp_path: Path) -> None:
    report = report_with(tmp_path, CASES_WITH_REFS)
    (tmp_path / "build" / "shots").mkdir()
    (tmp_path / "build" / "shots" / "ok.png").write_bytes(b"png")  # next to the report
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "login.log").write_text("log")  # under the working directory
    refs = find_references(report.path)
    found = resolve_references(refs, report, tmp_path)
    assert [(a.path, a.name, a.attachment_for) for a in unique_names(found.attachments)] == [
        (tmp_path / "build" / "shots" / "ok.png", "ok.png", "shop.LoginTest.test_ok"),
        (tmp_path / "logs" / "login.log", "login.log", "shop.LoginTest.test_ok"),
    ]
    # err.txt and suite.txt are missing: warnings, not failures
    assert len(found.warnings) == 2
    assert all("attachment not found" in w and "build/report.xml" in w for w in found.warnings)
    assert "[[ATTACHMENT|err.txt]]" in found.warnings[0]


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "symlinked-folder"])
def test_confinement_refuses_paths_outside_the_working_directory(tmp_path: Path, kind: str) -> None:
    ws = tmp_path / "ws"
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key.txt").write_text("key")
    (ws / "build").mkdir(parents=True)
    target = {
        "dotdot": "../../etc/passwd",
        "absolute": str(outside),
        "symlink": "link.txt",
        "symlinked-folder": "linked/key.txt",
    }[kind]
    (ws / "build" / "link.txt").symlink_to(outside)
    (ws / "linked").symlink_to(tmp_path / "secrets")
    report = report_with(ws, f"<system-out>[[ATTACHMENT|{target}]]</system-out>")
    found = resolve_references(find_references(report.path), report, ws)
    assert found.attachments == ()
    (warning,) = found.warnings
    assert "attachment refused" in warning
    assert "build/report.xml" in warning  # the report
    assert f"[[ATTACHMENT|{target}]]" in warning  # the marker
    assert "outside the working directory" in warning and "not read" in warning


def test_symlink_inside_the_working_directory_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "real.log").write_text("x")
    report = report_with(tmp_path, "<system-out>[[ATTACHMENT|alias.log]]</system-out>")
    (tmp_path / "build" / "alias.log").symlink_to(tmp_path / "real.log")
    found = resolve_references(find_references(report.path), report, tmp_path)
    assert [a.path for a in found.attachments] == [tmp_path / "real.log"]
    assert found.warnings == ()


def test_folder_is_not_an_attachment(tmp_path: Path) -> None:
    report = report_with(tmp_path, "<system-out>[[ATTACHMENT|build]]</system-out>", "r.xml")
    found = resolve_references(find_references(report.path), report, tmp_path)
    assert found.attachments == () and "not found" in found.warnings[0]


def test_duplicate_names_are_made_unique_deterministically(tmp_path: Path) -> None:
    items = [
        Attachment(tmp_path / "a" / "shot.png", "shot.png", "T.a"),
        Attachment(tmp_path / "b" / "shot.png", "shot.png", "T.b"),
        Attachment(tmp_path / "a" / "shot.png", "shot.png", "T.a"),  # exact repeat: dropped
        Attachment(tmp_path / "c" / "shot.png", "shot.png", None),
        Attachment(tmp_path / "shot-2.png", "shot-2.png", None),
        Attachment(tmp_path / "README", "README", None),
        Attachment(tmp_path / "x" / "README", "README", None),
    ]
    names = [a.name for a in unique_names(items)]
    assert names == ["shot.png", "shot-2.png", "shot-3.png", "shot-2-2.png", "README", "README-2"]
    assert names == [a.name for a in unique_names(items)]  # same input, same names


def test_attach_globs_are_confined_and_sorted(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "logs").mkdir(parents=True)
    (ws / "logs" / "b.log").write_text("b")
    (ws / "logs" / "a.log").write_text("a")
    (tmp_path / "outside.log").write_text("o")
    (ws / "logs" / "escape.log").symlink_to(tmp_path / "outside.log")
    found = collect_globbed(["logs/*.log", "nothing/*.bin"], ws)
    assert [a.name for a in found.attachments] == ["a.log", "b.log"]
    assert all(a.attachment_for is None for a in found.attachments)
    assert any("escape.log" in w and "outside the working directory" in w for w in found.warnings)
    assert any("nothing/*.bin: no file matched" in w for w in found.warnings)
    assert os.path.exists(tmp_path / "outside.log")


@pytest.mark.parametrize("chunk", [1, 5, 7, 64])
def test_byte_scan_finds_markers_across_chunk_boundaries(
    tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jux_submit.attachments as module

    monkeypatch.setattr(module, "_SCAN_CHUNK", chunk)
    report = report_with(tmp_path, "<system-out>[[ATTACHMENT|x.txt]]</system-out>")
    assert [r.target for r in find_references(report.path)] == ["x.txt"]
    plain = report_with(tmp_path, "<system-out>no refs here</system-out>", "plain.xml")
    assert module._may_reference(plain.path) is False


def test_utf16_report_is_parsed(tmp_path: Path) -> None:
    path = write_junit(
        tmp_path / "u.xml",
        extra="<system-out>[[ATTACHMENT|u.bin]]</system-out>",
        encoding="UTF-16",
    )
    assert [r.target for r in find_references(path)] == ["u.bin"]
