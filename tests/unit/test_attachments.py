"""Attachment discovery: markers, properties, --attach globs, confinement, names."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

import jux_submit.attachments as attachments_module
from jux_submit.attachments import (
    AttachmentRefusedError,
    AttachmentSet,
    collect_globbed,
    entry_name,
    find_references,
    read_attachment,
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


# --- refused locations, links, special files -------------------------------------------------

TOKEN_CONFIG = b"[http]\n\textraheader = AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46c2VjcmV0\n"


def one_refusal(found: AttachmentSet, report: str, marker: str) -> str:
    assert found.attachments == ()
    (warning,) = found.warnings
    assert warning.startswith(f"{report}: attachment refused: {marker}")
    assert warning.endswith("; it was not read")
    return warning


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (".git/config", "version-control or credential location (.git)"),
        ("../.git/config", "version-control or credential location (.git)"),
        ("../.GIT/config", "version-control or credential location (.GIT)"),
        ("../repo/.hg/hgrc", "(.hg)"),
        ("../.svn/entries", "(.svn)"),
        ("../home/.ssh/known_hosts", "(.ssh)"),
        ("../home/.docker/config.json", "(.docker)"),
        ("../home/.gnupg/pubring.kbx", "(.gnupg)"),
        ("../home/.aws/credentials", "(.aws)"),
        ("../home/.kube/config", "(.kube)"),
        ("../.netrc", "credential file (.netrc)"),
        ("../_netrc", "credential file (_netrc)"),
        ("../.npmrc", "credential file (.npmrc)"),
        ("../.pypirc", "credential file (.pypirc)"),
        ("../.git-credentials", "credential file (.git-credentials)"),
        ("../.env", "credential file (.env)"),
        ("../keys/id_rsa", "credential file (id_rsa)"),
        ("../keys/id_ed25519", "credential file (id_ed25519)"),
        ("../keys/id_ecdsa", "credential file (id_ecdsa)"),
    ],
)
def test_vcs_and_credential_locations_are_refused_unopened(
    tmp_path: Path, target: str, reason: str
) -> None:
    # a FIFO stands in for the file: had it been opened, the reason would be "not a regular file"
    place = (tmp_path / "build" / target).resolve()
    place.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(place)
    report = report_with(tmp_path, f"<system-out>[[ATTACHMENT|{target}]]</system-out>")
    found = resolve_references(find_references(report.path), report, tmp_path)
    warning = one_refusal(found, "build/report.xml", f"[[ATTACHMENT|{target}]]")
    assert reason in warning


def test_links_into_a_refused_location_inside_the_workspace_are_refused(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_bytes(TOKEN_CONFIG)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "settings.txt").symlink_to("../.git/config")
    (tmp_path / "docs" / "meta").symlink_to(tmp_path / ".git")
    report = report_with(
        tmp_path,
        "<system-out>[[ATTACHMENT|docs/settings.txt]] [[ATTACHMENT|docs/meta/config]]</system-out>",
        "r.xml",
    )
    found = resolve_references(find_references(report.path), report, tmp_path)
    assert found.attachments == ()
    assert len(found.warnings) == 2
    assert all("version-control or credential location (.git)" in w for w in found.warnings)


def test_property_reference_to_git_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_bytes(TOKEN_CONFIG)
    report = report_with(
        tmp_path,
        '<testcase classname="c" name="t"><properties>'
        '<property name="attachment" value=".git/config"/></properties></testcase>',
        "r.xml",
    )
    found = resolve_references(find_references(report.path), report, tmp_path)
    warning = one_refusal(found, "r.xml", '<property name="attachment" value=".git/config"/>')
    assert "(.git)" in warning


@pytest.mark.parametrize(
    ("name", "content", "is_refused"),
    [
        ("server.pem", b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", True),
        ("tls.key", b"-----BEGIN EC PRIVATE KEY-----\nMHc\n", True),
        ("deploy.key", b"\xef\xbb\xbf\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n", True),
        # a bundle listing the certificate first still holds the key
        (
            "bundle.pem",
            b"-----BEGIN CERTIFICATE-----\n" + b"A" * 5000 + b"\n-----BEGIN RSA PRIVATE KEY-----\n",
            True,
        ),
        # the content decides, not the name
        ("notes.txt", b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n", True),
        ("ca.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", False),
        ("readme.key", b"a log line mentioning PRIVATE KEY\n", False),
    ],
)
def test_private_keys_are_refused_whatever_their_name(
    tmp_path: Path, name: str, content: bytes, is_refused: bool
) -> None:
    (tmp_path / name).write_bytes(content)
    report = report_with(tmp_path, f"<system-out>[[ATTACHMENT|{name}]]</system-out>", "r.xml")
    found = resolve_references(find_references(report.path), report, tmp_path)
    if is_refused:
        assert "is a private key" in one_refusal(found, "r.xml", f"[[ATTACHMENT|{name}]]")
    else:
        (item,) = found.attachments
        assert read_attachment(item) == content


def test_hard_link_to_an_outside_file_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (tmp_path / "secret.txt").write_text("top secret")
    os.link(tmp_path / "secret.txt", ws / "evidence.txt")
    report = report_with(ws, "<system-out>[[ATTACHMENT|evidence.txt]]</system-out>", "r.xml")
    found = resolve_references(find_references(report.path), report, ws)
    warning = one_refusal(found, "r.xml", "[[ATTACHMENT|evidence.txt]]")
    assert "has 2 hard links" in warning


def test_fifo_and_link_loops_are_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.log")
    (tmp_path / "loop-a").symlink_to("loop-b")
    (tmp_path / "loop-b").symlink_to("loop-a")
    report = report_with(
        tmp_path,
        "<system-out>[[ATTACHMENT|pipe.log]] [[ATTACHMENT|loop-a/x.log]]</system-out>",
        "r.xml",
    )
    found = resolve_references(find_references(report.path), report, tmp_path)
    assert found.attachments == ()
    assert "not a regular file" in found.warnings[0]
    assert "too many links" in found.warnings[1]


@pytest.mark.parametrize(
    ("link", "target", "is_inside"),
    [
        ("rel", "real", True),
        ("abs", "{ws}/real", True),
        ("dotdot", "real/../real", True),
        ("up", "..", False),
        ("up-in-folder", "real/../..", False),
        ("abs-out", "{tmp}", False),
        ("abs-dotdot", "{ws}/../ws/real", False),  # up past the working directory first
    ],
)
def test_folder_links_are_followed_only_beneath_the_working_directory(
    tmp_path: Path, link: str, target: str, is_inside: bool
) -> None:
    ws = tmp_path / "ws"
    (ws / "real").mkdir(parents=True)
    (ws / "real" / "a.log").write_text("inside")
    (ws / "a.log").write_text("root")
    (tmp_path / "a.log").write_text("outside")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.log").write_text("outside")
    (ws / link).symlink_to(target.format(ws=ws, tmp=tmp_path))
    report = report_with(ws, f"<system-out>[[ATTACHMENT|{link}/a.log]]</system-out>", "r.xml")
    found = resolve_references(find_references(report.path), report, ws)
    if is_inside:
        (item,) = found.attachments
        assert item.path == ws / "real" / "a.log"
        assert read_attachment(item) == b"inside"
    else:
        warning = one_refusal(found, "r.xml", f"[[ATTACHMENT|{link}/a.log]]")
        assert "outside the working directory" in warning
        assert f"through the symbolic link {link} -> " in warning


def test_working_directory_given_through_a_link(tmp_path: Path) -> None:
    (tmp_path / "real-ws" / "logs").mkdir(parents=True)
    (tmp_path / "real-ws" / "logs" / "a.log").write_text("a")
    (tmp_path / "ws").symlink_to(tmp_path / "real-ws")
    ws = tmp_path / "ws"
    report = report_with(
        ws, f"<system-out>[[ATTACHMENT|{ws}/logs/a.log]] [[ATTACHMENT|logs/a.log]]</system-out>"
    )
    found = resolve_references(find_references(report.path), report, ws)
    assert [a.path for a in found.attachments] == [tmp_path / "real-ws" / "logs" / "a.log"] * 2
    assert found.warnings == ()


# --- reading later: the very file checked ----------------------------------------------------


def found_one(ws: Path, target: str) -> Attachment:
    report = report_with(ws, f"<system-out>[[ATTACHMENT|{target}]]</system-out>", "r.xml")
    (item,) = resolve_references(find_references(report.path), report, ws).attachments
    return item


def test_folder_swapped_for_a_link_after_the_check_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "shots").mkdir(parents=True)
    (ws / "shots" / "x.png").write_bytes(b"inside")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.png").write_bytes(b"outside")
    item = found_one(ws, "shots/x.png")
    (ws / "shots").rename(ws / "parked")
    (ws / "shots").symlink_to(tmp_path / "outside")
    with pytest.raises(AttachmentRefusedError, match="shots is now a symbolic link"):
        read_attachment(item)
    # even a link that stays inside is refused now: the path was resolved when checked
    (ws / "shots").unlink()
    (ws / "shots").symlink_to("parked")
    with pytest.raises(AttachmentRefusedError, match="changed after it was checked"):
        read_attachment(item)


def test_file_replaced_after_the_check_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_text("checked")
    item = found_one(tmp_path, "x.log")
    (tmp_path / "other.log").write_text("planted")
    (tmp_path / "other.log").replace(tmp_path / "x.log")
    with pytest.raises(AttachmentRefusedError, match="replaced by another file"):
        read_attachment(item)


def test_file_turned_into_a_hard_link_or_a_key_after_the_check_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_text("checked")
    item = found_one(tmp_path, "x.log")
    os.link(tmp_path / "x.log", tmp_path / "second-name")
    with pytest.raises(AttachmentRefusedError, match="2 hard links"):
        read_attachment(item)
    (tmp_path / "second-name").unlink()
    (tmp_path / "x.log").write_bytes(b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n")  # same inode
    with pytest.raises(AttachmentRefusedError, match="private key"):
        read_attachment(item)


def test_file_gone_after_the_check_is_an_os_error(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_text("checked")
    item = found_one(tmp_path, "x.log")
    (tmp_path / "x.log").unlink()
    with pytest.raises(FileNotFoundError):
        read_attachment(item)


def test_path_based_fallback_keeps_the_same_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # platforms without openat (Windows) take the path-based route
    monkeypatch.setattr(attachments_module, "HAS_OPENAT", False)
    ws = tmp_path / "ws"
    (ws / ".git").mkdir(parents=True)
    (ws / ".git" / "config").write_bytes(TOKEN_CONFIG)
    (ws / "ok.log").write_text("ok")
    (tmp_path / "secret.txt").write_text("secret")
    os.link(tmp_path / "secret.txt", ws / "hard.txt")
    (ws / "escape").symlink_to(tmp_path)
    (ws / "cfg").symlink_to(ws / ".git" / "config")
    targets = ["ok.log", "hard.txt", "escape/secret.txt", "cfg", "../secret.txt"]
    markers = " ".join(f"[[ATTACHMENT|{t}]]" for t in targets)
    report = report_with(ws, f"<system-out>{markers}</system-out>", "r.xml")
    found = resolve_references(find_references(report.path), report, ws)
    (item,) = found.attachments
    assert read_attachment(item) == b"ok"
    reasons = ["hard links", "outside the working directory", "(.git)", "outside"]
    assert [r in w for r, w in zip(reasons, found.warnings, strict=True)] == [True] * 4


# --- entry names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shot.png", "shot.png"),
        ("..\\..\\x.png", "x.png"),
        ("C:\\build\\shots\\x.png", "x.png"),
        ("a/b\\c.log", "c.log"),
        ("../../etc/passwd", "passwd"),
        ("..", "attachment"),
        ("\\", "attachment"),
        ("x.png\\..", "x.png"),
        ("line\nbreak\r.png", "line_break_.png"),
        ("nul\x00.txt", "nul_.txt"),
        ("sep\u2028arator\x85.txt", "sep_arator_.txt"),
        ("bad-\udcff-bytes.log", "bad-_-bytes.log"),
        ("  spaced.txt  ", "spaced.txt"),
        ("x" * 300 + ".png", "x" * 196 + ".png"),
    ],
)
def test_entry_names_are_safe(name: str, expected: str) -> None:
    safe = entry_name(name)
    assert safe == expected
    assert entry_name(safe) == safe
    assert "/" not in safe and "\\" not in safe and safe not in ("", ".", "..")
    assert safe.isprintable()


def test_backslash_names_found_on_disk_become_safe_unique_entries(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "..\\..\\x.png").write_bytes(b"one")
    (tmp_path / "x.png").write_bytes(b"two")
    report = report_with(
        tmp_path, "<system-out>[[ATTACHMENT|..\\..\\x.png]] [[ATTACHMENT|x.png]]</system-out>"
    )
    found = resolve_references(find_references(report.path), report, tmp_path)
    assert [a.name for a in unique_names(found.attachments)] == ["x.png", "x-2.png"]
    assert [read_attachment(a) for a in found.attachments] == [b"one", b"two"]


def test_unique_names_makes_names_safe_first(tmp_path: Path) -> None:
    items = [
        Attachment(tmp_path / "a", "..\\x.png"),
        Attachment(tmp_path / "b", "x.png"),
        Attachment(tmp_path / "c", "a\nb"),
    ]
    assert [a.name for a in unique_names(items)] == ["x.png", "x-2.png", "a_b"]


# --- --attach globs --------------------------------------------------------------------------


def test_attach_globs_refuse_credentials_and_hard_links_naming_the_glob(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / ".git").mkdir(parents=True)
    (ws / ".git" / "config").write_bytes(TOKEN_CONFIG)
    (ws / "env").mkdir()
    (ws / "env" / "versions.txt").write_text("py 3.11")
    (ws / "env" / ".env").write_text("API_KEY=1")
    (tmp_path / "secret.txt").write_text("s")
    os.link(tmp_path / "secret.txt", ws / "env" / "linked.txt")
    found = collect_globbed([".git/*", "env/*"], ws)
    assert [a.name for a in found.attachments] == ["versions.txt"]
    assert found.warnings == (
        "--attach .git/*: .git/config is in a version-control or credential location (.git); "
        "it was not read",
        "--attach env/*: env/.env is a credential file (.env); it was not read",
        "--attach env/*: env/linked.txt has 2 hard links (a hard link can be any file on the "
        "machine); it was not read",
    )


# --- the package manifest --------------------------------------------------------------------


def test_package_manifest_values_cannot_add_lines(tmp_path: Path) -> None:
    from jxz import ContainerReader

    from jux_submit.payload import MANIFEST_VALUE_LIMIT, build_package_payload

    (tmp_path / "a.log").write_text("a")
    (tmp_path / "b.log").write_text("b")
    item = found_one(tmp_path, "a.log")
    evil = "pkg.T.t\r\n\r\nName: attachments/evil\nSHA-256: 0\nSize: 0\x00\x85\u2028end"
    payload = build_package_payload(
        b'<testsuite name="s" tests="0"/>',
        [
            Attachment(item.path, "a.log", evil, root=item.root, identity=item.identity),
            Attachment(tmp_path / "b.log", "b\nName: x.log", "y" * 5000, root=tmp_path),
        ],
        reason="test",
    )
    assert payload.body is not None
    with zipfile.ZipFile(io.BytesIO(payload.body)) as archive:
        text = archive.read("META-INF/MANIFEST.MF").decode()
    sections = text.strip("\n").split("\n\n")
    assert len(sections) == 4  # main, junit.xml, two attachments
    assert all(": " in line for section in sections for line in section.split("\n"))
    # no line break but the "\n"s py-jxz writes, which str.splitlines (its parser) would see
    assert len(text.splitlines()) == text.count("\n")
    entries = ContainerReader(payload.body).get_manifest().entries
    assert [e["Name"] for e in entries] == [
        "junit.xml",
        "attachments/a.log",
        "attachments/b_Name: x.log",
    ]
    assert entries[1]["Attachment-For"] == (
        "pkg.T.t    Name: attachments/evil SHA-256: 0 Size: 0   end"
    )
    assert len(entries[2]["Attachment-For"]) == MANIFEST_VALUE_LIMIT
