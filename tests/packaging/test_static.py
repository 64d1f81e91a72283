"""Linters and schema checks for the Dockerfile, the actions, the workflows, the GitLab files
and the Jenkinsfile. Each would fail .ci/run on a broken file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.packaging.conftest import ROOT, require_tool, run

pytestmark = pytest.mark.packaging

ACTIONS = ["action.yml", "composite/action.yml"]
WORKFLOWS = sorted(
    str(p.relative_to(ROOT))
    for p in [*ROOT.glob("examples/github/*.yml"), *ROOT.glob(".github/workflows/*.yml")]
)


def test_hadolint_dockerfile() -> None:
    run([require_tool("hadolint"), "Dockerfile"])


def test_actions_match_the_actions_schema() -> None:
    run([require_tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", *ACTIONS])


def test_workflows_match_the_workflow_schema() -> None:
    assert len(WORKFLOWS) >= 3
    run(
        [
            require_tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *WORKFLOWS,
        ]
    )


def test_gitlab_files_match_the_gitlab_schema(tmp_path: Path) -> None:
    tool = require_tool("check-jsonschema")
    run(
        [
            tool,
            "--builtin-schema",
            "vendor.gitlab-ci",
            ".gitlab-ci-template.yml",
            "examples/gitlab/.gitlab-ci.yml",
        ]
    )
    # the schema accepts anything under a hidden (dot) job: check an un-hidden copy as well
    text = (ROOT / ".gitlab-ci-template.yml").read_text()
    unhidden = re.sub(r"^\.jux-submit:", "jux-submit:", text, flags=re.MULTILINE)
    assert unhidden != text
    (tmp_path / "unhidden.yml").write_text(unhidden)
    # the component: its job, with every input replaced by its default
    spec_text, job_text = (ROOT / "templates/jux-submit.yml").read_text().split("\n---\n")
    inputs = yaml.safe_load(spec_text)["spec"]["inputs"]
    job = re.sub(
        r"\$\[\[ inputs\.([a-z0-9-]+) \]\]", lambda m: str(inputs[m.group(1)]["default"]), job_text
    )
    assert "$[[" not in job
    (tmp_path / "component-job.yml").write_text(job)
    run(
        [
            tool,
            "--builtin-schema",
            "vendor.gitlab-ci",
            str(tmp_path / "unhidden.yml"),
            str(tmp_path / "component-job.yml"),
        ]
    )


def test_schema_check_catches_a_broken_template_job(tmp_path: Path) -> None:
    """The un-hidden copy is what makes the template check real: prove it fails when broken."""
    text = (ROOT / ".gitlab-ci-template.yml").read_text()
    broken = text.replace(".jux-submit:", "jux-submit:").replace(
        "  script:\n    - jux-submit", "  script: 5"
    )
    (tmp_path / "broken.yml").write_text(broken)
    done = run(
        [
            require_tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.gitlab-ci",
            str(tmp_path / "broken.yml"),
        ],
        check=False,
    )
    assert done.returncode != 0


def test_actionlint_workflows() -> None:
    # actionlint also checks `uses: ./` and `uses: ./composite` steps against their action.yml
    run([require_tool("actionlint"), "-ignore", "is deprecated in GitHub Actions", *WORKFLOWS])


def test_zizmor_finds_nothing_above_informational() -> None:
    run(
        [
            require_tool("zizmor"),
            "--offline",
            "--min-severity",
            "low",
            "-c",
            ".ci/zizmor.yml",
            *ACTIONS,
            *WORKFLOWS,
        ]
    )


def test_jenkinsfile_lints() -> None:
    # --noserver: otherwise it leaves a CodeNarc server running in the background
    run(
        [
            require_tool("npm-groovy-lint"),
            "--noserver",
            "--failon",
            "error",
            "examples/jenkins/Jenkinsfile",
        ],
        timeout=180,
    )


def test_docker_run_script_is_valid_sh() -> None:
    run(["sh", "-n", "examples/docker-run.sh"])
