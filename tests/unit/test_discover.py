"""Discovery: globbing, exclusions, skipped folders, de-duplication, links and loops."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jux_submit.discover import discover_reports, pattern_regex
from jux_submit.settings import DEFAULT_PATTERNS


def touch(root: Path, *relpaths: str) -> None:
    for rel in relpaths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("<testsuite/>")


def rels(root: Path, patterns: list[str] | tuple[str, ...], **kw: object) -> list[str]:
    return [f.relpath for f in discover_reports(patterns, root, **kw).files]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/TEST-*.xml", "TEST-a.xml", True),
        ("**/TEST-*.xml", "a/b/TEST-a.xml", True),
        ("**/TEST-*.xml", "a/b/test-a.xml", False),
        ("**/*junit*.xml", "x/pytest-junit.xml", True),
        ("**/test-results/**/*.xml", "mod/build/test-results/test/TEST-x.xml", True),
        ("**/test-results/**/*.xml", "test-results/x.xml", True),
        ("reports/*.xml", "reports/a.xml", True),
        ("reports/*.xml", "reports/sub/a.xml", False),
        ("reports/**", "reports/sub/a.xml", True),
        ("r?ports/[ab].xml", "reports/a.xml", True),
        ("r?ports/[!ab].xml", "reports/a.xml", False),
    ],
)
def test_pattern_semantics(pattern: str, path: str, matches: bool) -> None:
    assert bool(pattern_regex(pattern).match(path)) is matches


def test_default_patterns_sorted_and_deduplicated(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "b/TEST-b.xml",
        "a/TEST-a.xml",
        "x/test-results/junit-1.xml",
        "other/notes.xml",
        "a/TEST-readme.txt",
    )
    assert rels(tmp_path, DEFAULT_PATTERNS) == [
        "a/TEST-a.xml",
        "b/TEST-b.xml",
        "x/test-results/junit-1.xml",
    ]


def test_exclusions_and_dot_slash(tmp_path: Path) -> None:
    touch(tmp_path, "r/a.xml", "r/b.xml", "r/skip/c.xml")
    assert rels(tmp_path, ["./r/**/*.xml", "!r/skip/**", "!r/b.xml"]) == ["r/a.xml"]


def test_never_descends_into_vendored_or_vcs_folders(tmp_path: Path) -> None:
    touch(
        tmp_path,
        ".git/TEST-x.xml",
        "node_modules/p/TEST-x.xml",
        ".venv/TEST-x.xml",
        ".jux-outbox/TEST-x.xml",
        "custom-box/TEST-x.xml",
        "ok/TEST-x.xml",
    )
    assert rels(tmp_path, ["**/TEST-*.xml"], extra_skip=("custom-box",)) == ["ok/TEST-x.xml"]


def test_symlink_loop_does_not_hang_and_links_are_deduplicated(tmp_path: Path) -> None:
    touch(tmp_path, "d/TEST-a.xml")
    os.symlink(tmp_path / "d", tmp_path / "d" / "loop")
    os.symlink(tmp_path / "d" / "TEST-a.xml", tmp_path / "TEST-link.xml")
    os.symlink(tmp_path / "missing.xml", tmp_path / "TEST-broken.xml")
    found = discover_reports(["**/TEST-*.xml"], tmp_path)
    assert [f.relpath for f in found.files] == ["TEST-link.xml"]
    assert any("TEST-broken.xml" in w for w in found.warnings)


def test_directory_named_like_a_report_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "TEST-dir.xml").mkdir()
    touch(tmp_path, "TEST-dir.xml/inner.txt", "TEST-real.xml")
    assert rels(tmp_path, ["*.xml"]) == ["TEST-real.xml"]


def test_literal_base_limits_the_walk(tmp_path: Path) -> None:
    touch(tmp_path, "reports/a.xml", "elsewhere/reports/a.xml")
    assert rels(tmp_path, ["reports/*.xml"]) == ["reports/a.xml"]


def test_absolute_pattern(tmp_path: Path) -> None:
    touch(tmp_path, "abs/x.xml")
    found = rels(tmp_path / "abs", [str(tmp_path / "abs" / "*.xml")])
    assert found == ["x.xml"]


def test_no_match_is_empty_not_error(tmp_path: Path) -> None:
    assert discover_reports(["**/*.xml"], tmp_path).files == ()
