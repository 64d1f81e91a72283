"""No report is lost to its attachments: Playwright's default layout (a screenshot and an
``error-context.md`` per failed test) against a server enforcing the implementer's guide's
attachment MIME allowlist."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_environ, run_cli, write_junit
from tests.jux_server import JuxServer
from tests.jux_server.server import PACKAGE_PATH

#: the attachment types the Jux server implementer's guide lists
GUIDE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/svg+xml",
        "text/plain",
        "text/html",
        "text/csv",
        "application/json",
        "application/xml",
        "application/pdf",
        "video/mp4",
        "video/webm",
    }
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def playwright_layout(root: Path) -> None:
    """What Playwright's junit reporter and its test-results folder leave behind."""
    case = root / "test-results" / "checkout-pays-chromium"
    case.mkdir(parents=True)
    (case / "test-failed-1.png").write_bytes(PNG)
    (case / "error-context.md").write_text('# Page snapshot\n\n- button "Pay"\n')
    markers = (
        "[[ATTACHMENT|test-results/checkout-pays-chromium/test-failed-1.png]]\n"
        "[[ATTACHMENT|test-results/checkout-pays-chromium/error-context.md]]"
    )
    write_junit(
        root / "results.xml",
        suite="checkout.spec.ts",
        cases=2,
        failures=1,
        extra=f"<system-out>{markers}</system-out>",
    )


def run(server: JuxServer, workdir: Path, *extra: str) -> tuple[int, str, dict]:  # type: ignore[type-arg]
    out = workdir.parent / "result.json"
    result = run_cli(
        [
            "--api-url",
            server.url,
            "--working-directory",
            str(workdir),
            "--json",
            str(out),
            "--fail-on-error",
            "results.xml",
            *extra,
        ],
        make_environ(),
    )
    return result.code, result.output, json.loads(out.read_text())["files"][0]


def test_a_type_outside_the_allowlist_is_left_out_before_sending(tmp_path: Path) -> None:
    workdir = tmp_path / "ws"
    playwright_layout(workdir)
    with JuxServer() as server:
        server.attachment_types = GUIDE_TYPES
        code, output, entry = run(server, workdir)
        assert code == 0, output
        (stored,) = server.runs
    assert sorted(stored.attachments) == ["test-failed-1.png"]
    assert stored.counts["test_count"] == 2 and stored.counts["failure_count"] == 1
    assert any("error-context.md left out: its type text/markdown" in w for w in entry["warnings"])
    assert len(server.posts(PACKAGE_PATH)) == 1


def test_a_422_naming_an_attachment_sends_the_report_again_without_it(tmp_path: Path) -> None:
    workdir = tmp_path / "ws"
    playwright_layout(workdir)
    with JuxServer() as server:
        server.attachment_types = GUIDE_TYPES
        code, output, entry = run(server, workdir, "--attachment-types", "*")
        assert code == 0, output
        (stored,) = server.runs
        assert len(server.posts(PACKAGE_PATH)) == 2
    assert entry["status"] == "submitted"
    assert sorted(stored.attachments) == ["test-failed-1.png"]
    assert any(
        "refused the package because of an attachment" in w and "error-context.md" in w
        for w in entry["warnings"]
    )
    assert "signing key" not in output  # the hint names the real cause


def test_a_422_naming_no_attachment_sends_raw_xml(tmp_path: Path) -> None:
    from tests.jux_server import Fault

    workdir = tmp_path / "ws"
    playwright_layout(workdir)
    with JuxServer() as server:
        body = json.dumps({"error": "Package verification failed", "details": "attachment type"})
        server.faults.append(
            Fault.error(422, {"Content-Type": "application/json"}, body.encode(), PACKAGE_PATH)
        )
        code, output, entry = run(server, workdir)
        assert code == 0, output
        (stored,) = server.runs
    assert stored.endpoint == "/api/v1/junit/submit"
    assert any("sent again as raw XML without every attachment" in w for w in entry["warnings"])
