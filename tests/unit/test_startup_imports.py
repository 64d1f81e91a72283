"""Start-up: what a dry run of one report imports, and the cheaper stand-ins that keep it small
(``models.Record`` for the generated dataclass methods, the argparse formatter that measures
the terminal itself, no git started outside a checkout)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import FrozenInstanceError, dataclass, field
from pathlib import Path

import pytest

from jux_submit.models import CIContext, Record, TestKey, record
from jux_submit.providers.git import detect_git, head_commit_info, may_be_repository, second_parent
from jux_submit.settings import Command, build_parser

REPORT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<testsuite name="com.example.OneTest" tests="2" failures="0" errors="0" skipped="0">\n'
    b'  <testcase classname="com.example.OneTest" name="a" time="0.1"/>\n'
    b'  <testcase classname="com.example.OneTest" name="b" time="0.2"/>\n'
    b"</testsuite>\n"
)
#: what a dry run of one JUnit report outside CI and outside a checkout must not import
NOT_IN_A_DRY_RUN = (
    "subprocess",  # git is not started outside a checkout
    "shutil",  # argparse's formatter would import it to measure the terminal
    "difflib",  # only for a first argument that looks like a mistyped command
    "unicodedata",  # only for names with control characters
    "secrets",  # report.files: only for --json PATH
    "jux_submit.report.files",
    "jux_submit.report.json_report",
)


def _inside_a_checkout(path: Path) -> bool:
    return any((p / ".git").exists() or (p / "HEAD").exists() for p in (path, *path.parents))


def test_a_dry_run_leaves_the_unneeded_modules_out(tmp_path: Path) -> None:
    if _inside_a_checkout(tmp_path):
        pytest.skip("the temporary folder is inside a git checkout")
    (tmp_path / "TEST-one.xml").write_bytes(REPORT)
    script = (
        "import io, json, sys\n"
        "from jux_submit.cli import run\n"
        f"args = ['--dry-run', '--working-directory', {str(tmp_path)!r}, 'TEST-one.xml']\n"
        "code = run(args, stdout=io.StringIO(), stderr=io.StringIO())\n"
        "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    if "SYSTEMROOT" in os.environ:  # Windows needs it to start Python
        env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    modules = set(result["modules"])
    assert "jux_submit.commands.submit" in modules  # the run really happened
    assert sorted(modules & set(NOT_IN_A_DRY_RUN)) == []


# --- no git outside a checkout ----------------------------------------------------------------


@pytest.fixture
def plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if _inside_a_checkout(tmp_path):
        pytest.skip("the temporary folder is inside a git checkout")
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_COMMON_DIR", raising=False)
    folder = tmp_path / "plain" / "sub"
    folder.mkdir(parents=True)
    return folder


def test_no_git_is_started_outside_a_checkout(plain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"git was started: {args}")

    monkeypatch.setattr(subprocess, "run", started)
    assert may_be_repository(plain) is False
    assert detect_git(plain) == CIContext()
    assert second_parent("a" * 40, plain) is None
    assert head_commit_info(plain) is None


@pytest.mark.parametrize("marker", [".git/", ".git", "HEAD"])
def test_anything_git_could_take_for_a_repository_lets_git_decide(plain: Path, marker: str) -> None:
    # a .git folder (a checkout), a .git file (a worktree, a submodule), a bare repository
    where = plain.parent / marker.rstrip("/")
    if marker.endswith("/"):
        where.mkdir()
    else:
        where.write_text("gitdir: /elsewhere\n", encoding="utf-8")
    assert may_be_repository(plain) is True
    assert may_be_repository(plain.parent) is True


def test_git_dir_in_the_environment_lets_git_decide(
    plain: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_DIR", str(plain / "repo.git"))
    assert may_be_repository(plain) is True


_GC_PROBE = """\
import gc, json, sys
from jux_submit import cli
import jux_submit.commands.submit as submit

seen = {"before": gc.isenabled(), "frozen before": gc.get_freeze_count()}
real_run, real_submit = cli.run, submit.run_submit

def run(*args, **kwargs):
    seen["start-up"] = gc.isenabled()
    return real_run(*args, **kwargs)

def run_submit(settings):
    seen["run"] = gc.isenabled()
    seen["frozen"] = gc.get_freeze_count()
    sys.__stderr__.write("SEEN " + json.dumps(seen) + "\\n")
    return real_submit(settings)

cli.run, submit.run_submit = run, run_submit
folder, entry = sys.argv[1:]
sys.argv = ["jux-submit", "--dry-run", "--working-directory", folder, "TEST-one.xml"]
if entry == "main":
    cli.main()
