"""The GitLab example pipeline, run by gitlab-ci-local with the podman executor, submits the
sample reports through the template job to the test server on the host."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.jux_server import JuxServer
from tests.packaging.conftest import (
    API_KEY,
    BASE_IMAGE,
    cleanup_containers,
    make_checkout,
    require_tool,
    run,
    tool_env,
)

pytestmark = pytest.mark.packaging

REMOTE = "https://gitlab.example.com/acme/shop.git"
PUBLISHED_INCLUDE = (
    "  - remote: https://raw.githubusercontent.com/jux/submit-action/v1/.gitlab-ci-template.yml\n"
)


@pytest.mark.usefixtures("image")
def test_example_pipeline_submits_through_the_template(
    podman: str, jux_server: JuxServer, tmp_path: Path
) -> None:
    gcl = require_tool("gitlab-ci-local")
    require_tool("rsync")  # gitlab-ci-local copies the checkout and artifacts with it
    repo = tmp_path / "shop"
    # The example includes the published template; the checkout has no network, so the
    # include (and only it) points at the same file in the checkout.
    example = (Path(__file__).resolve().parents[2] / "examples/gitlab/.gitlab-ci.yml").read_text()
    assert example.count(PUBLISHED_INCLUDE) == 1
    repo.mkdir()
    (repo / ".gitlab-ci.yml").write_text(
        example.replace(PUBLISHED_INCLUDE, "  - local: .gitlab-ci-template.yml\n")
    )
    sha = make_checkout(repo, REMOTE)
    try:
        done = run(
            [
                gcl,
                "--container-executable",
                "podman",
                "--pull-policy",
                "if-not-present",
                "--helper-image",
                BASE_IMAGE,
                "--network",
                "host",
                # gitlab-ci-local sets GITLAB_CI=false on purpose; a runner sets it to true
                "--variable",
                "GITLAB_CI=true",
                "--ignore-predefined-vars",
                "GITLAB_CI",
                # as masked project CI/CD variables would
                "--variable",
                f"JUX_API_URL={jux_server.url}",
                "--variable",
                f"JUX_API_KEY={API_KEY}",
            ],
            cwd=repo,
            env=tool_env(),
            timeout=600,
        )
    finally:
        cleanup_containers(podman, "gcl-")
    log = done.stdout + done.stderr
    assert "PASS  unit-tests" in log and "PASS  jux" in log, log[-5000:]

    runs = jux_server.runs
    assert len(runs) == 3, log[-5000:]
    for stored in runs:
        props = stored.properties
        assert props["ci:provider"] == "gitlab-ci"
        assert props["git:branch"] == "main"
        assert props["git:commit"] == sha
        assert props["ci:build_url"].startswith("https://gitlab.example.com/acme/shop/")
        assert props["ci:repository"] == "acme/shop"
    ids = sorted(r.test_run_id for r in runs)

    # the dotenv report that later jobs receive
    dotenv_file = repo / ".gitlab-ci-local/artifacts/jux/.gitlab-ci-reports/dotenv/jux-submit.env"
    dotenv = dict(line.split("=", 1) for line in dotenv_file.read_text().splitlines())
    assert sorted(dotenv["JUX_TEST_RUN_IDS"].split(",")) == ids
    assert dotenv["JUX_SUBMITTED"] == "3" and dotenv["JUX_INVALID"] == "0"
    assert (repo / ".gitlab-ci-local/artifacts/jux/jux-results.json").is_file()
    # gitlab-ci-local parses GitLab's section markers, as GitLab does, and names the section
    assert re.search(r"jux_1_jux-submit_\S+_started", log), log[-5000:]
    assert API_KEY not in log
