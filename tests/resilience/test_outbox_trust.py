"""Files planted in the outbox: never believed, never a crash or a hang, never a lost entry.

Each case leaves one genuine pending entry (a report the server refused with 503), plants
something in the outbox, then runs ``resubmit`` in a subprocess (a hang fails the timeout)
against a working server: the genuine report is stored exactly once, nothing goes anywhere
else, nothing outside the workspace is read or written, and the planted thing is set aside.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.jux_server import Fault, JuxServer
from tests.resilience.conftest import (
    OUTBOX,
    TOKEN,
    JuxRun,
    assert_no_token,
    outbox_sidecars,
    resubmit,
    sources_stored,
    submit,
    write_reports,
)

V1_RAW = "/api/v1/junit/submit"


def pending_entry(workdir: Path) -> str:
    """One genuine pending entry; returns its report's path."""
    (name,) = write_reports(workdir, 1)
    with JuxServer(api_key=TOKEN) as down:
        down.faults.extend([Fault.error(503)] * 2)
        first = submit(down.url, workdir, "--retries", "1", "--max-retry-wait", "1")
    assert first.status_of(name) == "failed"
    return name


def sidecar_text(**fields: object) -> str:
    body = b"<testsuite/>"
    meta: dict[str, object] = {
        "schema_version": 2,
        "kind": "raw",
        "state": "pending",
        "size": len(body),
        "payload_sha256": hashlib.sha256(body).hexdigest(),
        "source_path": "reports/x.xml",
        "source_sha256": "",
        "key": "",
        "attempts": 0,
        "possible_duplicate": False,
        "created": "",
        "error": None,
    }
    meta.update(fields)
    return json.dumps(meta)


def plant_deep_json_sidecar(box: Path, outside: Path) -> None:
    (box / "deep-0123456789abcdef.json").write_text("[" * 5000)
    (box / "deep-0123456789abcdef.xml").write_bytes(b"<testsuite/>")


def plant_deep_json_journal_line(box: Path, outside: Path) -> None:
    with (box / "journal.jsonl").open("a") as handle:
        handle.write("[" * 60000 + "\n")


def plant_fifo_sidecar(box: Path, outside: Path) -> None:
    os.mkfifo(box / "fifo-0123456789abcdef.json")


def plant_fifo_journal(box: Path, outside: Path) -> None:
    (box / "journal.jsonl").unlink(missing_ok=True)
    os.mkfifo(box / "journal.jsonl")


def plant_newline_in_source_path(box: Path, outside: Path) -> None:
    source = "x.xml\n::stop-commands::pwned\n::error title=fake::injected"
    (box / "nl-0123456789abcdef.json").write_text(sidecar_text(source_path=source))
    (box / "nl-0123456789abcdef.xml").write_bytes(b"<testsuite/>")


def plant_surrogate_in_source_path(box: Path, outside: Path) -> None:
    text = sidecar_text(source_path="reports/\ud800evil.xml")
    (box / "sur-0123456789abcdef.json").write_text(text)
    (box / "sur-0123456789abcdef.xml").write_bytes(b"<testsuite/>")


def plant_slot_with_a_surrogate(box: Path, outside: Path) -> None:
    body = b"<testsuite/>"
    header = json.dumps(
        {
            "kind": "raw",
            "payload_sha256": hashlib.sha256(body).hexdigest(),
            "source_path": "\udc80",
            "source_sha256": "",
            "key": "",
        }
    ).encode()
    data = header + b"\n" + body
    magic = b"JUXSLOT2 "
    record = magic + b"%010d\n" % (len(magic) + 11 + len(data)) + data
    (box / ".inflight-1-deadbeef.slot").write_bytes(record)


def plant_huge_sparse_slot(box: Path, outside: Path) -> None:
    with (box / ".inflight-1-feedface.slot").open("wb") as handle:
        handle.truncate(4 * 1024**3)


def plant_symlinked_journal(box: Path, outside: Path) -> None:
    (box / "journal.jsonl").unlink(missing_ok=True)
    (box / "journal.jsonl").symlink_to(outside / "journal-target.jsonl")


def plant_hard_linked_journal(box: Path, outside: Path) -> None:
    (box / "journal.jsonl").unlink(missing_ok=True)
    os.link(outside / "ext.log", box / "journal.jsonl")


def plant_symlinked_quarantine_and_rejected(box: Path, outside: Path) -> None:
    (outside / "q").mkdir()
    (outside / "r").mkdir()
    (box / "quarantine").symlink_to(outside / "q")
    (box / "rejected").symlink_to(outside / "r")
    (box / "junk.txt").write_text("junk")  # something to quarantine


