"""Attachments that must never leave the machine, and names and test ids that must not break a
package: each attack run through the real CLI against the contract server, the stored packages
read back with py-jxz."""

from __future__ import annotations

import io
import os
import random
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from jxz import ContainerReader

from tests.conftest import write_junit
from tests.jux_server import PACKAGE_PATH, JuxServer
from tests.resilience.conftest import TOKEN, assert_no_token, submit

#: What a checkout's ``.git/config`` holds on a CI runner: the job's token
GIT_CONFIG = (
    '[remote "origin"]\n\turl = https://github.com/acme/shop\n'
    f'[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic {TOKEN}\n'
).encode()
OUTSIDE = b"OUTSIDE-THE-WORKSPACE " * 64
INSIDE = b"\x89PNG\r\n\x1a\n inside the workspace"


def case_with(output: str, *, classname: str = "shop.LoginTest", name: str = "test_login") -> str:
    return (
        f'  <testcase classname="{classname}" name="{name}">'
        f"<system-out>{output}</system-out></testcase>\n"
    )


def stored_attachments(server: JuxServer) -> list[bytes]:
    """Every attachment of every package the server received (stored or not)."""
    found: list[bytes] = []
    for post in server.posts(PACKAGE_PATH):
        found.extend(ContainerReader(post.body).get_attachments().values())
    return found


@pytest.mark.parametrize(
    ("report", "reference"),
    [
        ("TEST-a.xml", "[[ATTACHMENT|.git/config]]"),  # the workspace's own checkout
        ("build/TEST-a.xml", "[[ATTACHMENT|../.git/config]]"),  # the same, from a subfolder
        ("TEST-a.xml", "[[ATTACHMENT|../.git/config]]"),  # the checkout above the workspace
        ("TEST-a.xml", "[[ATTACHMENT|{ws}/.git/config]]"),
        ("TEST-a.xml", '<property name="attachment" value=".git/config"/>'),
    ],
)
def test_git_config_is_refused_with_a_warning_naming_report_and_reference(
    server: JuxServer, workdir: Path, report: str, reference: str
) -> None:
    for checkout in (workdir, workdir.parent):
        (checkout / ".git").mkdir(exist_ok=True)
        (checkout / ".git" / "config").write_bytes(GIT_CONFIG)
    reference = reference.format(ws=workdir)
    if reference.startswith("<property"):
        case = (
            '  <testcase classname="shop.LoginTest" name="test_login"><properties>'
            f"{reference}</properties></testcase>\n"
        )
    else:
        case = case_with(f"opened the page {reference}")
    write_junit(workdir / report, suite="Login", cases=1, extra=case)
    run = submit(server.url, workdir, "--mode", "package", report)
    assert run.code == 0, run.output
    assert run.status_of(report) == "submitted"
    (stored,) = server.runs
    assert stored.attachments == {}
    assert GIT_CONFIG not in stored_attachments(server)
    (warning,) = [w for w in run.files[report]["warnings"] if "attachment" in w]
    assert warning.startswith(f"{report}: attachment refused: {reference}")
    assert "version-control or credential location (.git)" in warning
    assert warning.endswith("it was not read")
    assert warning in run.stderr
    assert_no_token(run, server)


@contextmanager
def swapping(folder: Path, outside: Path, seed: int) -> Iterator[list[int]]:
    """Swap ``folder`` for a symbolic link to ``outside`` and back, in a loop, until the block
    ends; yields a one-item list counting the swaps."""
    parked = folder.with_name(folder.name + ".parked")
    stop = threading.Event()
    swaps = [0]
    rng = random.Random(seed)

    def loop() -> None:
        while not stop.is_set():
            folder.rename(parked)
            folder.symlink_to(outside, target_is_directory=True)
            time.sleep(rng.uniform(0, 0.001))  # the link stays for a moment
            folder.unlink()
            parked.rename(folder)
            swaps[0] += 1
            time.sleep(rng.uniform(0, 0.001))

    thread = threading.Thread(target=loop, daemon=True)
    # switch threads often, so that swaps land between any two steps of the run
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0001)
    thread.start()
    try:
        yield swaps
    finally:
        stop.set()
        thread.join(10)
        sys.setswitchinterval(interval)
    assert not thread.is_alive()


