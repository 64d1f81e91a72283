"""The copies in tests/fixtures/shared/ are the files of ``../shared``, byte for byte.

The tests read the vendored copies only, so that a clone of the repository on its own runs them.
When the shared folder sits beside the repository (the development setup), these checks tell
whether the copy is still current; without it they are skipped.
See tests/fixtures/shared/SOURCES.md.
"""

from __future__ import annotations

import pytest

from tests.conftest import REPO, SHARED

ORIGINALS = REPO.parent / "shared"
#: Not a copy: the note on where the copies come from.
NOTES = {"SOURCES.md"}
#: Directories copied whole: a file added to the original must be copied too.
WHOLE_DIRS = ["fixtures/jux-test-fixtures"]

needs_originals = pytest.mark.skipif(
    not ORIGINALS.is_dir(),
    reason=f"no shared folder beside the repository ({ORIGINALS}): nothing to compare with",
)


def vendored() -> list[str]:
    """Paths of the vendored copies, relative to tests/fixtures/shared/ (POSIX form)."""
    return sorted(
        p.relative_to(SHARED).as_posix()
        for p in SHARED.rglob("*")
        if p.is_file() and p.relative_to(SHARED).as_posix() not in NOTES
    )


def test_there_is_a_vendored_copy() -> None:
    files = vendored()
    assert "spec/openapi-submission.yaml" in files
    assert "spec/openapi-query.yaml" in files
    assert "fixtures/jux-test-fixtures/LICENSE" in files
    assert any(f.startswith("fixtures/jux-test-fixtures/raw/") for f in files)
    assert any(f.startswith("fixtures/jux-test-fixtures/edge-cases/malformed/") for f in files)


@needs_originals
def test_vendored_files_match_their_originals() -> None:
    differ, gone = [], []
    for rel in vendored():
        original = ORIGINALS / rel
        if not original.is_file():
            gone.append(rel)
        elif original.read_bytes() != (SHARED / rel).read_bytes():
            differ.append(rel)
    assert not differ and not gone, (
        f"tests/fixtures/shared/ is out of date with {ORIGINALS} "
        "(copy the originals again, see SOURCES.md there):\n"
        + "".join(f"  differs: {rel}\n" for rel in differ)
        + "".join(f"  no longer in the original: {rel}\n" for rel in gone)
    )


@needs_originals
@pytest.mark.parametrize("folder", WHOLE_DIRS)
def test_whole_directories_have_every_original_file(folder: str) -> None:
    source = ORIGINALS / folder
    if not source.is_dir():
        pytest.fail(f"{source} is gone: the copy tests/fixtures/shared/{folder} has no original")
    copied = set(vendored())
    missing = sorted(
        rel
        for rel in (p.relative_to(ORIGINALS).as_posix() for p in source.rglob("*") if p.is_file())
        if rel not in copied
    )
    assert not missing, (
        f"files of {source} not copied into tests/fixtures/shared/{folder}:\n"
        + "".join(f"  {rel}\n" for rel in missing)
    )
