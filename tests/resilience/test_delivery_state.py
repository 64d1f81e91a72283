"""Delivery and state: no report silently dropped, none sent twice, nothing trusted from disk.

Every scenario drives the real CLI against the real contract server on 127.0.0.1 and checks
what the server stored, what the outbox and journal hold, the exit code and the JSON result.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import write_junit
from tests.jux_server import Fault, JuxServer
from tests.resilience.conftest import (
    OUTBOX,
    TOKEN,
    assert_no_token,
    ci_environ,
    closed_port,
    outbox_payloads,
    outbox_sidecars,
    resubmit,
    sources_stored,
    submit,
    write_reports,
)

FAST = ("--max-retry-wait", "1", "--retries", "1")


def stored_property(server: JuxServer, name: str) -> list[str]:
    with server.lock:
        return [r.properties.get(name, "") for r in server.runs]


def journal_lines(workdir: Path) -> list[dict[str, object]]:
    path = workdir / OUTBOX / "journal.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- the journal: what makes a submission the same -----------------------------------------


def test_a_new_build_in_a_persistent_workspace_is_sent_although_the_bytes_are_identical(
    server: JuxServer, workdir: Path
) -> None:
    """Jenkins keeps the workspace between builds; an up-to-date test task leaves the same
    report. Build 42 and build 43 each get their test run; build 43 run again does not."""
    names = write_reports(workdir, 2)
    first = submit(server.url, workdir, env=ci_environ(workdir, GITHUB_RUN_ID="42"))
    second = submit(server.url, workdir, env=ci_environ(workdir, GITHUB_RUN_ID="43"))
    assert {f["status"] for f in first.report["files"]} == {"submitted"}
    assert {f["status"] for f in second.report["files"]} == {"submitted"}
    assert stored_property(server, "ci:build_id") == ["42", "42", "43", "43"]
    again = submit(server.url, workdir, env=ci_environ(workdir, GITHUB_RUN_ID="43"))
    assert {f["status"] for f in again.report["files"]} == {"skipped"}
    note = again.files[names[0]]["note"]
    assert "same content, metadata and build" in note and "--force" in note
    assert "--force" in again.stdout
    assert len(server.runs) == 4
    for run in (first, second, again):
        assert_no_token(run, server)


def test_the_next_build_also_delivers_what_an_earlier_build_left_in_the_outbox(
    workdir: Path,
) -> None:
    """Build 41 ran while the server was down; build 42 rewrote the same report files. Build
    42's run sends its own reports and build 41's stored copies, each with its own build."""
    names = write_reports(workdir, 2)
    down = f"http://127.0.0.1:{closed_port()}"
    first = submit(down, workdir, "--retries", "0", env=ci_environ(workdir, GITHUB_RUN_ID="41"))
    assert {f["status"] for f in first.report["files"]} == {"failed"}
    for name in names:  # the next build's test run writes new results to the same paths
        write_junit(workdir / name, suite="Next", cases=3)
    with JuxServer(api_key=TOKEN) as server:
        second = submit(server.url, workdir, env=ci_environ(workdir, GITHUB_RUN_ID="42"))
        assert {f["status"] for f in second.report["files"]} == {"submitted"}
        earlier = second.report["earlier"]
        assert sorted(e["path"] for e in earlier) == names
        assert {e["status"] for e in earlier} == {"submitted"}
        assert "earlier run" in earlier[0]["note"]
        assert sorted(stored_property(server, "ci:build_id")) == ["41", "41", "42", "42"]
        assert "earlier submissions from the outbox (2)" in second.stdout
        assert outbox_payloads(workdir) == []
        assert_no_token(second, server)


def test_a_changed_project_or_tags_is_sent_again_and_force_sends_regardless(
    server: JuxServer, workdir: Path
) -> None:
    (name,) = write_reports(workdir, 1)
    submit(server.url, workdir)
    assert submit(server.url, workdir).status_of(name) == "skipped"
    assert submit(server.url, workdir, "--project", "other").status_of(name) == "submitted"
    assert submit(server.url, workdir, "--tags", "nightly").status_of(name) == "submitted"
    forced = submit(server.url, workdir, "--force")
    assert forced.status_of(name) == "submitted"
    assert "--force" in forced.files[name]["note"]
    env = {**ci_environ(workdir), "JUX_FORCE": "true"}
    assert submit(server.url, workdir, env=env).status_of(name) == "submitted"
    assert stored_property(server, "project") == ["shop", "other", "shop", "shop", "shop"]
    assert stored_property(server, "jux:tags")[2] == "nightly"
    assert len(server.runs) == 5


def test_a_rerun_after_a_403_stores_the_fixed_key_and_project_exactly_once(
    server: JuxServer, workdir: Path
) -> None:
    (name,) = write_reports(workdir, 1)
    wrong = ci_environ(workdir, JUX_API_KEY="wrong-key-0123456789")
    failed = submit(server.url, workdir, "--project", "shpo", env=wrong)
    assert failed.status_of(name) == "failed" and len(outbox_payloads(workdir)) == 1
    fixed = submit(server.url, workdir, "--project", "shop")
    assert fixed.status_of(name) == "submitted"
    assert stored_property(server, "project") == ["shop"]  # not the stale copy's "shpo"
    assert outbox_payloads(workdir) == [] and outbox_sidecars(workdir) == []
    assert resubmit(server.url, workdir).code == 0 and len(server.runs) == 1
    assert_no_token(fixed, server)


def test_totals_add_up_and_a_dry_run_after_a_run_previews_every_file(
    server: JuxServer, workdir: Path
) -> None:
    names = write_reports(workdir, 3)
    (workdir / "reports" / "TEST-bad.xml").write_text("<testsuite><oops></testsuite>")
    submit(server.url, workdir)
    rerun = submit(server.url, workdir)
    by_status = rerun.report["totals"]["files_by_status"]
    assert by_status["skipped"] == 3 and by_status["invalid"] == 1
    assert sum(by_status.values()) == rerun.report["totals"]["files"] == 4
    preview = submit(server.url, workdir, "--dry-run")
    assert len(server.runs) == 3
    for name in names:
        entry = preview.files[name]
        assert entry["status"] == "dry-run" and entry["tests"] == 2
        assert entry["properties_added"]["project"] == "shop"
        assert entry["note"].startswith("would be skipped: already accepted as test run ")
    assert preview.report["totals"]["files_by_status"]["dry-run"] == 3
    assert "would be skipped" in preview.stdout


# --- accepted means the contract's 201 ---------------------------------------------------------


def test_a_pasted_endpoint_url_works_and_a_wrong_path_says_so(workdir: Path) -> None:
    (name,) = write_reports(workdir, 1)
    with JuxServer(api_key=TOKEN) as server:
        run = submit(server.url + "/api/v1/junit/submit", workdir)
        assert run.status_of(name) == "submitted" and len(server.runs) == 1
        wrong = submit(server.url + "/jux", workdir, "--force")
        error = wrong.files[name]["error"]
        assert error["kind"] == "not-found" and "URL path looks wrong" in error["message"]
        assert any("server root" in s for s in error["suggestions"])
        assert len(outbox_payloads(workdir)) == 1 and len(server.runs) == 1
        # the only requests off the spec are the ones to the wrong path itself
        assert all(v.startswith("POST /jux/") for v in server.violations), server.violations


# --- the outbox holds data, not instructions ---------------------------------------------------


def plant_entry(box: Path, stem: str, payload: bytes | None, **meta: object) -> None:
    sidecar = {
        "schema_version": 2,
        "kind": "raw",
        "state": "pending",
        "size": len(payload or b""),
        "payload_sha256": hashlib.sha256(payload or b"").hexdigest(),
        "source_path": "reports/planted.xml",
        "source_sha256": "",
        "key": "",
        "attempts": 0,
        "possible_duplicate": False,
        "created": "2026-01-01T00:00:00Z",
        "error": None,
    }
    sidecar.update(meta)
    box.mkdir(exist_ok=True)
    (box / f"{stem}.json").write_text(json.dumps(sidecar))
    if payload is not None:
        (box / f"{stem}.xml").write_bytes(payload)


def test_planted_entries_never_send_elsewhere_nor_outside_files(tmp_path: Path) -> None:
    workdir = tmp_path / "ws"
    workdir.mkdir()
    box = workdir / OUTBOX
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("<testsuite name='stolen'><testcase name='x'/></testsuite>")
    good = (
        b'<testsuite name="Good" tests="1"><properties><property name="project" value="p"/>'
        b'</properties><testcase name="t"/></testsuite>'
    )
    with JuxServer(api_key=TOKEN) as server, JuxServer() as attacker:
        host = attacker.url.split("//", 1)[1]
        # version 1: a sidecar that names where to send (the token would follow)
        plant_entry(
            box,
            "evil-0123456789abcdef",
            good,
            schema_version=1,
            endpoint=f"@{host}/x",
            content_type="application/xml",
            payload_file="evil-0123456789abcdef.xml",
        )
        # a payload that is a symbolic link to a file outside the workspace
        plant_entry(
            box,
            "link-0123456789abcdef",
            None,
            size=secret.stat().st_size,
            payload_sha256=hashlib.sha256(secret.read_bytes()).hexdigest(),
        )
        (box / "link-0123456789abcdef.xml").symlink_to(secret)
        # a hard link to it
        plant_entry(
            box,
            "hard-0123456789abcdef",
            None,
            size=secret.stat().st_size,
            payload_sha256=hashlib.sha256(secret.read_bytes()).hexdigest(),
        )
        os.link(secret, box / "hard-0123456789abcdef.xml")
        # an unknown kind
        plant_entry(box, "kind-0123456789abcdef", good, kind="http://evil/x")
        # and one genuine entry, which must still go out
        plant_entry(box, "genuine-0123456789abcdef", good, source_path="reports/genuine.xml")
        run = resubmit(server.url, workdir)
        assert run.code == 0, run.output
        assert attacker.requests == []
        assert [r.body for r in server.runs] == [good]
        quarantined = sorted(p.name for p in (box / "quarantine").iterdir())
        for stem in ("evil", "link", "hard", "kind"):
            assert f"{stem}-0123456789abcdef.json" in quarantined, quarantined
        assert "stolen" not in json.dumps([r.body.decode() for r in server.runs])
        assert secret.read_text().startswith("<testsuite")  # moved links, never the target
        assert "quarantine" in run.stderr
        assert_no_token(run, server)


def test_corrupt_sidecars_do_not_stop_resubmit(server: JuxServer, workdir: Path) -> None:
    names = write_reports(workdir, 3)
    server.faults.extend([Fault.error(503)] * 6)
    first = submit(server.url, workdir, *FAST, "--parallel", "1")
    assert {f["status"] for f in first.report["files"]} == {"failed"}
    box = workdir / OUTBOX
    sidecars = sorted(box.glob("*.json"))
    sidecars[0].write_text("{not json")
    sidecars[1].write_bytes(b"\xff\xfe\x00garbage")
    run = resubmit(server.url, workdir)
    assert run.code == 0, run.output
    assert len(server.runs) == 1  # the third, untouched entry
    assert len(list((box / "quarantine").iterdir())) == 4  # two sidecars and their payloads
    assert "Traceback" not in run.output and "unexpected" not in run.output
    # the quarantined reports are still in the workspace: the same command sends them
    again = submit(server.url, workdir)
    assert sorted(sources_stored(server)) == sorted(names)
    assert again.code == 0


# --- one report never stops the others ---------------------------------------------------------


def test_reports_that_used_to_end_the_run_are_each_handled(
    server: JuxServer, workdir: Path
) -> None:
    folder = workdir / "reports"
    write_reports(workdir, 2)
    (folder / "TEST-empty.xml").write_text(
        '<?xml version="1.0"?>\n<testsuites name="jest tests" tests="0"></testsuites>\n'
    )
    (folder / "TEST-selfclosed.xml").write_text("<testsuites/>")
    (folder / "TEST-cn.xml").write_bytes(
        b'<?xml version="1.0" encoding="ISO-2022-CN"?>\n'
        b'<testsuite name="cn" tests="1"><testcase name="t"/></testsuite>\n'
    )
    odd = os.fsencode(folder) + b"/TEST-caf\xe9.xml"
    with open(odd, "wb") as handle:  # a Latin-1 file name: not valid UTF-8
        handle.write(b'<testsuite name="latin" tests="1"><testcase name="t"/></testsuite>')
    run = submit(server.url, workdir, "--fail-on-error")
    assert run.code == 0, run.output
    statuses = {f["path"]: f["status"] for f in run.report["files"]}
    assert set(statuses.values()) == {"submitted"}, statuses
    assert len(statuses) == 6 and len(server.runs) == 6
    assert "reports/TEST-caf\ufffd.xml" in statuses
    empty = [
        r for r in server.runs if r.properties.get("jux:source_file") == "reports/TEST-empty.xml"
    ]
    assert empty[0].counts["test_count"] == 0 and empty[0].properties["project"] == "shop"
    assert any(
        "re-encoded from ISO-2022-CN" in w for w in run.files["reports/TEST-cn.xml"]["warnings"]
    )


def test_an_unexpected_error_in_one_report_is_that_reports_result(
    server: JuxServer, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault injected into the real pipeline for one report: the others are stored, the
    JSON is written, the exit code follows the table."""
    from jux_submit.commands import submit as command

    names = write_reports(workdir, 3)
    real = command.prepare_payload

    def prepare(checked, *args, **kwargs):  # type: ignore[no-untyped-def]
        if checked.report.file.relpath == names[1]:
            raise RuntimeError("injected fault")
        return real(checked, *args, **kwargs)

    monkeypatch.setattr(command, "prepare_payload", prepare)
    run = submit(server.url, workdir, "--fail-on-error")
    assert run.code == 1
    bad = run.files[names[1]]
    assert bad["status"] == "failed" and bad["error"]["kind"] == "internal"
    assert "injected fault" in bad["error"]["message"]
    assert "report it" in bad["error"]["suggestions"][0]
    assert sorted(sources_stored(server)) == [names[0], names[2]]


