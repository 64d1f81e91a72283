"""The CI files and docs agree with the option table (settings.OPTIONS) and the version.

action.yml, composite/action.yml, .gitlab-ci-template.yml and templates/jux-submit.yml are
written by .ci/sync-ci-files.py; these checks read the committed files on their own, so a bug
in that script cannot hide a drift.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from jux_submit import __version__
from jux_submit.settings import OPTIONS, Kind, Option, doc_default

ROOT = Path(__file__).resolve().parents[2]
MAJOR = __version__.split(".")[0]
IMAGE = f"ghcr.io/jux-tools/submit-action:v{MAJOR}"
INPUT_OPTIONS = [opt for opt in OPTIONS if opt.has_input]
OUTPUTS = [
    "submitted",
    "failed",
    "invalid",
    "test-run-ids",
    "results-file",
    "new-failures",
    "fixed",
    "comparison-json",
]
EXAMPLES = {
    "GitHub": "examples/github/workflow.yml",
    "GitLab": "examples/gitlab/.gitlab-ci.yml",
    "Jenkins": "examples/jenkins/Jenkinsfile",
    "Docker": "examples/docker-run.sh",
}


def load(rel: str) -> Any:
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def env_value(opt: Option) -> str | None:
    """The default as the value of a JUX_* variable; None when it has no fixed default."""
    if opt.kind is Kind.SIZE:
        return opt.default_text
    if opt.default_text or opt.default in (None, ()):
        return None
    if isinstance(opt.default, bool):
        return str(opt.default).lower()
    if isinstance(opt.default, tuple):
        return ",".join(opt.default)
    if isinstance(opt.default, float):
        return f"{opt.default:g}"
    return str(opt.default)


# --- GitHub actions ------------------------------------------------------------------------


@pytest.mark.parametrize("rel", ["action.yml", "composite/action.yml"])
def test_action_has_one_input_per_option(rel: str) -> None:
    inputs = load(rel)["inputs"]
    assert list(inputs) == [opt.name for opt in INPUT_OPTIONS]
    for opt in INPUT_OPTIONS:
        spec = inputs[opt.name]
        # INPUT_* outranks JUX_*, and the runner sets INPUT_* for defaults too: an input
        # default would hide a job-level `env: JUX_...`
        assert spec["default"] == "", opt.name
        assert spec.get("required", False) is False, opt.name
        description = spec["description"]
        assert f"Default: {doc_default(opt)}." in description, opt.name
        assert opt.env and opt.env in description, opt.name
        if opt.is_secret:
            assert "secret" in description.lower(), opt.name


@pytest.mark.parametrize("rel", ["action.yml", "composite/action.yml"])
def test_action_outputs(rel: str) -> None:
    outputs = load(rel)["outputs"]
    assert list(outputs) == OUTPUTS
    if rel.startswith("composite"):
        for name, spec in outputs.items():
            assert spec["value"] == f"${{{{ steps.submit.outputs.{name} }}}}"


def test_docker_action_uses_the_versioned_image() -> None:
    action = load("action.yml")
    assert action["runs"]["using"] == "docker"
    assert action["runs"]["image"] == f"docker://{IMAGE}"
    assert "args" not in action["runs"]  # inputs reach the program as INPUT_* only
    assert action["runs"]["env"] == {"JUX_JSON": "jux-results.json"}
    assert action["branding"]["icon"] and action["branding"]["color"]


def test_composite_action_passes_inputs_through_env_only() -> None:
    action = load("composite/action.yml")
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    submit = next(step for step in steps if step.get("id") == "submit")
    for opt in INPUT_OPTIONS:
        assert submit["env"][opt.input_env] == f"${{{{ inputs.{opt.name} }}}}"
    for step in steps:
        assert "${{" not in step.get("run", ""), "expressions must never be expanded in a shell"
        assert step.get("shell") == "bash"  # bash keeps INPUT_NAME-WITH-HYPHENS in the env


def test_image_tag_follows_the_package_version() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ARG VERSION={__version__}\n" in dockerfile
    for rel in (
        ".gitlab-ci-template.yml",
        "templates/jux-submit.yml",
        "examples/jenkins/Jenkinsfile",
        "examples/docker-run.sh",
    ):
        text = (ROOT / rel).read_text()
        tags = set(re.findall(r"ghcr\.io/jux-tools/submit-action:(v[0-9][0-9.]*)", text))
        assert tags == {f"v{MAJOR}"}, rel


# --- GitLab --------------------------------------------------------------------------------


def test_gitlab_template_job() -> None:
    job = load(".gitlab-ci-template.yml")[".jux-submit"]
    assert job["image"] == {"name": IMAGE, "entrypoint": [""]}
    assert job["script"] == ["jux-submit"]
    assert job["artifacts"]["reports"]["dotenv"] == "jux-submit.env"
    assert job["artifacts"]["when"] == "always"
    assert set(job["artifacts"]["paths"]) == {"jux-results.json", ".jux-outbox/"}
    rules = job["rules"]
    assert rules[-1] == {"when": "always", "allow_failure": True}
    assert rules[0]["allow_failure"] is False and "JUX_FAIL_ON_ERROR" in rules[0]["if"]


def test_gitlab_template_variables_mirror_the_defaults() -> None:
    text = (ROOT / ".gitlab-ci-template.yml").read_text()
    variables = load(".gitlab-ci-template.yml")[".jux-submit"]["variables"]
    for opt in OPTIONS:
        assert opt.env is not None
        # every option is documented in the header with its default
        assert re.search(
            rf"^#\s+{opt.env}\s+default: {re.escape(doc_default(opt))}", text, re.MULTILINE
        ), opt.env
        if opt.is_secret:
            assert opt.env not in variables, "secrets belong in masked CI/CD variables"
        elif opt.name == "json":
            assert variables[opt.env] == "jux-results.json"
        elif env_value(opt) is None:
            assert opt.env not in variables, opt.env
        else:
            assert variables[opt.env] == env_value(opt), opt.env


def test_gitlab_component_inputs_mirror_the_options() -> None:
    spec_text, job_text = (ROOT / "templates/jux-submit.yml").read_text().split("\n---\n")
    inputs = yaml.safe_load(spec_text)["spec"]["inputs"]
    assert inputs["image"]["default"] == IMAGE
    job = yaml.safe_load(job_text)["$[[ inputs.job-name ]]"]
    for opt in OPTIONS:
        if opt.is_secret:
            assert opt.name not in inputs and opt.env not in job["variables"]
            assert opt.env in spec_text  # documented as a CI/CD variable
            continue
        expected = "jux-results.json" if opt.name == "json" else (env_value(opt) or "")
        assert inputs[opt.name]["default"] == expected, opt.name
        assert f"Default: {doc_default(opt)}." in inputs[opt.name]["description"], opt.name
        assert job["variables"][opt.env] == f"$[[ inputs.{opt.name} ]]"
    assert job["script"] == ["jux-submit"]


# --- generated files are current -------------------------------------------------------------


def test_generated_ci_files_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "sync-ci-files.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- docs ----------------------------------------------------------------------------------


def _readme() -> str:
    path = ROOT / "README.md"
    return path.read_text()


def test_readme_documents_every_option_with_its_default() -> None:
    readme = _readme()
    for opt in OPTIONS:
        assert opt.env is not None
        lines = [line for line in readme.splitlines() if opt.env in line]
        assert lines, f"README.md does not mention {opt.env}"
        rows = [line for line in lines if line.lstrip().startswith("|")]
        if rows:
            assert any(doc_default(opt) in row for row in rows), (
                f"README.md: the table row of {opt.env} does not show the default "
                f"{doc_default(opt)!r}"
            )


@pytest.mark.parametrize("ci", list(EXAMPLES))
def test_readme_snippet_is_the_tested_example(ci: str) -> None:
    readme = _readme()
    headings = [
        line for line in readme.splitlines() if line.startswith("#") and ci.lower() in line.lower()
    ]
    assert headings, f"README.md has no {ci} section"
    example = (ROOT / EXAMPLES[ci]).read_text()
    assert example in readme, f"README.md's {ci} snippet differs from {EXAMPLES[ci]}"


def test_the_version_is_one_everywhere() -> None:
    """``jux-submit --version``, the installed package's metadata and the image's
    ``org.opencontainers.image.version`` label (the Dockerfile's VERSION default) agree."""
    from importlib.metadata import version

    assert version("jux-submit") == __version__
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    (label_default,) = re.findall(r"^ARG VERSION=(\S+)$", dockerfile, re.MULTILINE)
    assert label_default == __version__
    assert 'org.opencontainers.image.version="${VERSION}"' in dockerfile
    done = subprocess.run(
        [sys.executable, "-m", "jux_submit", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == f"jux-submit {__version__}"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = { text = "Apache-2.0" }' in pyproject
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")[:200]
