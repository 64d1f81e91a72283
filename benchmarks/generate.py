"""Deterministic benchmark inputs: the same seed always writes the same bytes.

- ``write_surefire_tree``: Maven-Surefire-style reports, one ``TEST-<class>.xml`` per test
  class (about 20 test cases each, a few failures and skips, JVM properties), in nested
  ``<module>/<sub>/target/surefire-reports/`` folders.
- ``write_large_report``: one JUnit file of a given size, mostly big ``<system-out>`` blocks
  (each well under libxml2's 10 MB text-node limit, so no ``--huge-xml`` is needed).
- ``write_many_cases_report``: one JUnit file of a given size made of many small test cases
  (about 140 bytes each: 200 MB is about 1.4 million cases), a few failing or skipped: the
  shape whose parsed tree is many times the file's size.
- ``write_package_tree``: reports that each point at one screenshot attachment through a
  ``[[ATTACHMENT|path]]`` marker (the Jenkins convention package mode reads): a ``.png`` (a
  type Jux servers accept, so jux-submit's default ``--attachment-types`` keeps it) of random
  bytes after the PNG signature, as incompressible as a real screenshot.
"""

from __future__ import annotations

import random
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

WORDS = (  # noqa: SIM905 - easier to read as prose
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
    "rho sigma tau upsilon phi chi psi omega request response cache index order user "
    "account payment invoice session token parser handler service client server queue "
    "worker"
).split()
JVM_PROPERTIES = (
    ("java.runtime.name", "OpenJDK Runtime Environment"),
    ("java.vm.version", "17.0.9+9"),
    ("java.vm.vendor", "Eclipse Adoptium"),
    ("java.vendor.url", "https://adoptium.net/"),
    ("path.separator", ":"),
    ("java.vm.name", "OpenJDK 64-Bit Server VM"),
    ("user.country", "US"),
    ("sun.java.launcher", "SUN_STANDARD"),
    ("java.vm.specification.name", "Java Virtual Machine Specification"),
    ("user.dir", "/home/runner/work/shop/shop"),
    ("java.runtime.version", "17.0.9+9"),
    ("basedir", "/home/runner/work/shop/shop"),
    ("os.arch", "amd64"),
    ("java.io.tmpdir", "/tmp"),
    ("line.separator", "&#10;"),
    ("java.vm.specification.vendor", "Oracle Corporation"),
    ("os.name", "Linux"),
    ("maven.home", "/usr/share/apache-maven-3.9.6"),
    ("sun.jnu.encoding", "UTF-8"),
    ("java.library.path", "/usr/java/packages/lib:/usr/lib64:/lib64:/lib:/usr/lib"),
    ("maven.conf", "/usr/share/apache-maven-3.9.6/conf"),
    ("java.class.version", "61.0"),
    ("java.specification.name", "Java Platform API Specification"),
    ("os.version", "6.5.0-1017-azure"),
    ("user.home", "/home/runner"),
    ("user.timezone", "Etc/UTC"),
    ("file.encoding", "UTF-8"),
    ("java.specification.version", "17"),
    ("user.name", "runner"),
    ("java.home", "/usr/lib/jvm/temurin-17-jdk-amd64"),
)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def surefire_report(rng: random.Random, classname: str, cases: int = 20) -> bytes:
    """One Surefire ``TEST-<classname>.xml`` with ``cases`` test cases."""
    lines: list[str] = []
    total = 0.0
    failures = errors = skipped = 0
    body: list[str] = []
    for i in range(cases):
        name = f"test{rng.choice(WORDS).capitalize()}{rng.choice(WORDS).capitalize()}{i}"
        time = rng.randint(1, 900) / 1000
        total += time
        head = f'  <testcase name="{name}" classname="{classname}" time="{time:.3f}"'
        roll = rng.random()
        if roll < 0.05:
            failures += 1
            expected, actual = rng.randint(0, 99), rng.randint(100, 199)
            source = classname.rsplit(".", 1)[-1]
            trace = "\n".join(
                f"\tat {classname}.{name}({source}.java:{rng.randint(10, 400)})" for _ in range(8)
            )
            message = f"expected: <{expected}> but was: <{actual}>"
            body.append(
                f"{head}>\n    <failure message={quoteattr(message)} "
                f'type="org.opentest4j.AssertionFailedError">'
                f"{escape(message)}\n{trace}</failure>\n"
                f"    <system-out>{escape(_sentence(rng, 30))}</system-out>\n  </testcase>"
            )
        elif roll < 0.07:
            errors += 1
            body.append(
                f'{head}>\n    <error message="boom" type="java.lang.IllegalStateException">'
                f"java.lang.IllegalStateException: {_sentence(rng, 6)}</error>\n  </testcase>"
            )
        elif roll < 0.12:
            skipped += 1
            body.append(
                f'{head}>\n    <skipped message="disabled until {_sentence(rng, 2)}"/>'
                "\n  </testcase>"
            )
        else:
            body.append(f"{head}/>")
    lines.append('<?xml version="1.0" encoding="UTF-8"?>')
    lines.append(
        '<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="https://maven.apache.org/surefire/maven-surefire-plugin/'
        f'xsd/surefire-test-report.xsd" version="3.0.2" name="{classname}" time="{total:.3f}" '
        f'tests="{cases}" errors="{errors}" skipped="{skipped}" failures="{failures}">'
    )
    lines.append("  <properties>")
    lines.extend(f'    <property name="{n}" value="{v}"/>' for n, v in JVM_PROPERTIES)
    lines.append("  </properties>")
    lines.extend(body)
    lines.append("</testsuite>\n")
    return "\n".join(lines).encode("utf-8")