cli.run(sys.argv[1:])
"""


@pytest.mark.parametrize("entry", ["main", "run"])
def test_the_collector_is_paused_only_during_the_processs_own_start_up(
    tmp_path: Path, entry: str
) -> None:
    """``main`` (the console script) turns the cyclic collector off until the command
    starts, then freezes what start-up made; ``run`` (called in-process) leaves it alone."""
    (tmp_path / "TEST-one.xml").write_bytes(REPORT)
    done = subprocess.run(
        [sys.executable, "-c", _GC_PROBE, str(tmp_path), entry],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    seen_line = next(ln for ln in done.stderr.splitlines() if ln.startswith("SEEN "))
    seen = json.loads(seen_line[5:])
    assert done.returncode == 0, done.stderr
    assert seen["before"] is True and seen["run"] is True
    if entry == "main":
        assert seen["start-up"] is False
        assert seen["frozen"] > 10_000 > seen["frozen before"]  # start-up's objects, frozen
    else:
        assert seen["start-up"] is True
        assert seen["frozen"] == seen["frozen before"]


# --- Record: the dataclass methods, written once ----------------------------------------------


@dataclass(frozen=True)
class Generated:
    name: str
    size: int = 0
    secret: str | None = field(default=None, repr=False)
    cache: bytes | None = field(default=None, repr=False, compare=False)
    tags: tuple[str, ...] = ()


@record
class Written(Record):
    name: str
    size: int = 0
    secret: str | None = field(default=None, repr=False)
    cache: bytes | None = field(default=None, repr=False, compare=False)
    tags: tuple[str, ...] = ()


@record
class One(Record):
    value: float


def test_record_behaves_as_the_generated_methods() -> None:
    values = {"name": "a", "size": 3, "secret": "s3cr3t", "cache": b"x", "tags": ("t",)}
    generated, written = Generated(**values), Written(**values)  # type: ignore[arg-type]
    assert repr(written) == repr(generated).replace("Generated(", "Written(")
    assert "s3cr3t" not in repr(written)
    assert hash(written) == hash(generated)
    assert written == Written(**{**values, "cache": b"other"})  # type: ignore[arg-type]
    assert written != Written(**{**values, "secret": "other"})  # type: ignore[arg-type]
    assert written.__eq__(generated) is NotImplemented
    assert written != generated
    assert len({written, Written(**values)}) == 1  # type: ignore[arg-type]
    with pytest.raises(FrozenInstanceError):
        generated.name = "b"  # type: ignore[misc]
    nan = float("nan")
    one = One(nan)
    same = one
    assert one == same and one == One(nan)  # the same object: as tuple comparison says
    assert hash(One(1.0)) == hash((1.0,))
    assert repr(One(1.5)) == "One(value=1.5)"


_USES_A_RECORD = """\
import dataclasses

from jux_submit.models import Counts

counts = Counts(1, 0, 0, 0, 0.5)
tests: int = counts.tests
later = dataclasses.replace(counts, tests=2)
counts.tests = 3
counts.time += 1.0
Counts(1, 0, 0, 0, 0.5, 7)
"""


def test_the_type_checker_refuses_every_assignment_to_a_record_field(tmp_path: Path) -> None:
    """``record`` classes have no run-time guard: they are frozen for mypy, which checks the
    package on every change. Reading a field and ``replace`` pass; an assignment, an
    augmented assignment and an unknown field are errors, each on its own line."""
    from mypy import api

    snippet = tmp_path / "uses_a_record.py"
    snippet.write_text(_USES_A_RECORD, encoding="utf-8")
    out, err, status = api.run(
        [
            "--strict",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(snippet),
        ]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out + err
    lines = sorted(int(line.split(":")[1]) for line in errors)
    assert lines == [8, 9, 10], out
    assert sum('"tests" defined in "Counts" is read-only' in line for line in errors) == 1, out
    assert sum('"time" defined in "Counts" is read-only' in line for line in errors) == 1, out


def test_test_keys_order_as_their_tuples() -> None:
    keys = [TestKey("s", "b", "x"), TestKey("s", "a", "y"), TestKey("r", "z", "z")]
    assert sorted(keys) == sorted(keys, key=lambda k: (k.suite, k.classname, k.name))
    first, second = TestKey("s", "a", "a"), TestKey("s", "a", "b")
    assert (first < second, first <= second, first > second, first >= second) == (
        True,
        True,
        False,
        False,
    )
    assert first <= TestKey("s", "a", "a") and first >= TestKey("s", "a", "a")
    with pytest.raises(TypeError):
        assert first < ("s", "a", "b")  # type: ignore[operator]


# --- the argparse formatter -------------------------------------------------------------------


@pytest.mark.parametrize("columns", ["60", "132", "", "not-a-number"])
def test_help_is_laid_out_as_argparse_would(columns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    for command in Command:
        parser = build_parser(command)
        ours = parser.format_help()
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        assert ours == parser.format_help()
