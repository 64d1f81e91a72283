"""The in-flight slot: rewritten in place for each report, never shortened.

A worker that dies mid-request leaves its slot locked by nobody; the next run turns what it
holds into an entry. A slot holds one record that fills it (a shorter one pads its header);
an emptied slot starts with the empty marker.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from jux_submit.models import Payload, PayloadMode
from jux_submit.outbox import QUARANTINE_DIR, SLOT_EMPTY, SLOT_MAGIC, Outbox

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the slot's holder is forked")


def payload(body: bytes) -> Payload:
    return Payload(
        PayloadMode.RAW, "raw", len(body), body=body, sha256=hashlib.sha256(body).hexdigest()
    )


def die_holding(box: Path, bodies: list[bytes], *, release_last: bool) -> None:
    """A process that holds each body in turn (released but the last), then dies."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            outbox = Outbox(box)
            for n, body in enumerate(bodies):
                outbox.hold(payload(body), source_path=f"r{n}.xml", source_sha256="", key="")
                if n < len(bodies) - 1 or release_last:
                    outbox.release(f"r{n}.xml")
        except BaseException:
            code = 1
        finally:
            sys.stdout.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_shorter_record_fills_the_slot_and_is_recovered(tmp_path: Path) -> None:
    box = tmp_path / "outbox"
    long_body = b"<testsuite name='long'>" + b"x" * 9000 + b"</testsuite>"
    short_body = b"<testsuite name='short'/>"
    die_holding(box, [long_body, short_body], release_last=False)
    (slot,) = box.glob(".inflight-*.slot")
    record = slot.read_bytes()
    # what every version reads: the record's length is the file's, the header pads with spaces
    assert int(record[len(SLOT_MAGIC) : len(SLOT_MAGIC) + 10]) == len(record)
    header, _, body = record[len(SLOT_MAGIC) + 11 :].partition(b"\n")
    assert body == short_body and json.loads(header)["source_path"] == "r1.xml"
    assert b"x" * 100 not in record  # nothing of the longer report is left behind
    outbox = Outbox(box)
    assert outbox.recover(lambda path, key: False) == 1
    (entry,) = outbox.pending()
    assert entry.source_path == "r1.xml" and entry.possible_duplicate
    assert entry.payload_path.read_bytes() == short_body
    assert not list(box.glob(".inflight-*")) and not (box / QUARANTINE_DIR).exists()


def test_an_emptied_slot_is_removed_and_nothing_is_recovered(tmp_path: Path) -> None:
    box = tmp_path / "outbox"
    die_holding(box, [b"<testsuite name='a'>" + b"y" * 5000 + b"</testsuite>"], release_last=True)
    (slot,) = box.glob(".inflight-*.slot")
    assert slot.read_bytes().startswith(SLOT_EMPTY)
    outbox = Outbox(box)
    assert outbox.recover(lambda path, key: False) == 0
    assert outbox.pending() == []
    assert not list(box.glob(".inflight-*")) and not (box / QUARANTINE_DIR).exists()


def test_a_record_whose_length_runs_past_the_file_is_quarantined(tmp_path: Path) -> None:
    box = tmp_path / "outbox"
    die_holding(box, [b"<testsuite name='a'>" + b"z" * 5000 + b"</testsuite>"], release_last=False)
    (slot,) = box.glob(".inflight-*.slot")
    slot.write_bytes(slot.read_bytes()[:-10])  # cut short: the length says more
    outbox = Outbox(box)
    assert outbox.recover(lambda path, key: False) == 0
    assert outbox.pending() == []
    assert len(list((box / QUARANTINE_DIR).iterdir())) >= 1
