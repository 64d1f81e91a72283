"""Merge the valid reports of a run into one ``<testsuites>`` document (``--combine``).

Every ``<testsuite>`` is copied as parsed (test cases, output and properties unchanged) and
gets a ``jux:source_file`` property naming the report it came from; the root's counts are the
sums of the reports' counts. Run metadata is added to the first suite afterwards, by ``enrich``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lxml import etree

from jux_submit.models import Counts, Payload, PayloadMode, Record, ValidReport, record
from jux_submit.validate import local_name

if TYPE_CHECKING:
    from jux_submit.enrich import Metadata
    from jux_submit.prepare import PackagingPlan
    from jux_submit.settings import Mode, Settings

SOURCE_FILE = "jux:source_file"


@record
class Combined(Record):
    """The merged document (UTF-8), its counts, and the first suite's properties."""

    xml: bytes
    counts: Counts
    first_suite_properties: tuple[tuple[str, str], ...]
    sources: tuple[str, ...]


def _top_suites(root: etree._Element) -> list[etree._Element]:
    if local_name(root.tag) == "testsuite":
        return [root]
    return [child for child in root if local_name(child.tag) == "testsuite"]


def _set_source(suite: etree._Element, relpath: str) -> None:
    """Put ``jux:source_file`` first in the suite's properties (replacing an old one)."""
    props = next((c for c in suite if local_name(c.tag) == "properties"), None)
    if props is None:
        props = etree.Element("properties")
        suite.insert(0, props)
    for prop in list(props):
        if local_name(prop.tag) == "property" and prop.get("name") == SOURCE_FILE:
            props.remove(prop)
    new = etree.Element("property", name=SOURCE_FILE, value=relpath)
    props.insert(0, new)


def _properties(suite: etree._Element) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for child in suite:
        if local_name(child.tag) == "properties":
            for prop in child:
                name = prop.get("name") if local_name(prop.tag) == "property" else None
                if name is not None:
                    out.append((name, prop.get("value") or prop.text or ""))
    return tuple(out)


def combine_reports(reports: Sequence[ValidReport], *, huge_tree: bool = False) -> Combined:
    """Merge ``reports`` (in the given order) into one document.

    Raises ``OSError`` or ``lxml.etree.XMLSyntaxError`` if a report changed since validation,
    and ``ValueError`` when ``reports`` is empty.
    """
    from jux_submit.validate import make_parser

    if not reports:
        raise ValueError("nothing to combine")
    parser = make_parser(huge_tree=huge_tree)
    total = Counts()
    out = etree.Element("testsuites", name="combined")
    for report in reports:
        if report.converted is not None:
            root = etree.fromstring(report.converted, parser)
        else:
            with report.file.path.open("rb") as handle:
                root = etree.parse(handle, parser).getroot()
        for suite in _top_suites(root):
            _set_source(suite, report.file.relpath)
            out.append(suite)
        total = total + report.counts
    out.set("tests", str(total.tests))
    out.set("failures", str(total.failures))
    out.set("errors", str(total.errors))
    out.set("skipped", str(total.skipped))
    out.set("time", f"{total.time:.3f}")
    first = next(iter(out), None)
    xml = etree.tostring(out, xml_declaration=True, encoding="UTF-8") + b"\n"
    return Combined(
        xml,
        total,
        _properties(first) if first is not None else (),
        tuple(r.file.relpath for r in reports),
    )


def prepare_combined_payload(
    reports: Sequence[ValidReport],
    metadata: Metadata,
    settings: Settings,
    *,
    packaging: PackagingPlan | None = None,
    mode: Mode | None = None,
) -> Payload:
    """Merge ``reports``, add the run metadata to the first suite, and build one payload:
    raw, or one package carrying every report's attachments (``--mode`` decides, as for a
    single report). Raises what ``combine_reports`` raises."""
    from jux_submit.enrich import Splice, plan_properties, splice_properties
    from jux_submit.payload import build_package_payload, raw_payload_from_bytes
    from jux_submit.prepare import PackagingPlan, decide_mode

    combined = combine_reports(reports, huge_tree=settings.huge_xml)
    add, remove = plan_properties(combined.first_suite_properties, metadata, None)
    splice = (
        splice_properties(combined.xml, add, remove, "UTF-8") if add or remove else Splice(b"", 0)
    )
    xml = splice.head + combined.xml[splice.resume_at :]
    plan = packaging or PackagingPlan()
    decision = decide_mode([r.file for r in reports], settings, plan, mode=mode)
    note = f"combined {len(reports)} report(s)"
    reason = f"{decision.reason}; {note}"
    if decision.mode is PayloadMode.PACKAGE:
        return build_package_payload(
            xml,
            decision.attachments,
            reason=reason,
            signing=plan.signing,
            properties_added=add,
            warnings=decision.warnings,
        )
    return raw_payload_from_bytes(
        xml, reason=reason, properties_added=add, warnings=decision.warnings
    )
