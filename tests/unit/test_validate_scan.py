"""``_Scan.scan_tree`` (the in-memory fast path) against the event walk it replaces.

The reference is what validation did before: ``feed`` over ``iterwalk`` for the watched
elements other than test cases, then every ``<testcase>`` counted in document order. Both run
on many generated documents (nested and namespaced suites, properties in odd places,
signatures real and fake, bad numbers, roots that are not JUnit); every fact gathered and
every problem raised must be the same.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from lxml import etree

from jux_submit.validate import (
    _EVENTS,
    _WATCHED,
    XMLDSIG_NS,
    _BadNumberError,
    _Scan,
    make_parser,
)

_IN_TREE = tuple(tag for tag in _WATCHED if tag != "testcase")
_OTHER_NS = "urn:other"


def _reference(root: etree._Element) -> _Scan | ValueError | Any:
    scan = _Scan(is_streaming=False)
    try:
        problem = scan.feed(etree.iterwalk(root, events=_EVENTS, tag=_IN_TREE))
        if problem is None:
            for case in root.iter("testcase"):
                scan._count_case(case)
    except _BadNumberError as exc:
        return ("bad-number", str(exc), exc.line)
    return problem if problem is not None else scan


def _fast(root: etree._Element) -> _Scan | ValueError | Any:
    scan = _Scan(is_streaming=False)
    try:
        problem = scan.scan_tree(root)
    except _BadNumberError as exc:
        return ("bad-number", str(exc), exc.line)
    return problem if problem is not None else scan


def _facts(result: object) -> object:
    if not isinstance(result, _Scan):
        return result
    return {
        "root": None if result.root is None else result.root.sourceline,
        "first_suite": None if result.first_suite is None else result.first_suite.sourceline,
        "properties": result.properties,
        "has_properties": result.has_properties,
        "is_signed": result.is_signed,
        "fake_signature": result.fake_signature,
        "counts": (result.tests, result.failures, result.errors, result.skipped),
        "root_time": result.root_time,
        "suite_times": result.suite_times,
        "case_time": result.case_time,
        "total": result.counts(),
    }


_NUMBERS = ["3", "0", "", " ", "1,5", "x", "2.5", "-1", "1e3", None]
_TIMES = ["0.5", "1,234.5", "0.1", "", "abc", "3", None, "0.30000000000000004"]


def _attrs(rng: random.Random, suite: bool) -> str:
    out = []
    if rng.random() < 0.7:
        out.append(f'name="n{rng.randint(0, 99)}"')
    time = rng.choice(_TIMES)
    if time is not None:
        out.append(f'time="{time}"')
    if suite:
        for attr in ("tests", "failures", "errors", "skipped"):
            value = rng.choice(_NUMBERS) if rng.random() < 0.15 else None
            if value is not None:
                out.append(f'{attr}="{value}"')
    return (" " + " ".join(out)) if out else ""


def _properties(rng: random.Random, prefix: str = "") -> str:
    props = []
    for i in range(rng.randint(0, 4)):
        kind = rng.random()
        if kind < 0.5:
            props.append(f'<{prefix}property name="p{i}" value="v{i}&amp;x"/>')
        elif kind < 0.7:
            props.append(f'<{prefix}property name="p{i}">text {i}</{prefix}property>')
        elif kind < 0.8:
            props.append(f'<{prefix}property value="no name"/>')
        elif kind < 0.9:
            props.append(f'<{prefix}property name="blank" value=""/>')
        else:
            props.append("<other/>")
    return f"<{prefix}properties>{''.join(props)}</{prefix}properties>"


def _signature(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.7:
        parts.append("<ds:SignedInfo/>")
    if rng.random() < 0.7:
        parts.append(f"<ds:SignatureValue>{rng.choice(['abc', '', '  '])}</ds:SignatureValue>")
    return f'<ds:Signature xmlns:ds="{XMLDSIG_NS}">{"".join(parts)}</ds:Signature>'


def _case(rng: random.Random, depth: int) -> str:
    children = []
    for _ in range(rng.randint(0, 3)):
        kind = rng.random()
        if kind < 0.5:
            children.append(f"<{rng.choice(['failure', 'error', 'skipped'])}/>")
        elif kind < 0.6:
            children.append('<o:failure xmlns:o="urn:o"/>')
        elif kind < 0.7:
            children.append("<system-out>out</system-out>")
        elif kind < 0.8:
            children.append(_properties(rng))
        elif kind < 0.9 and depth < 4:
            children.append(_case(rng, depth + 1))
        else:
            children.append("<wrapper><failure/></wrapper>")
    return f"<testcase{_attrs(rng, suite=False)}>{''.join(children)}</testcase>"


def _suite(rng: random.Random, depth: int, tag: str = "testsuite") -> str:
    children = []
    for _ in range(rng.randint(0, 6)):
        kind = rng.random()
        if kind < 0.45:
            children.append(_case(rng, depth + 1))
        elif kind < 0.6:
            children.append(_properties(rng))
        elif kind < 0.65:
            children.append(
                _properties(rng, prefix="q:").replace(
                    "<q:properties>", f'<q:properties xmlns:q="{_OTHER_NS}">', 1
                )
            )
        elif kind < 0.72:
            children.append(_signature(rng))
        elif kind < 0.85 and depth < 4:
            children.append(_suite(rng, depth + 1, rng.choice(["testsuite", "testsuites"])))
        elif kind < 0.9:
            children.append(f'<n:testsuite xmlns:n="{_OTHER_NS}"><testcase/></n:testsuite>')
        elif kind < 0.95:
            children.append(
                f"<group>{_suite(rng, depth + 1) if depth < 4 else '<testcase/>'}</group>"
            )
        else:
            children.append("<!-- a comment --><?pi x?>")
    return f"<{tag}{_attrs(rng, suite=True)}>\n{chr(10).join(children)}\n</{tag}>"


def _document(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.45:
        body = _suite(rng, 0, "testsuites")
    elif kind < 0.85:
        body = _suite(rng, 0)
    elif kind < 0.9:
        body = f"<root>{_suite(rng, 1)}</root>"
    elif kind < 0.95:
        body = f"<root><testcase/>{_case(rng, 1)}</root>"
    else:
        body = f'<n:testsuite xmlns:n="{_OTHER_NS}">{_suite(rng, 1)}</n:testsuite>'
    if rng.random() < 0.2:
        body = body.replace("\n", f"\n{_signature(rng)}\n", 1)
    return body


@pytest.mark.parametrize("seed", range(40))
def test_scan_tree_matches_the_event_walk(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        text = _document(rng)
        root = etree.fromstring(text.encode(), make_parser())
        assert _facts(_fast(root)) == _facts(_reference(root)), text


@pytest.mark.parametrize(
    "text",
    [
        "<testsuites/>",
        "<testsuite/>",
        "<other/>",
        "<other><testcase><failure/></testcase></other>",
        '<testsuites time="1"><testsuite tests="x"/><testsuite tests="y"/></testsuites>',
        '<testsuites><testsuite><testsuite failures="z"/></testsuite><testsuite errors="q"/>'
        "</testsuites>",
        "<testsuite><properties><property name='a' value='1'/></properties>"
        "<properties><property name='b'>2</property></properties></testsuite>",
        "<testsuites><properties><property name='root' value='x'/></properties>"
        "<testsuite><testsuites/><testcase time='1'/></testsuite></testsuites>",
        "<testsuite><testcase><testcase><skipped/></testcase><error/><failure/></testcase>"
        "</testsuite>",
        f'<testsuite><ds:Signature xmlns:ds="{XMLDSIG_NS}"><ds:SignedInfo/>'
        "<ds:SignatureValue>v</ds:SignatureValue></ds:Signature></testsuite>",
    ],
)
def test_scan_tree_matches_the_event_walk_on_edge_cases(text: str) -> None:
    root = etree.fromstring(text.encode(), make_parser())
    assert _facts(_fast(root)) == _facts(_reference(root))