def plant_lock_folder(box: Path, outside: Path) -> None:
    (box / ".lock").unlink(missing_ok=True)
    (box / ".lock").mkdir()


def plant_lock_symlink(box: Path, outside: Path) -> None:
    (box / ".lock").unlink(missing_ok=True)
    (box / ".lock").symlink_to(outside / "ext.log")


def plant_journal_line_for_the_genuine_entry(box: Path, outside: Path) -> None:
    """Whoever can read the outbox knows the entry's key: a line claiming it was accepted,
    without the tag only the API key can make, must not get it dropped."""
    (sidecar,) = (json.loads(p.read_text()) for p in box.glob("*.json"))
    line = {"v": 2, "key": sidecar["key"], "path": sidecar["source_path"]}
    with (box / "journal.jsonl").open("a") as handle:
        for tag in (None, "0" * 64):
            handle.write(json.dumps({**line, "test_run_id": "fake-run", "tag": tag}) + "\n")


def plant_version_1_sidecar_naming_another_host(box: Path, outside: Path) -> None:
    body = b"<testsuite/>"
    meta = {
        "schema_version": 1,
        "state": "pending",
        "payload_file": "evil-0123456789abcdef.xml",
        "endpoint": "@evil.example:443/x",
        "content_type": "application/xml",
        "size": len(body),
        "payload_sha256": hashlib.sha256(body).hexdigest(),
        "source_path": "reports/evil.xml",
        "source_sha256": "",
    }
    (box / "evil-0123456789abcdef.json").write_text(json.dumps(meta))
    (box / "evil-0123456789abcdef.xml").write_bytes(body)


PLANTS: dict[str, Callable[[Path, Path], None]] = {
    name[len("plant_") :]: fn for name, fn in globals().items() if name.startswith("plant_")
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_a_planted_file_is_set_aside_and_the_genuine_entry_still_goes_out(
    tmp_path: Path, plant: str
) -> None:
    workdir = tmp_path / "ws"
    workdir.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ext.log").write_text("outside\n")
    name = pending_entry(workdir)
    box = workdir / OUTBOX
    PLANTS[plant](box, outside)
    with JuxServer(api_key=TOKEN) as server:
        run: JuxRun = resubmit(server.url, workdir, subprocess_run=True, timeout=60)
        assert run.code == 0, run.output
        assert "unexpected" not in run.output and "Traceback" not in run.output
        assert sources_stored(server) == [name]  # the genuine one, exactly once
        assert "::stop-commands::" not in run.output and "::error title=fake" not in run.output
        # nothing outside the workspace was written, moved into or read from
        assert (outside / "ext.log").read_text() == "outside\n"
        assert not (outside / "journal-target.jsonl").exists()
        for folder in ("q", "r"):
            assert not (outside / folder).exists() or list((outside / folder).iterdir()) == []
        # the next resubmit has nothing left to send, and says so
        again = resubmit(server.url, workdir, subprocess_run=True, timeout=60)
        assert again.code == 0 and "nothing to resubmit" in again.stdout, again.output
        assert len(server.runs) == 1
        assert_no_token(run, server)


def test_an_entry_written_by_version_1_is_still_sent(tmp_path: Path) -> None:
    """jux-submit 1.0 wrote sidecars naming the endpoint path: read as one of the two kinds."""
    workdir = tmp_path / "ws"
    box = workdir / OUTBOX
    box.mkdir(parents=True)
    body = (
        b'<testsuite name="Old" tests="1"><properties><property name="project" value="shop"/>'
        b'</properties><testcase name="t"/></testsuite>'
    )
    meta = {
        "schema_version": 1,
        "state": "sending",
        "payload_file": "TEST-old-0123456789abcdef.xml",
        "endpoint": V1_RAW,
        "content_type": "application/xml",
        "size": len(body),
        "payload_sha256": hashlib.sha256(body).hexdigest(),
        "source_path": "reports/TEST-old.xml",
        "source_sha256": "ab" * 32,
        "attempts": 1,
        "error": None,
    }
    (box / "TEST-old-0123456789abcdef.json").write_text(json.dumps(meta))
    (box / "TEST-old-0123456789abcdef.xml").write_bytes(body)
    with JuxServer(api_key=TOKEN) as server:
        run = resubmit(server.url, workdir)
        assert run.code == 0, run.output
        assert [r.body for r in server.runs] == [body]
        assert "stored twice" in run.stdout or "may have reached" in json.dumps(run.report)
    assert outbox_sidecars(workdir) == []
