"""The contract files the tests read are in the repository (vendored; see
tests/fixtures/shared/SOURCES.md and test_vendored.py for their freshness)."""

from __future__ import annotations

from tests.conftest import FIXTURES, SHARED


def test_shared_fixture_corpus_is_present() -> None:
    assert (FIXTURES / "raw").is_dir(), f"missing {FIXTURES}: the vendored corpus is gone"
    assert len(list((FIXTURES / "edge-cases" / "malformed").iterdir())) >= 6
    assert (SHARED / "spec" / "openapi-submission.yaml").is_file()
