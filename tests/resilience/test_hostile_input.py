"""Hostile and broken input (issue 6, item 5): each case asserts the exact outcome, what the
server stored (or that nothing was sent), and that the token and local files stayed home."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, write_junit
from tests.jux_server import JuxServer
from tests.resilience.conftest import (
    TOKEN,
    assert_no_token,
    ci_environ,
    outbox_payloads,
    peak_rss_mb,
    submit,
)

SUITE = '<testsuite name="S" tests="1"><testcase classname="c" name="t"/></testsuite>\n'
LOCAL_SECRET = "TOPSECRET-LOCAL-FILE-CONTENT"
DOCTYPE_REFUSED = "the document has a DOCTYPE declaration"


def stored_sources(server: JuxServer) -> list[str]:
    return sorted(r.properties["jux:source_file"] for r in server.runs)


def test_every_edge_case_fixture(server: JuxServer, workdir: Path) -> None:
    edge = FIXTURES / "edge-cases"
    shutil.copytree(edge, workdir / "edge")
    run = submit(server.url, workdir, "edge/*.xml", "edge/malformed/*")
    valid = sorted(f"edge/{p.name}" for p in edge.glob("*.xml"))
    invalid = {
        "edge/malformed/empty-file.xml": "the file is empty (0 bytes)",
        "edge/malformed/invalid-xml-declaration.xml": "Unsupported version '2.0'",
        "edge/malformed/mismatched-tags.xml": "Opening and ending tag mismatch",
        "edge/malformed/not-xml.txt": "Start tag expected",
        "edge/malformed/unclosed-tag.xml": "Opening and ending tag mismatch",
        "edge/malformed/unescaped-ampersand.xml": "xmlParseEntityRef: no name",
    }
    assert sorted(run.files) == sorted([*valid, *invalid])
    for path in valid:
        assert run.status_of(path) == "submitted", run.files[path]
    for path, message in invalid.items():
        assert run.status_of(path) == "invalid" and message in run.files[path]["error"]["message"]
    assert stored_sources(server) == valid  # each valid one once, no invalid one sent
    by_source = {r.properties["jux:source_file"]: r for r in server.runs}
    assert by_source["edge/with-project-unicode.xml"].properties["project"] == "项目-αβγ-проект"
    assert by_source["edge/with-project-whitespace.xml"].properties["project"] == "  my project  "
    assert by_source["edge/duplicate-project-property.xml"].properties["project"] == "first-project"
    assert run.code == 0 and outbox_payloads(workdir) == []
    assert_no_token(run, server)


@pytest.fixture
def local_secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(LOCAL_SECRET + "\n")
    return path


def _billion_laughs() -> str:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)
    )
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE lolz [{entities}]>\n'
        '<testsuite name="&lol9;" tests="1"><testcase classname="c" name="t"/></testsuite>\n'
    )


@pytest.mark.parametrize("case", ["xxe-system", "xxe-parameter", "billion-laughs"])
def test_entity_attacks_are_refused_and_nothing_is_read(
    server: JuxServer, workdir: Path, local_secret: Path, case: str
) -> None:
    texts = {
        "xxe-system": f'<?xml version="1.0"?>\n<!DOCTYPE testsuite [<!ENTITY x SYSTEM '
        f'"file://{local_secret}">]>\n<testsuite name="&x;" tests="1">'
        '<testcase classname="c" name="&x;"/></testsuite>\n',
        "xxe-parameter": f'<?xml version="1.0"?>\n<!DOCTYPE testsuite [<!ENTITY % p SYSTEM '
        f'"file://{local_secret}"> %p;]>\n{SUITE}',
        "billion-laughs": _billion_laughs(),
    }
    (workdir / f"{case}.xml").write_text(texts[case])
    write_junit(workdir / "ok.xml")
    started = time.monotonic()
    run = submit(server.url, workdir, "*.xml")
    assert time.monotonic() - started < 10
    entry = run.files[f"{case}.xml"]
    assert entry["status"] == "invalid" and DOCTYPE_REFUSED in entry["error"]["message"]
    assert run.status_of("ok.xml") == "submitted" and stored_sources(server) == ["ok.xml"]
    everything = (
        run.output
        + str(run.report)
        + "".join(r.body.decode("utf-8", "replace") for r in server.requests)
    )
    assert LOCAL_SECRET not in everything
    assert_no_token(run, server)


def test_binary_junk_nul_bytes_and_encodings(server: JuxServer, workdir: Path) -> None:
    # fixed junk (a seeded generator): random bytes that began with "{" or "[" would be
    # taken for a JSON report instead, one run in a hundred
    junk = random.Random(20261201).randbytes(4096).replace(b"<", b"\x01")
    (workdir / "junk.xml").write_bytes(b"\x01" + junk)
    (workdir / "nul.xml").write_bytes(
        b'<?xml version="1.0"?>\n<testsuite name="S" tests="1">\x00'
        b'<testcase classname="c" name="t"/></testsuite>\n'
    )
    utf16 = (
        '<?xml version="1.0" encoding="UTF-16"?>\n<testsuite name="Ünïcödé" tests="1">'
        '<testcase classname="c" name="é"/></testsuite>\n'
    ).encode("utf-16")
    latin1 = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<testsuite name="Café" tests="1">'
        '<testcase classname="c" name="naïve"/></testsuite>\n'
    ).encode("latin-1")
    bom = b"\xef\xbb\xbf" + ('<?xml version="1.0" encoding="UTF-8"?>\n' + SUITE).encode()
    (workdir / "utf16.xml").write_bytes(utf16)
    (workdir / "latin1.xml").write_bytes(latin1)
    (workdir / "bom.xml").write_bytes(bom)
    run = submit(server.url, workdir, "*.xml")
    assert run.status_of("junk.xml") == "invalid"
    assert "not well-formed XML" in run.files["junk.xml"]["error"]["message"]
    assert run.status_of("nul.xml") == "invalid"
    assert "a character XML does not allow (U+0000)" in run.files["nul.xml"]["error"]["message"]
    assert run.files["nul.xml"]["line"] == 2
    for name in ("utf16.xml", "latin1.xml", "bom.xml"):
        assert run.status_of(name) == "submitted", run.files[name]
    bodies = {r.properties["jux:source_file"]: r.body for r in server.runs}
    assert sorted(bodies) == ["bom.xml", "latin1.xml", "utf16.xml"]
    # each stays in its own encoding, and the server reads the metadata from it
    assert bodies["utf16.xml"].startswith(b"\xff\xfe<\x00?\x00x\x00m\x00l")
    assert bodies["latin1.xml"].startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert b"Caf\xe9" in bodies["latin1.xml"]
    assert bodies["bom.xml"].startswith(b"\xef\xbb\xbf<?xml")
    assert all(r.properties.get("project") == "shop" for r in server.runs)
    assert_no_token(run, server)


def test_folder_named_xml_symlink_loops_and_escaping_attachments(
    server: JuxServer, workdir: Path
) -> None:
    (workdir / "x.xml").mkdir()
    (workdir / "x.xml" / "inner.txt").write_text("not a report")
    os.symlink("loop-b.xml", workdir / "loop-a.xml")
    os.symlink("loop-a.xml", workdir / "loop-b.xml")
    os.symlink(".", workdir / "self")  # a folder loop: never followed
    (workdir / "escape.xml").write_text(
        '<testsuite name="S" tests="1"><testcase classname="c" name="t"><system-out>'
        "[[ATTACHMENT|../../../../etc/passwd]]\n[[ATTACHMENT|/etc/hostname]]"
        "</system-out></testcase></testsuite>\n"
    )
    started = time.monotonic()
    run = submit(server.url, workdir, "**/*.xml")
    assert time.monotonic() - started < 20
    assert sorted(run.files) == ["escape.xml"]  # folder and loops are not reports
    assert "loop-a.xml: skipped, symbolic link that cannot be followed" in run.stderr
    assert run.status_of("escape.xml") == "submitted"
    assert "outside the working directory" in run.stderr and "it was not read" in run.stderr
    (stored,) = server.runs
    assert stored.attachments == {} and b"root:" not in stored.body
    assert run.code == 0
    assert_no_token(run, server)


def test_property_values_with_quotes_markup_newlines_and_10000_characters(
    server: JuxServer, workdir: Path
) -> None:
    tricky = "say \"hi\" & <b>'bye'</b>\nsecond line\ttab"
    long = "x" * 10_000
    write_junit(workdir / "TEST-p.xml", properties=[("existing", "a &amp; b &lt;c&gt; &quot;")])
    env = ci_environ(workdir, JUX_ENVIRONMENT=tricky, WEIRD=long)
    run = submit(server.url, workdir, "--env-var", "WEIRD", env=env)
    assert run.status_of("TEST-p.xml") == "submitted", run.output
    (stored,) = server.runs
    assert stored.properties["jux:environment"] == tricky
    assert stored.properties["env:WEIRD"] == long
    assert stored.properties["existing"] == 'a & b <c> "'
    assert_no_token(run, server)


def test_10000_tiny_files(server: JuxServer, workdir: Path) -> None:
    body = '<testsuite name="T{i}" tests="1"><testcase classname="c" name="t{i}"/></testsuite>\n'
    folder = workdir / "many"
    folder.mkdir()
    for i in range(10_000):
        (folder / f"TEST-{i:05d}.xml").write_text(body.format(i=i))
    started = time.monotonic()
    run = submit(server.url, workdir, "many/*.xml", "--parallel", "8")
    elapsed = time.monotonic() - started
    assert run.code == 0
    statuses = {f["status"] for f in run.report["files"]}
    assert statuses == {"submitted"} and len(run.report["files"]) == 10_000
    assert len(server.runs) == 10_000 and len(set(stored_sources(server))) == 10_000
    assert outbox_payloads(workdir) == []
    journal = (workdir / ".jux-outbox" / "journal.jsonl").read_text().splitlines()
    assert len(journal) == 10_000
    assert elapsed < 240, elapsed


# --- resources: unreadable files and big files run in a child process --------------------


@pytest.fixture
def shared_workdir() -> Iterator[Path]:
    """A working directory another user can enter (pytest's tmp_path is private to root)."""
    top = Path(tempfile.mkdtemp(prefix="jux-hostile-", dir="/tmp"))
    top.chmod(0o755)
    workdir = top / "ws"
    workdir.mkdir(mode=0o777)
    workdir.chmod(0o777)
    yield workdir
    shutil.rmtree(top, ignore_errors=True)


def test_unreadable_file(server: JuxServer, shared_workdir: Path) -> None:
    """Run as an unprivileged user: root reads chmod-000 files, so that would test nothing."""
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to run as an unprivileged user")
    write_junit(shared_workdir / "ok.xml").chmod(0o644)
    locked = write_junit(shared_workdir / "locked.xml")
    locked.chmod(0o000)
    env = ci_environ(shared_workdir)
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"):
        Path(env[name]).touch()
        Path(env[name]).chmod(0o666)
    json_path = shared_workdir / "result.json"
    argv = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        sys.executable,
        "-m",
        "jux_submit",
        "--api-url",
        server.url,
        "--working-directory",
        str(shared_workdir),
        "--json",
        str(json_path),
        "*.xml",
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    import json

    report = json.loads(json_path.read_text())
    files = {f["path"]: f for f in report["files"]}
    assert files["locked.xml"]["status"] == "invalid"
    assert "Permission denied" in files["locked.xml"]["error"]["message"]
    assert files["ok.xml"]["status"] == "submitted"
    assert stored_sources(server) == ["ok.xml"]
    assert TOKEN not in done.stderr + json_path.read_text()


def test_1gb_sparse_file_is_refused_quickly_with_little_memory(
    server: JuxServer, workdir: Path
) -> None:
    with (workdir / "sparse.xml").open("wb") as handle:
        handle.truncate(1024**3)
    argv = [
        sys.executable,
        "-m",
        "jux_submit",
        "--api-url",
        server.url,
        "--working-directory",
        str(workdir),
        "*.xml",
    ]
    started = time.monotonic()
    code, output, peak = peak_rss_mb(argv, ci_environ(workdir), timeout=120)
    assert time.monotonic() - started < 30
    assert code == 0 and "sparse.xml  INVALID" in output
    assert "line 1, column 1: not well-formed XML: Start tag expected" in output
    assert int(peak) < 150, f"peak RSS {peak} MB"
    assert server.posts() == []


def _write_big_report(path: Path, megabytes: int) -> int:
    case = (
        b'  <testcase classname="pkg.Big" name="test_%07d" time="0.001"><system-out>'
        + b"x" * 300
        + b"</system-out></testcase>\n"
    )
    count = 0
    with path.open("wb") as handle:
        handle.write(
            b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="Big">\n'
            b'<properties><property name="project" value="big"/></properties>\n'
        )
        while handle.tell() < megabytes * 1024 * 1024:
            handle.write(b"".join(case % (count + i) for i in range(1000)))
            count += 1000
        handle.write(b"</testsuite>\n")
    return count


def test_200mb_valid_report_is_sent_with_bounded_memory(server: JuxServer, workdir: Path) -> None:
    cases = _write_big_report(workdir / "huge.xml", 200)
    argv = [
        sys.executable,
        "-m",
        "jux_submit",
        "--api-url",
        server.url,
        "--working-directory",
        str(workdir),
        "--timeout",
        "120",
        "*.xml",
    ]
    code, output, peak = peak_rss_mb(argv, ci_environ(workdir), timeout=600)
    assert code == 0 and "huge.xml  submitted" in output, output
    (stored,) = server.runs
    assert stored.counts["test_count"] == cases
    assert int(peak) < 512, f"peak RSS {peak} MB for a 200 MB report"


def test_200mb_valid_report_send_path_streams(server: JuxServer, workdir: Path) -> None:
    """What this issue owns of the big-file path, measured on its own: building the payload,
    writing it ahead to the outbox, hashing it for the journal and sending it stream from disk
    (the whole run, validation included, is covered by the test above)."""
    _write_big_report(workdir / "huge.xml", 200)
    probe = (
        "import sys,time,hashlib\n"
        "from pathlib import Path\n"
        "from jux_submit.deliver import Breaker, Delivery, Parcel\n"
        "from jux_submit.enrich import Splice\n"
        "from jux_submit.journal import Journal\n"
        "from jux_submit.models import FileResult, Status\n"
        "from jux_submit.outbox import Outbox, EntryState\n"
        "from jux_submit.payload import build_raw_payload, body_chunks\n"
        "from jux_submit.settings import load_settings\n"
        "from jux_submit.transport import build_client\n"
        "src=Path(sys.argv[1]); url=sys.argv[2]\n"
        "p=build_raw_payload(src, src.stat().st_size, Splice(b'', 0), reason='raw')\n"
        "assert p.body is None and p.body_path is not None\n"
        "sha=hashlib.file_digest(src.open('rb'), 'sha256').hexdigest()\n"
        "box=Outbox(src.parent/'.jux-outbox')\n"
        "s=load_settings(['--api-url',url,'--timeout','120'], {'JUX_API_KEY':sys.argv[3]})\n"
        "d=Delivery(build_client(s, s.server_root), s, outbox=box,"
        " journal=Journal(box.folder), breaker=Breaker())\n"
        "r=d.deliver(FileResult('huge.xml', Status.DRY_RUN), Parcel('huge.xml', p, 'huge.xml',"
        " sha, 'a'*64))\n"
        "assert r.status is Status.SUBMITTED, r\n"
    )
    code, output, peak = peak_rss_mb(
        [sys.executable, "-c", probe, str(workdir / "huge.xml"), server.url, TOKEN],
        ci_environ(workdir),
        timeout=600,
    )
    assert code == 0, output
    (stored,) = server.runs
    assert stored.body == (workdir / "huge.xml").read_bytes()
    assert int(peak) < 150, f"peak RSS {peak} MB while sending 200 MB"
    assert outbox_payloads(workdir) == []
