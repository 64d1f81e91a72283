"""The shared contract files are where the tests expect them, and the vendored copy is current."""

from __future__ import annotations

from tests.conftest import FIXTURES, REPO, SHARED


def test_shared_fixture_corpus_is_present() -> None:
    assert (FIXTURES / "raw").is_dir(), f"missing {FIXTURES}: the shared folder must sit beside"
    assert len(list((FIXTURES / "edge-cases" / "malformed").iterdir())) >= 6


def test_vendored_openapi_copy_matches_the_shared_spec() -> None:
    vendored = REPO / "tests" / "contract" / "openapi-submission.yaml"
    assert vendored.read_bytes() == (SHARED / "spec" / "openapi-submission.yaml").read_bytes()
