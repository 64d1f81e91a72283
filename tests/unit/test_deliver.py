"""The one delivery path with an in-process client: send → classify → record (no sockets).

The same path is exercised against the real contract server in tests/resilience/.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jux_submit.client import Answer
from jux_submit.deliver import MAY_HAVE_BEEN_STORED, Breaker, Delivery, Parcel
from jux_submit.errors import ConnectionFailedError, SubmitFailedError, SubmitTimeoutError
from jux_submit.journal import Journal
from jux_submit.models import Endpoint, FileResult, Payload, PayloadMode, Status
from jux_submit.outbox import POSSIBLE_DUPLICATE_WARNING, EntryState, Outbox
from jux_submit.settings import Settings

KEY = "ab" * 32


@dataclass
class ScriptedClient:
    """Answers (or raises) from a script, in order, and records what it was asked to send."""

    script: list[Answer | SubmitFailedError]
    sent: list[tuple[str, bytes, str]] = field(default_factory=list)

    def url_for(self, endpoint: Endpoint) -> str:
        return "https://jux.example" + endpoint.path

    def post(
        self, endpoint: Endpoint, body: bytes | io.RawIOBase, *, idempotency_key: str
    ) -> Answer:
        data = body if isinstance(body, bytes) else body.read()
        self.sent.append((endpoint.path, bytes(data or b""), idempotency_key))
        step = self.script.pop(0)
        if isinstance(step, SubmitFailedError):
            raise step
        return step

    def server_version(self) -> str | None:
        return None

    def close(self) -> None:
        pass


def answer(status: int, body: object = None, ctype: str = "application/json") -> Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    return Answer(status, {"content-type": ctype}, raw, 1, "https://jux.example/x")


def created(run_id: str = "run-1") -> Answer:
    return answer(201, {"test_run_id": run_id, "message": "ok"})


def payload(text: bytes = b"<testsuite/>") -> Payload:
    return Payload(
        PayloadMode.RAW, "raw", len(text), body=text, sha256=hashlib.sha256(text).hexdigest()
    )


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Outbox, Journal]:
    box = Outbox(tmp_path / "outbox")
    box.ensure()
    return box, Journal(box.folder)


def delivery(client: ScriptedClient, stores: tuple[Outbox, Journal]) -> Delivery:
    box, journal = stores
    return Delivery(client, Settings(), outbox=box, journal=journal, breaker=Breaker())


def deliver(d: Delivery, name: str = "a.xml", *, key: str = KEY, **kw: object) -> FileResult:
    base = FileResult(name, Status.DRY_RUN)
    return d.deliver(base, Parcel(name, kw.pop("body", payload()), name, "cd" * 32, key, **kw))  # type: ignore[arg-type]


def test_accepted_is_journaled_and_leaves_nothing_in_the_outbox(
    stores: tuple[Outbox, Journal],
) -> None:
    client = ScriptedClient([created()])
    result = deliver(delivery(client, stores))
    assert result.status is Status.SUBMITTED and result.test_run_id == "run-1"
    box, journal = stores
    assert journal.accepted_run("a.xml", KEY) == "run-1"
    assert box.pending() == []
    assert client.sent[0][2] == KEY  # the Idempotency-Key is the submission key
    journal.close()
    reread = Journal(box.folder)
    assert reread.accepted_run("a.xml", KEY) == "run-1"


@pytest.mark.parametrize(
    "step",
    [
        answer(200, b"<html>Sign in</html>", "text/html"),
        answer(201, {"message": "no id"}),
        answer(503, {"error": "busy"}),
        answer(401, {"error": "no"}),
    ],
)
def test_anything_but_the_contracts_201_is_kept_and_not_journaled(
    stores: tuple[Outbox, Journal], step: Answer
) -> None:
    result = deliver(delivery(ScriptedClient([step]), stores))
    assert result.status is Status.FAILED
    box, journal = stores
    (entry,) = box.pending()
    assert entry.state is EntryState.PENDING and entry.error is not None
    assert result.outbox_path == str(entry.payload_path)
    assert entry.payload_path.read_bytes() == b"<testsuite/>"
    assert journal.accepted_run("a.xml", KEY) is None


def test_a_content_rejection_goes_to_rejected(stores: tuple[Outbox, Journal]) -> None:
    result = deliver(delivery(ScriptedClient([answer(400, {"error": "bad XML"})]), stores))
    assert result.status is Status.REJECTED and result.outbox_path is None
    box, _ = stores
    assert box.pending() == []
    assert [p.suffix for p in sorted((box.folder / "rejected").iterdir())] == [".json", ".xml"]


def test_the_breaker_stops_after_three_server_level_failures(
    stores: tuple[Outbox, Journal],
) -> None:
    refused = [ConnectionFailedError(f"refused {i}", attempts=4) for i in range(3)]
    client = ScriptedClient([*refused])
    d = delivery(client, stores)
    results = [deliver(d, f"r{i}.xml", key=f"{i:064x}") for i in range(10)]
    assert len(client.sent) == 3  # the other seven never reached the client
    assert [r.error.kind for r in results if r.error] == ["connection"] * 3 + ["not-sent"] * 7
    assert d.breaker.event.is_set()
    box, _ = stores
    assert len(box.pending()) == 10  # every report kept


def test_a_failure_in_between_resets_the_breaker(stores: tuple[Outbox, Journal]) -> None:
    steps: list[Answer | SubmitFailedError] = [
        ConnectionFailedError("refused"),
        ConnectionFailedError("refused"),
        answer(500, {"error": "x"}),  # the server answered: it is up
        ConnectionFailedError("refused"),
        created(),
    ]
    d = delivery(ScriptedClient(steps), stores)
    results = [deliver(d, f"r{i}.xml", key=f"{i:064x}") for i in range(5)]
    assert results[-1].status is Status.SUBMITTED and not d.breaker.event.is_set()


def test_a_timeout_after_sending_warns_and_marks_the_entry(
    stores: tuple[Outbox, Journal],
) -> None:
    timeout = SubmitTimeoutError("no answer", attempts=2, is_possible_duplicate=True)
    d = delivery(ScriptedClient([timeout, created()]), stores)
    failed = deliver(d)
    assert failed.status is Status.FAILED and MAY_HAVE_BEEN_STORED in failed.warnings
    box, _ = stores
    (entry,) = box.pending()
    assert entry.possible_duplicate
    # sent again from the outbox: the result says a second copy is possible
    again = d.deliver(
        FileResult("a.xml", Status.FAILED),
        Parcel("a.xml", box.payload_of(entry), "a.xml", entry.source_sha256, KEY, stored=entry),
    )
    assert again.status is Status.SUBMITTED and POSSIBLE_DUPLICATE_WARNING in again.warnings
    assert box.pending() == []


def test_a_fresh_copy_replaces_the_stale_one(stores: tuple[Outbox, Journal]) -> None:
    d = delivery(ScriptedClient([answer(403, {"error": "bad key"}), created()]), stores)
    deliver(d, body=payload(b"<testsuite name='old'/>"))
    box, _ = stores
    (stale,) = box.pending()
    fresh = deliver(d, body=payload(b"<testsuite name='new'/>"), replaces=stale)
    assert fresh.status is Status.SUBMITTED
    assert box.pending() == []
    assert d.client.sent[-1][1] == b"<testsuite name='new'/>"  # type: ignore[attr-defined]
