"""The comparison's renderers (report/changes.py) and the comment's paging rules (review.py):
pure functions, no sockets."""

from __future__ import annotations

from jux_submit.client import Answer
from jux_submit.models import CIContext, Comparison, ComparisonStatus, RunSummary, TestKey
from jux_submit.report.changes import (
    GITHUB_COMMENT_LIMIT,
    console_lines,
    describe,
    markdown_section,
    render_comment,
)
from jux_submit.review import Target, _next_page, marker_for


def comparison(n_new: int, n_fixed: int = 0, name: str = "test") -> Comparison:
    return Comparison(
        ComparisonStatus.COMPARED,
        "compared",
        base_branch="main",
        base_run_id="run-1",
        base_run_ids=("run-1",),
        new_failures=tuple(TestKey("S", "pkg.S", f"{name}_{i}") for i in range(n_new)),
        fixed=tuple(TestKey("S", "S", f"fixed_{i}") for i in range(n_fixed)),
    )


def summary(c: Comparison | None) -> RunSummary:
    return RunSummary(
        files=(),
        context=CIContext(project="shop"),
        server_root="https://jux.example",
        dry_run=False,
        comparison=c,
    )


def test_describe_leaves_out_a_class_named_like_its_suite_and_shortens() -> None:
    assert describe(TestKey("S", "S", "t")) == "S › t"
    assert describe(TestKey("S", "pkg.S", "t")) == "S › pkg.S › t"
    assert describe(TestKey("", "", "")) == "(unnamed test)"
    assert len(describe(TestKey("S", "", "x" * 5000))) == 300


def test_console_lists_ten_new_failures_then_the_rest_as_a_count() -> None:
    lines = console_lines(comparison(14, 2))
    assert lines[:2] == ["new failure: S › pkg.S › test_0", "new failure: S › pkg.S › test_1"]
    assert lines[10] == "... and 4 more new failure(s)"
    assert (
        lines[-1]
        == "changes since main (test run run-1): 14 new failures, 2 fixed, 0 still failing"
    )
    assert console_lines(None) == []


def test_console_escapes_a_name_that_would_be_a_workflow_command() -> None:
    lines = console_lines(comparison(1, name="x\n::error::owned"))
    assert len(lines) == 2 and not any(line.startswith("::") for line in lines)


def test_the_section_lists_new_failures_before_fixed_and_caps_each() -> None:
    text = "\n".join(markdown_section(comparison(30, 3), "https://jux.example"))
    assert text.index("**New failures** (30)") < text.index("**Fixed** (3)")
    assert text.count("- `S › pkg.S › test_") == 25 and "- _and 5 more_" in text
    assert "(https://jux.example/test_runs/run-1)" in text


def test_the_comment_stays_under_githubs_limit_with_thousands_of_long_names() -> None:
    body = render_comment(
        summary(comparison(5000, 5000, name="n" * 280)),
        marker_for("shop"),
        limit=GITHUB_COMMENT_LIMIT,
    )
    assert len(body) <= GITHUB_COMMENT_LIMIT
    assert body.startswith("<!-- jux-submit:changes project=")
    assert "more_" in body and "**Fixed** (5000)" in body


def test_the_marker_names_the_project_by_a_digest_only() -> None:
    marker = marker_for("a --> <script>")
    assert marker != marker_for("other") and "script" not in marker and marker.count("-->") == 1


def _target(platform: str) -> Target:
    return Target(
        platform,
        "https://api.github.com",
        "https://api.github.com/repos/a/b/issues/1/comments",
        "https://api.github.com/repos/a/b/issues/comments",
        ("Authorization", "Bearer t"),
        (),
        "pull request #1",
        GITHUB_COMMENT_LIMIT,
        "t",
        "PATCH",
    )


def test_a_next_page_outside_the_api_is_never_followed() -> None:
    target = _target("github")
    url = target.collection
    inside = Answer(
        200, {"link": f'<{url}?page=2>; rel="next", <{url}?page=3>; rel="last"'}, b"[]", 1, url
    )
    assert _next_page(inside, target, url, 1) == (f"{url}?page=2", None)
    outside = Answer(
        200, {"link": '<https://evil.example/collect?page=2>; rel="next"'}, b"[]", 1, url
    )
    assert _next_page(outside, target, url, 1) is None
    default_port = Answer(
        200, {"link": '<https://api.github.com:443/x?page=2>; rel="next"'}, b"", 1, url
    )
    assert _next_page(default_port, target, url, 1) == ("https://api.github.com:443/x?page=2", None)
    lookalike = Answer(
        200, {"link": '<https://api.github.com.evil.example/x>; rel="next"'}, b"", 1, url
    )
    assert _next_page(lookalike, target, url, 1) is None
    assert _next_page(Answer(200, {}, b"[]", 1, url), target, url, 1) is None


def test_gitlab_pages_follow_x_next_page_only_forwards() -> None:
    target = _target("gitlab")
    url = target.collection
    assert _next_page(Answer(200, {"x-next-page": "2"}, b"[]", 1, url), target, url, 1) == (
        url,
        {"per_page": "100", "page": "2", "sort": "asc", "order_by": "created_at"},
    )
    for value in ("", "1", "abc", "-3"):
        assert (
            _next_page(Answer(200, {"x-next-page": value}, b"[]", 1, url), target, url, 1) is None
        )


def test_quiet_console_shows_only_new_failures() -> None:
    missing = Comparison(ComparisonStatus.UNAVAILABLE, "no comparison: the server has no query API")
    assert console_lines(missing) == ["no comparison: the server has no query API"]
    assert console_lines(missing, quiet=True) == []
    assert console_lines(comparison(0, 3), quiet=True) == []
    assert console_lines(comparison(1), quiet=True)[0] == "new failure: S › pkg.S › test_0"
