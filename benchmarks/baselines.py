"""Baseline programs the benchmarks compare jux-submit with, each run as its own process.

- ``lxml-parse DIR``: walk ``DIR`` and parse every ``TEST-*.xml`` with lxml, nothing else (the
  floor for anything that parses the reports), with a parser hardened like the product's (no
  entities, no DTD, no network, comments and processing instructions dropped).
- ``iterparse FILE``: stream one report with lxml ``iterparse`` (``end`` events on
  ``testcase``, each finished case cleared and dropped from its parent): the floor for reading
  a huge report in flat memory.
- ``http-post URL LIST [THREADS]``: POST every file named in ``LIST`` (one path a line) to
  ``URL`` with ``Content-Type: application/xml`` from ``THREADS`` threads (default 4), each
  with one keep-alive ``http.client.HTTPConnection``, reading each file just before sending it;
  exits 1 unless every answer is ``201``. The floor for submitting many reports from Python.
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
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found.extend(os.path.join(folder, f) for f in files if f.startswith("TEST-"))
    return sorted(found)


def lxml_parse(root: str) -> int:
    from lxml import etree

    parser = etree.XMLParser(  # hardened like the product's: no entities, DTD or network
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    count = 0
    for path in _reports(root):
        etree.parse(path, parser)
        count += 1
    return count


def iterparse(path: str) -> int:
    from lxml import etree

    count = 0
    events = etree.iterparse(
        path,
        events=("end",),
        tag="testcase",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    for _, element in events:
        count += 1
        element.clear()
        parent = element.getparent()
        if parent is not None:  # drop the finished cases, not just their content
            while element.getprevious() is not None:
                del parent[0]
    return count


def http_post(url: str, listing: str, threads: int = 4) -> int:
    import http.client
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    files = Path(listing).read_text(encoding="utf-8").splitlines()
    queue = iter(files)  # next() on a list iterator is atomic under the GIL
    lock = threading.Lock()
    failures: list[str] = []
    sent = [0]

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        headers = {"Content-Type": "application/xml"}
        done = 0
        try:
            for name in queue:
                with open(name, "rb") as handle:
                    body = handle.read()
                conn.request("POST", parts.path, body, headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 201:
                    with lock:
                        failures.append(f"{name}: HTTP {resp.status}")
                done += 1
        except (OSError, http.client.HTTPException) as exc:
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()
            with lock:
                sent[0] += done

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures or sent[0] != len(files):
        print(f"{len(failures)} failure(s), {sent[0]} of {len(files)} sent", file=sys.stderr)
        print("\n".join(failures[:10]), file=sys.stderr)
        return 1
    return 0


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
    if argv[:1] == ["iterparse"] and len(argv) == 2:
        iterparse(argv[1])
        return 0
    if argv[:1] == ["http-post"] and len(argv) in (3, 4):
        return http_post(argv[1], argv[2], int(argv[3]) if len(argv) == 4 else 4)
    if argv[:1] == ["jxz-build"] and len(argv) == 3:
        jxz_build(argv[1], argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
