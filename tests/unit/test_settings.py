"""Settings: every row of the option table, the precedence order, and configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from jux_submit.errors import ConfigError
from jux_submit.settings import (
    DEFAULT_PATTERNS,
    OPTIONS,
    OPTIONS_BY_NAME,
    Command,
    IfNoFilesFound,
    Kind,
    Mode,
    load_settings,
    normalise_server_root,
    parse_size,
)


def load(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
    return load_settings(argv, env or {}, cwd=cwd)


def test_defaults(tmp_path: Path) -> None:
    s = load(["--dry-run"], cwd=tmp_path)
    assert s.reports == DEFAULT_PATTERNS
    assert s.api_url is None and s.api_key is None
    assert s.environment == "test"
    assert s.timeout == 30.0 and s.retries == 3 and s.parallel == 4
    assert s.if_no_files_found is IfNoFilesFound.WARN
    assert s.mode is Mode.AUTO
    assert s.working_directory == tmp_path.resolve()
    assert s.fail_on_error is False and s.allow_insecure_http is False
    assert s.max_package_size == 50_000_000
    assert s.outbox == ".jux-outbox"


# (option name, flag argv, env var, raw text, expected value)
ROWS = [
    (
        "api-url",
        ["--api-url", "https://a.example"],
        "JUX_API_URL",
        "https://a.example",
        "https://a.example",
    ),
    ("project", ["--project", "p1"], "JUX_PROJECT", "p1", "p1"),
    ("branch", ["--branch", "feat/x"], "JUX_BRANCH", "feat/x", "feat/x"),
    ("commit", ["--commit", "a" * 40], "JUX_COMMIT_SHA", "a" * 40, "a" * 40),
    ("tags", ["--tags", "smoke,nightly"], "JUX_TAGS", "smoke, nightly", ("smoke", "nightly")),
    ("environment", ["--environment", "staging"], "JUX_ENVIRONMENT", "staging", "staging"),
    ("timeout", ["--timeout", "12.5"], "JUX_SUBMIT_TIMEOUT", "12.5", 12.5),
    ("retries", ["--retries", "5"], "JUX_SUBMIT_RETRIES", "5", 5),
    ("parallel", ["--parallel", "8"], "JUX_PARALLEL", "8", 8),
    ("dry-run", ["--dry-run"], "JUX_DRY_RUN", "true", True),
    ("fail-on-error", ["--fail-on-error"], "JUX_FAIL_ON_ERROR", "yes", True),
    (
        "if-no-files-found",
        ["--if-no-files-found", "error"],
        "JUX_IF_NO_FILES_FOUND",
        "error",
        IfNoFilesFound.ERROR,
    ),
    ("json", ["--json", "out.json"], "JUX_JSON", "out.json", "out.json"),
    ("env-var", ["--env-var", "A", "--env-var", "B"], "JUX_ENV_VARS", "A,B", ("A", "B")),
    ("allow-insecure-http", ["--allow-insecure-http"], "JUX_ALLOW_INSECURE_HTTP", "1", True),
    ("mode", ["--mode", "package"], "JUX_MODE", "PACKAGE", Mode.PACKAGE),
    (
        "max-package-size",
        ["--max-package-size", "25MiB"],
        "JUX_MAX_PACKAGE_SIZE",
        "25MiB",
        25 * 1024 * 1024,
    ),
    ("deadline", ["--deadline", "60"], "JUX_DEADLINE", "60", 60.0),
    ("combine", ["--combine"], "JUX_COMBINE", "on", True),
]


@pytest.mark.parametrize(("name", "argv", "env", "raw", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_each_option_from_flag_input_and_env(  # noqa: PLR0917 - parametrized
    tmp_path: Path, name: str, argv: list[str], env: str, raw: str, expected: object
) -> None:
    field = OPTIONS_BY_NAME[name].field_name
    base = ["--dry-run"] if name != "dry-run" else []
    assert getattr(load(base + argv, cwd=tmp_path), field) == expected
    assert getattr(load(base, {env: raw}, cwd=tmp_path), field) == expected
    input_var = OPTIONS_BY_NAME[name].input_env
    assert getattr(load(base, {input_var: raw}, cwd=tmp_path), field) == expected


def test_reports_positional_env_and_input(tmp_path: Path) -> None:
    assert load(["--dry-run", "a/*.xml", "!a/x.xml"], cwd=tmp_path).reports == (
        "a/*.xml",
        "!a/x.xml",
    )
    env = {"JUX_REPORTS": "a/*.xml\nb/**/*.xml, c.xml"}
    assert load(["--dry-run"], env, cwd=tmp_path).reports == ("a/*.xml", "b/**/*.xml", "c.xml")
    assert load(["--dry-run"], {"INPUT_REPORTS": "x.xml"}, cwd=tmp_path).reports == ("x.xml",)


def test_api_key_is_env_only_with_alias(tmp_path: Path) -> None:
    assert OPTIONS_BY_NAME["api-key"].flags == ()
    with pytest.raises(ConfigError):
        load(["--api-key", "x", "--dry-run"], cwd=tmp_path)
    assert load(["--dry-run"], {"JUX_BEARER_TOKEN": "k1"}, cwd=tmp_path).api_key == "k1"
    both = load(["--dry-run"], {"JUX_BEARER_TOKEN": "k1", "JUX_API_KEY": "k2"}, cwd=tmp_path)
    assert both.api_key == "k2"
    assert load(["--dry-run"], {"INPUT_API-KEY": "k3"}, cwd=tmp_path).api_key == "k3"
    assert "k3" not in repr(load(["--dry-run"], {"INPUT_API-KEY": "k3"}, cwd=tmp_path))


@pytest.mark.parametrize(
    ("alias", "name", "raw", "expected"),
    [
        ("JUX_API_TIMEOUT", "timeout", "7", 7.0),
        ("JUX_API_MAX_RETRIES", "retries", "0", 0),
        ("JUX_STRICT", "fail_on_error", "true", True),
    ],
)
def test_aliases(tmp_path: Path, alias: str, name: str, raw: str, expected: object) -> None:
    assert getattr(load(["--dry-run"], {alias: raw}, cwd=tmp_path), name) == expected


def test_strict_flag_is_fail_on_error(tmp_path: Path) -> None:
    assert load(["--dry-run", "--strict"], cwd=tmp_path).fail_on_error is True


def test_precedence_flag_input_env_config_default(tmp_path: Path) -> None:
    (tmp_path / ".jux.yml").write_text("environment: from-config\ntimeout: 11\n")
    env = {"JUX_ENVIRONMENT": "from-env", "INPUT_ENVIRONMENT": "from-input"}
    assert (
        load(["--dry-run", "--environment", "from-flag"], env, tmp_path).environment == "from-flag"
    )
    assert load(["--dry-run"], env, tmp_path).environment == "from-input"
    assert load(["--dry-run"], {"JUX_ENVIRONMENT": "from-env"}, tmp_path).environment == "from-env"
    s = load(["--dry-run"], {}, tmp_path)
    assert s.environment == "from-config" and s.timeout == 11.0
    assert s.sources["environment"] == "config file"
    (tmp_path / ".jux.yml").unlink()
    assert load(["--dry-run"], {}, tmp_path).environment == "test"


def test_empty_strings_count_as_unset(tmp_path: Path) -> None:
    env = {
        "INPUT_ENVIRONMENT": "",
        "JUX_ENVIRONMENT": "  ",
        "INPUT_TIMEOUT": "",
        "JUX_SUBMIT_TIMEOUT": "9",
    }
    s = load(["--dry-run"], env, tmp_path)
    assert s.environment == "test"
    assert s.timeout == 9.0


def test_explicit_config_path_and_yaml_lists(tmp_path: Path) -> None:
    cfg = tmp_path / "conf" / "jux.yaml"
    cfg.parent.mkdir()
    cfg.write_text("reports: ['a/*.xml', '!a/skip.xml']\ntags: [x, y]\nfail_on_error: true\n")
    s = load(["--dry-run", "--config", str(cfg)], {}, tmp_path)
    assert s.reports == ("a/*.xml", "!a/skip.xml")
    assert s.tags == ("x", "y")
    assert s.fail_on_error is True


def test_working_directory_defaults_to_ci_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "checkout"
    ws.mkdir()
    s = load_settings(
        ["--dry-run"],
        {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(ws)},
        cwd=tmp_path,
        workspace_of=lambda env: env.get("GITHUB_WORKSPACE"),
    )
    assert s.working_directory == ws.resolve()
    other = tmp_path / "other"
    other.mkdir()
    s = load_settings(
        ["--dry-run", "--working-directory", "other"],
        {"GITHUB_WORKSPACE": str(ws)},
        cwd=tmp_path,
        workspace_of=lambda env: env.get("GITHUB_WORKSPACE"),
    )
    assert s.working_directory == other.resolve()


@pytest.mark.parametrize(
    ("argv", "env", "fragments"),
    [
        (
            ["--dry-run", "--mode", "zip"],
            {},
            ["--mode / JUX_MODE / input 'mode'", "'zip'", "raw, package, auto"],
        ),
        (
            ["--dry-run"],
            {"JUX_SUBMIT_TIMEOUT": "-1"},
            ["--timeout / JUX_SUBMIT_TIMEOUT", "'-1'", ">= 0.001"],
        ),
        (["--dry-run"], {"INPUT_PARALLEL": "0"}, ["input 'parallel'", "'0'", ">= 1"]),
        ([], {"JUX_DRY_RUN": "maybe"}, ["JUX_DRY_RUN", "'maybe'", "true or false"]),
        (["--dry-run", "--if-no-files-found", "panic"], {}, ["warn, error, ignore"]),
        (["--dry-run", "--max-package-size", "lots"], {}, ["25MiB"]),
        ([], {}, ["--api-url / JUX_API_URL / input 'api-url'", "--dry-run"]),
        (["--api-url", "ftp://x"], {}, ["invalid URL 'ftp://x'"]),
        (["--api-url", "https://u:p@x.example"], {}, ["must not contain credentials"]),
        (["--dry-run", "--env-var", "BAD-NAME"], {}, ["invalid variable name 'BAD-NAME'"]),
    ],
)
def test_bad_values_fail_with_clear_message(
    tmp_path: Path, argv: list[str], env: dict[str, str], fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        load(argv, env, tmp_path)
    assert info.value.exit_code == 2
    for fragment in fragments:
        assert fragment in info.value.message


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(["--dry-run"], {"JUX_MODE": "x", "JUX_PARALLEL": "-3"}, tmp_path)
    assert "JUX_MODE" in info.value.message and "JUX_PARALLEL" in info.value.message


def test_unreadable_and_bad_yaml_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(["--dry-run", "--config", "missing.yml"], {}, tmp_path)
    (tmp_path / ".jux.yml").write_text("timeout: [1,\n")
    with pytest.raises(ConfigError, match=r"invalid YAML .* line \d+"):
        load(["--dry-run"], {}, tmp_path)
    (tmp_path / ".jux.yml").write_text("no_such_option: 1\n")
    with pytest.raises(ConfigError, match="unknown key 'no_such_option'"):
        load(["--dry-run"], {}, tmp_path)
    (tmp_path / ".jux.yml").write_text("api-key: leaked\n")
    with pytest.raises(ConfigError, match="is a secret"):
        load(["--dry-run"], {}, tmp_path)


def test_secret_values_never_echoed_in_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(
            ["--api-url", "http://jux.example.com"], {"JUX_API_KEY": "super-secret-value"}, tmp_path
        )
    assert "plain http://" in info.value.message
    assert "super-secret-value" not in info.value.message


def test_plain_http_with_key_allowed_for_loopback_or_opt_in(tmp_path: Path) -> None:
    key = {"JUX_API_KEY": "k"}
    assert load(["--api-url", "http://127.0.0.1:4000"], key, tmp_path).api_url
    assert load(["--api-url", "http://localhost:4000"], key, tmp_path).api_url
    assert load(["--api-url", "http://[::1]:4000"], key, tmp_path).api_url
    assert load(["--api-url", "http://jux.example.com", "--allow-insecure-http"], key, tmp_path)
    assert load(["--api-url", "http://jux.example.com"], {}, tmp_path).api_url  # no key: fine


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("https://jux.example.com", "https://jux.example.com"),
        ("https://jux.example.com/", "https://jux.example.com"),
        ("https://jux.example.com/api/v1", "https://jux.example.com"),
        ("https://jux.example.com/api/v1/", "https://jux.example.com"),
        ("https://h.example/prefix/api/v1", "https://h.example/prefix"),
    ],
)
def test_server_root_normalisation(url: str, root: str) -> None:
    assert normalise_server_root(url) == root


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("123", 123),
        ("50MB", 50_000_000),
        ("25MiB", 26_214_400),
        ("1.5kb", 1500),
        ("2 GiB", 2**31),
    ],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


def test_commands(tmp_path: Path) -> None:
    assert load(["detect", "--json"], {}, tmp_path).command is Command.DETECT
    assert load(["detect", "--json"], {}, tmp_path).as_json is True
    pkg = load(["package", "a.xml", "--output-dir", "out"], {}, tmp_path)
    assert pkg.command is Command.PACKAGE and pkg.output_dir == (tmp_path / "out").resolve()
    resub = load(["resubmit", "box", "--api-url", "https://x.example"], {}, tmp_path)
    assert resub.command is Command.RESUBMIT and resub.resubmit_dir == (tmp_path / "box").resolve()


def test_option_table_is_consistent() -> None:
    names = [o.name for o in OPTIONS]
    assert len(names) == len(set(names))
    for opt in OPTIONS:
        assert opt.name == opt.name.lower() and " " not in opt.name
        assert opt.env is None or opt.env.startswith("JUX_")
        if opt.is_secret and opt.name != "signing-key":
            assert opt.flags == ()
        if opt.kind is Kind.CHOICE:
            assert opt.default in opt.choices


def test_missing_ci_workspace_falls_back_to_current_directory(tmp_path: Path) -> None:
    s = load_settings(
        ["detect"],
        {"GITHUB_WORKSPACE": "/no/such/place"},
        cwd=tmp_path,
        workspace_of=lambda env: env.get("GITHUB_WORKSPACE"),
    )
    assert s.working_directory == tmp_path.resolve()
    assert "/no/such/place" in s.notes[0] and "does not exist" in s.notes[0]
    with pytest.raises(ConfigError, match="is not a directory"):
        load(["--dry-run", "--working-directory", "nope"], {}, tmp_path)


@pytest.mark.parametrize(
    "name", ["JUX_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "AWS_SECRET", "MY_VAR"]
)
def test_env_var_refuses_secret_variables(tmp_path: Path, name: str) -> None:
    env = {"JUX_API_KEY": "k-123456", "MY_VAR": "k-123456"}
    with pytest.raises(ConfigError, match=f"refusing to record {name}"):
        load(["--dry-run", "--env-var", name], env, tmp_path)
    assert load(["--dry-run", "--env-var", "BUILD_FLAVOUR"], env, tmp_path).env_var == (
        "BUILD_FLAVOUR",
    )


def test_help_names_the_settings_that_come_only_from_the_environment() -> None:
    from jux_submit.settings import build_parser

    text = build_parser().format_help()
    for name in ("JUX_API_KEY", "JUX_SIGNING_KEY_PASSWORD", "JUX_CLIENT_KEY_PASSWORD"):
        assert name in text, name


@pytest.mark.parametrize("flag", ["--api-key", "--token=abc", "--api-token", "--password"])
def test_a_secret_given_as_a_flag_is_refused_naming_where_it_goes(flag: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings([flag, "hunter2-value"] if "=" not in flag else [flag], {})
    message = caught.value.message
    assert "never given as a flag" in message and "hunter2" not in message
    assert ("JUX_API_KEY" in message and "'api-key'" in message) or (
        "JUX_SIGNING_KEY_PASSWORD" in message
    )