def write_surefire_tree(root: Path, files: int, *, seed: int = 7, cases: int = 20) -> list[Path]:
    """Write ``files`` Surefire reports below ``root``; returns their paths, sorted."""
    rng = random.Random(seed)
    paths: list[Path] = []
    modules = max(1, files // 100)
    for n in range(files):
        module = f"module-{n % modules:02d}"
        sub = f"sub-{(n // modules) % 4}"
        package = f"com.example.{module.replace('-', '')}.{rng.choice(WORDS)}"
        classname = f"{package}.{rng.choice(WORDS).capitalize()}{n:04d}Test"
        folder = root / module / sub / "target" / "surefire-reports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"TEST-{classname}.xml"
        path.write_bytes(surefire_report(rng, classname, cases))
        paths.append(path)
    return sorted(paths)


def write_large_report(path: Path, size: int, *, seed: int = 11, block: int = 1 << 20) -> int:
    """Write one JUnit report of about ``size`` bytes (at least one case); returns its size."""
    rng = random.Random(seed)
    lines = []
    line_count = length = 0
    while length < block:
        line_count += 1
        lines.append(f"{line_count:07d} INFO  {escape(_sentence(rng, 12))}\n")
        length += len(lines[-1])
    text = "".join(lines).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    cases = max(1, size // (len(text) + 200))
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name="com.example.BigLogTest" tests="{cases}" failures="0" errors="0" '
        f'skipped="0" time="{cases * 0.5:.3f}">\n'
    ).encode()
    with path.open("wb") as out:
        out.write(head)
        for i in range(cases):
            out.write(
                f'  <testcase name="testWithLog{i:05d}" classname="com.example.BigLogTest" '
                'time="0.500">\n    <system-out>'.encode()
            )
            out.write(text)
            out.write(b"</system-out>\n  </testcase>\n")
        out.write(b"</testsuite>\n")
    return path.stat().st_size


def write_many_cases_report(path: Path, size: int, *, seed: int = 17) -> tuple[int, int]:
    """Write one ``<testsuite>`` of about ``size`` bytes made of small ``<testcase>``
    elements; returns (file size, number of test cases)."""
    rng = random.Random(seed)
    classes = [
        f"com.example.module{m:02d}.{rng.choice(WORDS)}.{rng.choice(WORDS).capitalize()}"
        f"{rng.choice(WORDS).capitalize()}Test"
        for m in range(400)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    cases = 0
    failures = skipped = 0
    chunk: list[str] = []
    with path.open("wb") as out:
        out.write(b" " * 200)  # room for the header, written last (it holds the counts)
        written = 200
        while written < size - 20:
            for _ in range(1000):
                classname = classes[(cases // 50) % len(classes)]
                name = f"test{rng.choice(WORDS).capitalize()}{rng.choice(WORDS).capitalize()}"
                head = (
                    f'  <testcase name="{name}{cases:07d}" classname="{classname}" '
                    f'time="0.{rng.randint(0, 999):03d}" assertions="{rng.randint(1, 20)}" '
                    f'line="{rng.randint(10, 999)}"'
                )
                roll = rng.random()
                if roll < 0.004:
                    failures += 1
                    chunk.append(
                        f'{head}><failure message="expected: &lt;1&gt; but was: &lt;2&gt;" '
                        'type="org.opentest4j.AssertionFailedError">at '
                        f"{classname}.{name}({cases})</failure></testcase>\n"
                    )
                elif roll < 0.02:
                    skipped += 1
                    chunk.append(f"{head}><skipped/></testcase>\n")
                else:
                    chunk.append(f"{head}/>\n")
                cases += 1
            data = "".join(chunk).encode()
            chunk.clear()
            out.write(data)
            written += len(data)
        out.write(b"</testsuite>\n")
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<testsuite name="com.example.ManyCases" tests="{cases}" failures="{failures}" '
            f'errors="0" skipped="{skipped}" time="{cases * 0.5:.3f}">'
        )
        out.seek(0)
        out.write(head.ljust(199).encode() + b"\n")
    return path.stat().st_size, cases


def write_package_tree(
    root: Path, reports: int, *, attachment_size: int = 1 << 20, seed: int = 13
) -> list[Path]:
    """Write ``reports`` small reports, each with one ``attachment_size`` binary attachment
    named by a ``[[ATTACHMENT|...]]`` marker relative to the report's folder."""
    rng = random.Random(seed)
    paths: list[Path] = []
    for n in range(reports):
        folder = root / f"module-{n % 10:02d}" / "target" / "surefire-reports"
        (folder / "attachments").mkdir(parents=True, exist_ok=True)
        classname = f"com.example.ui.Screen{n:04d}Test"
        attachment = f"attachments/{classname}-screenshot.png"
        (folder / attachment).write_bytes(PNG_SIGNATURE + rng.randbytes(attachment_size - 8))
        report = (
            surefire_report(rng, classname, cases=5)
            .replace(
                b"</testsuite>",
                f'  <testcase name="testScreenshot" classname="{classname}" time="0.100">\n'
                f"    <system-out>[[ATTACHMENT|{attachment}]]</system-out>\n"
                "  </testcase>\n</testsuite>".encode(),
            )
            .replace(b'tests="5"', b'tests="6"')
        )
        path = folder / f"TEST-{classname}.xml"
        path.write_bytes(report)
        paths.append(path)
    return sorted(paths)
