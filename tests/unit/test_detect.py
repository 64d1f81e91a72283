"""CI detection against environment snapshots (tests/fixtures/env/*.yaml).

Each snapshot is a full environment as the CI sets it (noise variables included), the files
it points to, the documentation page it was written from, and the expected context. Detection
runs in an empty folder that is not a git repository, so every value comes from the CI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from jux_submit.detect import detect_context, detect_workspace
from jux_submit.models import CIContext

ENV_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "env"
SNAPSHOTS = sorted(ENV_DIR.glob("*.yaml"))
DOCUMENTED_KEYS = (
    "is_ci",
    "provider",
    "branch",
    "tag",
    "commit",
    "pull_request",
    "pr_source_branch",
    "pr_target_branch",
    "build_id",
    "build_number",
    "build_url",
    "job_name",
    "job_url",
    "repository",
    "repository_url",
    "workspace",
    "actor",
)
PROVIDER_IDS = {
    "github-actions",
    "gitlab-ci",
    "jenkins",
    "azure-pipelines",
    "circleci",
    "bitbucket-pipelines",
    "buildkite",
    "travis-ci",
    "teamcity",
    "drone",
    "woodpecker",
    "appveyor",
    "aws-codebuild",
    "bamboo",
    "semaphore",
    "google-cloud-build",
    "harness",
    "gitea-actions",
    "unknown",
}
USERINFO_RE = re.compile(r"://([^/@\s]+)@")


def _substitute(value: Any, tmp: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{tmp}", str(tmp))
    if isinstance(value, dict):
        return {k: _substitute(v, tmp) for k, v in value.items()}
    return value


def load_snapshot(path: Path, tmp: Path) -> dict[str, Any]:
    """The snapshot at ``path`` with its files planted under ``tmp``."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, content in (data.get("files") or {}).items():
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content)
        target.write_text(_substitute(text, tmp), encoding="utf-8")
    data["env"] = {k: str(v) for k, v in _substitute(data["env"], tmp).items()}
    data["expected"] = _substitute(data["expected"], tmp)
    return data


@pytest.fixture
def not_a_repo(tmp_path: Path) -> Path:
    path = tmp_path / "not-a-repo"
    path.mkdir()
    return path


def test_there_is_a_snapshot_for_every_provider() -> None:
    seen = {
        yaml.safe_load(p.read_text(encoding="utf-8"))["expected"]["provider"] for p in SNAPSHOTS
    }
    assert seen >= PROVIDER_IDS


@pytest.mark.parametrize("path", SNAPSHOTS, ids=[p.stem for p in SNAPSHOTS])
def test_snapshot_is_documented(path: Path, tmp_path: Path) -> None:
    data = load_snapshot(path, tmp_path)
    assert data["situation"].strip()
    sources = data["source"] if isinstance(data["source"], list) else [data["source"]]
    assert all(str(s).startswith("https://") for s in sources)
    assert set(DOCUMENTED_KEYS) <= set(data["expected"]), "every documented key is pinned"
    assert len(data["env"]) >= 8, "a full environment, noise included"


@pytest.mark.parametrize("path", SNAPSHOTS, ids=[p.stem for p in SNAPSHOTS])
def test_snapshot_detects_as_documented(path: Path, tmp_path: Path, not_a_repo: Path) -> None:
    data = load_snapshot(path, tmp_path)
    context = detect_context(data["env"], not_a_repo)
    got = context.to_dict()
    expected = data["expected"]
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize("path", SNAPSHOTS, ids=[p.stem for p in SNAPSHOTS])
def test_snapshot_workspace_from_environment_alone(path: Path, tmp_path: Path) -> None:
    data = load_snapshot(path, tmp_path)
    expected = data.get("workspace_from_env", data["expected"]["workspace"])
    assert detect_workspace(data["env"]) == expected


@pytest.mark.parametrize("path", SNAPSHOTS, ids=[p.stem for p in SNAPSHOTS])
def test_snapshot_output_holds_no_credential(path: Path, tmp_path: Path, not_a_repo: Path) -> None:
    data = load_snapshot(path, tmp_path)
    userinfo = [m.group(1) for v in data["env"].values() for m in USERINFO_RE.finditer(v)]
    # user:password pairs and their password (a bare "org@" user name is no secret).
    secrets = [u for u in userinfo if ":" in u] + [u.split(":", 1)[1] for u in userinfo if ":" in u]
    text = json.dumps(detect_context(data["env"], not_a_repo).to_dict())
    assert not [s for s in secrets if s in text]


@pytest.mark.parametrize("path", SNAPSHOTS, ids=[p.stem for p in SNAPSHOTS])
def test_snapshot_values_are_strings_or_null(path: Path, tmp_path: Path, not_a_repo: Path) -> None:
    data = load_snapshot(path, tmp_path)
    got = detect_context(data["env"], not_a_repo).to_dict()
    assert isinstance(got["is_ci"], bool)
    assert all(v is None or isinstance(v, str) for k, v in got.items() if k != "is_ci")
    if got["commit"] is not None:
        assert re.fullmatch(r"[0-9a-f]{40}", got["commit"])
    if got["workspace"] is not None:
        assert got["workspace"].startswith(("/", "C:\\")) and "~" not in got["workspace"]
    for key in ("build_url", "job_url", "repository_url"):
        assert got[key] is None or re.match(r"https?://[^@/]+/", got[key] + "/"), key
    assert got["pull_request"] is None or got["pull_request"].isdigit()


def test_outside_ci_is_null_provider(not_a_repo: Path) -> None:
    context = detect_context({"PATH": "/usr/bin", "HOME": "/home/dev"}, not_a_repo)
    assert context == CIContext()
    assert context.to_dict()["provider"] is None


@pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.stem)
def test_the_lazy_provider_lookup_finds_what_trying_every_provider_finds(
    path: Path, tmp_path: Path
) -> None:
    from jux_submit.providers import Env, all_providers, find_provider

    raw = load_snapshot(path, tmp_path)["env"]
    env = Env(raw)
    eager = next((p for p in all_providers() if p.matches(env)), None)
    assert find_provider(env) is eager
    # and a variable a provider cannot do without really is one: without all of them, no match
    from jux_submit.providers import _PROVIDERS

    for (module, name, needs), provider in zip(_PROVIDERS, all_providers(), strict=True):
        stripped = Env({k: v for k, v in raw.items() if k not in needs})
        assert not provider.matches(stripped), (module, name, needs)
