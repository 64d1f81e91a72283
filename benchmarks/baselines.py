"""Baseline programs the benchmarks compare jux-submit with, each run as its own process.

- ``lxml-parse DIR``: walk ``DIR`` and parse every ``TEST-*.xml`` with lxml, nothing else (the
  floor for anything that parses the reports).
- ``jxz-build DIR OUT``: for every ``TEST-*.xml`` below ``DIR``, read it and the attachment its
  ``[[ATTACHMENT|...]]`` marker names, build a ``.jxz`` with ``jxz.ContainerBuilder`` alone and
  write it to ``OUT`` (the floor for package mode).
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

MARKER = re.compile(rb"\[\[ATTACHMENT\|([^\]]+)\]\]")


def _reports(root: str) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found.extend(os.path.join(folder, f) for f in files if f.startswith("TEST-"))
    return sorted(found)


def lxml_parse(root: str) -> int:
    from lxml import etree

    count = 0
    for path in _reports(root):
        etree.parse(path)
        count += 1
    return count


def jxz_build(root: str, out: str) -> int:
    from jxz import ContainerBuilder

    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    Path(out).mkdir(parents=True, exist_ok=True)
    count = 0
    for path in _reports(root):
        report = Path(path).read_bytes()
        builder = ContainerBuilder()
        builder.set_report(report)
        for match in MARKER.finditer(report):
            name = match.group(1).decode()
            data = (Path(path).parent / name).read_bytes()
            builder.add_attachment(Path(name).name, data)
        container = builder.build(created_by="baseline", report_type="junit", timestamp=stamp)
        Path(out, Path(path).stem + ".jxz").write_bytes(container)
        count += 1
    return count


def main(argv: list[str]) -> int:
    if argv[:1] == ["lxml-parse"] and len(argv) == 2:
        lxml_parse(argv[1])
        return 0
    if argv[:1] == ["jxz-build"] and len(argv) == 3:
        jxz_build(argv[1], argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