def test_folder_swapped_for_a_symlink_mid_run_never_sends_the_outside_file(
    server: JuxServer, workdir: Path
) -> None:
    seed = random.randrange(2**32)
    print(f"swap timing seed: {seed}")
    (workdir / "shots").mkdir()
    (workdir / "shots" / "login.png").write_bytes(INSIDE)
    outside = workdir.parent / "elsewhere"
    outside.mkdir()
    (outside / "login.png").write_bytes(OUTSIDE)
    names = []
    for i in range(50):
        rel = f"reports/TEST-{i:02d}.xml"
        write_junit(
            workdir / rel, suite=f"S{i}", cases=1, extra=case_with("[[ATTACHMENT|shots/login.png]]")
        )
        names.append(rel)
    with swapping(workdir / "shots", outside, seed) as swaps:
        run = submit(server.url, workdir, "--mode", "package", "reports/*.xml")
    assert swaps[0] >= 10, f"only {swaps[0]} swaps: the race was not exercised"
    assert run.code == 0, run.output
    assert sorted(run.files) == names
    assert len(server.runs) == 50
    carried = stored_attachments(server)
    assert OUTSIDE not in carried
    assert all(data == INSIDE for data in carried)
    for stored_run in server.runs:  # the inside file, or nothing (refused or missing then)
        assert stored_run.attachments in ({}, {"login.png": INSIDE})


def test_hard_link_to_an_outside_file_is_refused(server: JuxServer, workdir: Path) -> None:
    (workdir.parent / "secret.txt").write_bytes(OUTSIDE)
    (workdir / "shots").mkdir()
    os.link(workdir.parent / "secret.txt", workdir / "shots" / "evidence.png")
    marker = "[[ATTACHMENT|shots/evidence.png]]"
    write_junit(workdir / "TEST-a.xml", suite="A", cases=1, extra=case_with(marker))
    run = submit(server.url, workdir, "--mode", "package", "TEST-a.xml")
    assert run.code == 0, run.output
    (stored,) = server.runs
    assert stored.attachments == {}
    assert OUTSIDE not in stored_attachments(server)
    warning = f"TEST-a.xml: attachment refused: {marker} in system-out of shop.LoginTest.test_login"
    assert warning in run.stderr
    assert "has 2 hard links" in run.stderr


def test_backslash_names_become_safe_entries_and_the_report_is_accepted(
    server: JuxServer, workdir: Path
) -> None:
    (workdir / "build").mkdir()
    (workdir / "build" / "..\\..\\x.png").write_bytes(INSIDE)
    (workdir / "env").mkdir()
    (workdir / "env" / "..\\..\\versions.txt").write_bytes(b"python 3.11\n")
    write_junit(
        workdir / "build" / "TEST-win.xml",
        suite="Win",
        cases=1,
        extra=case_with("[[ATTACHMENT|..\\..\\x.png]]"),
    )
    run = submit(server.url, workdir, "build/*.xml", "--attach", "env/*.txt")
    assert run.code == 0, run.output
    assert run.status_of("build/TEST-win.xml") == "submitted"
    (stored,) = server.runs
    assert stored.attachments == {"x.png": INSIDE, "versions.txt": b"python 3.11\n"}
    (post,) = server.posts(PACKAGE_PATH)
    for name in ContainerReader(post.body).list_entries():
        assert "\\" not in name and ".." not in name.split("/"), name


def test_test_name_with_line_breaks_cannot_inject_into_the_manifest(
    server: JuxServer, workdir: Path
) -> None:
    (workdir / "shot.png").write_bytes(INSIDE)
    injected = (
        "test_login&#10;Name: attachments/forged.png&#13;&#10;&#10;Name: injected"
        "&#10;SHA-256: 00&#10;Size: 1&#133;NEL&#8232;LS"
    )
    case = case_with("[[ATTACHMENT|shot.png]]", classname="shop.Login&#13;Test", name=injected)
    write_junit(workdir / "TEST-m.xml", suite="M", cases=1, extra=case)
    run = submit(server.url, workdir, "TEST-m.xml")
    assert run.code == 0, run.output
    assert run.status_of("TEST-m.xml") == "submitted"
    (stored,) = server.runs
    assert stored.attachments == {"shot.png": INSIDE}
    (post,) = server.posts(PACKAGE_PATH)
    with zipfile.ZipFile(io.BytesIO(post.body)) as archive:
        manifest = archive.read("META-INF/MANIFEST.MF").decode()
    sections = manifest.strip("\n").split("\n\n")
    names = [line for line in manifest.split("\n") if line.startswith("Name: ")]
    assert names == ["Name: junit.xml", "Name: attachments/shot.png"]
    assert len(sections) == 3  # main, junit.xml, shot.png: nothing injected
    keys = {line.split(": ", 1)[0] for section in sections for line in section.split("\n")}
    assert keys == {
        "Manifest-Version",
        "Jux-Version",
        "Created-By",
        "Report-Type",
        "Timestamp",
        "Name",
        "SHA-256",
        "Size",
        "Attachment-For",
    }
    assert len(manifest.splitlines()) == manifest.count("\n")  # no CR, NEL or U+2028 left
    (entry,) = [
        e for e in ContainerReader(post.body).get_manifest().entries if "Attachment-For" in e
    ]
    assert entry["Attachment-For"] == (
        "shop.Login Test.test_login Name: attachments/forged.png   Name: injected "
        "SHA-256: 00 Size: 1 NEL LS"
    )