# --- stop early when the server is down ----------------------------------------------------------


def test_a_dead_server_stops_being_contacted_and_every_report_is_kept(workdir: Path) -> None:
    names = write_reports(workdir, 200)
    url = f"http://127.0.0.1:{closed_port()}"
    run = submit(url, workdir, subprocess_run=True)
    assert run.code == 0
    assert {f["status"] for f in run.report["files"]} == {"failed"}
    kinds = [f["error"]["kind"] for f in run.report["files"]]
    assert kinds.count("not-sent") >= 190  # a few were tried, the rest never contacted it
    sidecars = outbox_sidecars(workdir)
    assert sorted(s["source_path"] for s in sidecars) == sorted(names)
    lines = run.stdout.count("\n") + run.stderr.count("\n")
    assert lines < 60, run.output  # a screenful, not a line per report
    assert run.stderr.count("not contacting it again") == 1
    assert "jux-submit resubmit" in run.stdout
    assert_no_token(run)


# --- one sender at a time per outbox -----------------------------------------------------------


def test_a_run_and_a_resubmit_on_one_outbox_store_each_report_once(workdir: Path) -> None:
    names = write_reports(workdir, 40)
    with JuxServer(api_key=TOKEN) as server:
        server.api_key = "another-key"
        first = submit(server.url, workdir, "--retries", "0", "--force")
        assert len(outbox_payloads(workdir)) == 40, first.output
        server.api_key = TOKEN
        server.latency = 0.02
        argv = ["--api-url", server.url, "--working-directory", str(workdir), "--parallel", "4"]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "jux_submit", *command, *argv],
                env=ci_environ(workdir),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for command in ([], ["resubmit"], [], ["resubmit"])
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
        assert sorted(sources_stored(server)) == sorted(names)  # each exactly once
        assert outbox_payloads(workdir) == []


