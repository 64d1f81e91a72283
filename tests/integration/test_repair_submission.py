"""Reports that seven real producers write malformed in ordinary conditions are repaired in
memory and stored with the counts of their well-formed twins; --no-repair refuses them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import make_environ, run_cli
from tests.jux_server import JuxServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "repair"
PRODUCERS = sorted(p.name for p in FIXTURES.iterdir() if (p / "broken.xml").is_file())


def submit(server: JuxServer, workdir: Path, *extra: str) -> tuple[int, str]:
    result = run_cli(
        ["--api-url", server.url, "--working-directory", str(workdir), "--fail-on-error", *extra],
        make_environ(),
    )
    return result.code, result.output


def test_every_producer_is_here() -> None:
    assert len(PRODUCERS) == 7, PRODUCERS


@pytest.mark.parametrize("producer", PRODUCERS)
def test_a_broken_report_is_repaired_and_counted_like_its_twin(
    tmp_path: Path, producer: str
) -> None:
    twin_dir, broken_dir = tmp_path / "twin", tmp_path / "broken"
    twin_dir.mkdir()
    broken_dir.mkdir()
    shutil.copy(FIXTURES / producer / "twin.xml", twin_dir / "junit.xml")
    shutil.copy(FIXTURES / producer / "broken.xml", broken_dir / "junit.xml")
    before = (broken_dir / "junit.xml").read_bytes()
    with JuxServer() as server:
        code, output = submit(server, twin_dir)
        assert code == 0, output
        code, output = submit(server, broken_dir)
        assert code == 0, output
        twin, repaired = server.runs
    assert repaired.counts == twin.counts
    assert "repaired:" in output and "the file itself is unchanged" in output
    assert (broken_dir / "junit.xml").read_bytes() == before  # the file on disk is untouched


@pytest.mark.parametrize("producer", PRODUCERS)
def test_no_repair_refuses_it_as_before(tmp_path: Path, producer: str) -> None:
    shutil.copy(FIXTURES / producer / "broken.xml", tmp_path / "junit.xml")
    with JuxServer() as server:
        code, output = submit(server, tmp_path, "--no-repair")
        assert code == 1 and server.runs == []
    assert "INVALID" in output and "not well-formed XML" in output
    assert "Unregistered" not in output
    line = next(x for x in output.splitlines() if "INVALID" in x)
    assert line.count("line ") == 1  # the position is named once
