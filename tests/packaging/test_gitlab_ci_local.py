"""The GitLab example pipeline, run by gitlab-ci-local with the podman executor, submits the
sample reports through the template job to the test server on the host."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import make_environ
from tests.jux_server import JuxServer
from tests.packaging.conftest import (
    API_KEY,
    BASE_IMAGE,
    BASE_SHA,
    cleanup_containers,
    comment_marker,
    make_checkout,
    require_tool,
    run,
    submit_base_run,
    tool_env,
)
from tests.platform_api.gitlab import DEFAULT_TOKEN as GITLAB_TOKEN
from tests.platform_api.gitlab import GitlabApi

pytestmark = pytest.mark.packaging

REMOTE = "https://gitlab.example.com/acme/shop.git"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
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


MR_IID = 3
PROJECT_ID = 123


def read_dotenv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


@pytest.mark.usefixtures("image")
def test_merge_request_pipeline_keeps_one_note_with_the_changes(
    podman: str, jux_server: JuxServer, tmp_path: Path
) -> None:
    """A merge request pipeline compares with main's run on the server, hands the counts to
    a later job through the dotenv report and adds one note; a second pipeline updates it."""
    gcl = require_tool("gitlab-ci-local")
    require_tool("rsync")
    base_id = submit_base_run(
        jux_server,
        tmp_path / "base",
        make_environ(
            GITLAB_CI="true",
            CI="true",
            CI_SERVER_URL="https://gitlab.example.com",
            CI_PROJECT_PATH="acme/shop",
            CI_PROJECT_DIR=str(tmp_path / "base"),
            CI_PIPELINE_ID="900",
            CI_JOB_ID="901",
            CI_JOB_NAME="jux",
            CI_PIPELINE_SOURCE="push",
            CI_COMMIT_SHA=BASE_SHA,
            CI_COMMIT_BRANCH="main",
            CI_COMMIT_REF_NAME="main",
        ),
    )
    repo = tmp_path / "shop"
    repo.mkdir()
    (repo / ".gitlab-ci.yml").write_text((FIXTURES / "merge-request.gitlab-ci.yml").read_text())
    sha = make_checkout(repo, REMOTE)
    marker = comment_marker("shop")
    dotenv_file = repo / ".gitlab-ci-local/artifacts/jux/.gitlab-ci-reports/dotenv/jux-submit.env"

    with GitlabApi(
        project_id=PROJECT_ID, project_path="acme/shop", merge_requests=(MR_IID,)
    ) as gitlab:
        # what GitLab sets in a merge request pipeline, and the masked CI/CD variables
        mr_variables = {
            "GITLAB_CI": "true",
            "CI_PIPELINE_SOURCE": "merge_request_event",
            "CI_COMMIT_REF_NAME": "feature",
            "CI_MERGE_REQUEST_IID": str(MR_IID),
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature",
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
            "CI_PROJECT_ID": str(PROJECT_ID),
            "CI_API_V4_URL": gitlab.api_url,
            "JUX_API_URL": jux_server.url,
            "JUX_API_KEY": API_KEY,
            "JUX_GITLAB_TOKEN": GITLAB_TOKEN,
            # a CI/CD variable outranks the template job's JUX_PR_COMMENT: "off"
            "JUX_PR_COMMENT": "always",
        }
        args = [
            gcl,
            "--container-executable",
            "podman",
            "--pull-policy",
            "if-not-present",
            "--helper-image",
            BASE_IMAGE,
            "--network",
            "host",
            # a merge request pipeline has no CI_COMMIT_BRANCH
            "--unset-variable",
            "CI_COMMIT_BRANCH",
            "--ignore-predefined-vars",
            "GITLAB_CI,CI_PIPELINE_SOURCE,CI_COMMIT_REF_NAME,CI_PROJECT_ID,CI_API_V4_URL",
        ]
        for name, value in mr_variables.items():
            args += ["--variable", f"{name}={value}"]

        logs = []
        for attempt in (1, 2):
            try:
                done = run(args, cwd=repo, env=tool_env(), timeout=600)
            finally:
                cleanup_containers(podman, "gcl-")
            log = done.stdout + done.stderr
            logs.append(log)
            for job in ("unit-tests", "jux", "check-changes"):
                assert f"PASS  {job}" in log, log[-6000:]
            assert "CHECK-OK new=1 fixed=1" in log, log[-6000:]
            dotenv = read_dotenv(dotenv_file)
            assert dotenv["JUX_NEW_FAILURES"] == "1" and dotenv["JUX_FIXED"] == "1", dotenv
            assert dotenv["JUX_TEST_RUN_IDS"] == jux_server.runs[-1].test_run_id
            notes = gitlab.notes(MR_IID, system=False)
            ours = [n for n in notes if n["body"].startswith(marker)]
            assert len(notes) == 1 and len(ours) == 1, notes
            body = ours[0]["body"]
            assert body.splitlines()[0] == marker
            assert body.index("**New failures** (1)") < body.index("`Cart › shop.Cart › test_c`")
            assert body.index("**Fixed** (1)") < body.index("`Cart › shop.Cart › test_a`")
            assert base_id in body and jux_server.runs[-1].test_run_id in body
            if attempt == 1:
                assert f"added a comment on merge request !{MR_IID}" in log, log[-6000:]
                first_note = ours[0]
            else:
                assert f"updated the comment on merge request !{MR_IID}" in log, log[-6000:]
                assert ours[0]["id"] == first_note["id"]
                assert ours[0]["updated_at"] != first_note["updated_at"]
        methods = [r.method for r in gitlab.requests]
        assert methods.count("POST") == 1 and methods.count("PUT") == 1, methods
        assert gitlab.violations == [], gitlab.violations

    assert jux_server.violations == [], jux_server.violations
    runs = jux_server.runs
    assert len(runs) == 3, [r.properties for r in runs]
    for stored in runs[1:]:
        props = stored.properties
        assert props["ci:provider"] == "gitlab-ci"
        assert props["git:branch"] == "feature"
        assert props["git:commit"] == sha
        assert props["ci:pull_request"] == str(MR_IID)
        assert props["ci:pr_target_branch"] == "main"
    for log in logs:
        assert GITLAB_TOKEN not in log and API_KEY not in log