def test_a_timeout_after_the_server_stored_the_report_always_warns(
    server: JuxServer, workdir: Path
) -> None:
    (name,) = write_reports(workdir, 1)
    server.faults.extend([Fault.delay(1.0, store_first=True)] * 2)
    run = submit(server.url, workdir, "--timeout", "0.3", *FAST)
    entry = run.files[name]
    assert entry["status"] == "failed" and entry["error"]["kind"] == "timeout"
    assert any("may have stored it" in w for w in entry["warnings"]), entry
    (sidecar,) = outbox_sidecars(workdir)
    assert sidecar["possible_duplicate"] is True
    threading.Event().wait(1.5)  # the slow handler stores its copies meanwhile
    again = resubmit(server.url, workdir)
    assert again.code == 0
    assert "stored twice" in again.stdout or "stored twice" in json.dumps(again.report)


# --- honest commands --------------------------------------------------------------------------


def test_resubmit_refuses_flags_it_does_not_use(workdir: Path, server: JuxServer) -> None:
    run = resubmit(server.url, workdir, "--project", "X", "--tags", "a")
    assert run.code == 2
    assert "does not use --project, --tags" in run.stderr
    assert "run 'jux-submit' on the reports again" in run.stderr


def test_a_mistyped_command_is_not_taken_for_a_pattern(workdir: Path, server: JuxServer) -> None:
    write_reports(workdir, 1)
    run = submit(server.url, workdir, command=("resubmt",))
    assert run.code == 2 and "did you mean 'jux-submit resubmit'" in run.stderr
    assert server.posts() == []
