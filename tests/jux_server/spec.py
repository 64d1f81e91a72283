"""Checks requests and responses against the Jux OpenAPI documents.

The documents are the copies of ``shared/spec/openapi-submission.yaml`` and
``shared/spec/openapi-query.yaml`` vendored in ``tests/fixtures/shared/spec/``
(tests/unit/test_vendored.py keeps them identical to the originals when the shared folder sits
beside the project). Each document has its own ``components``: a response of an operation is
validated against the schemas of the document that defines the operation. The package
endpoint is not in the OpenAPI files; CONTRACT.md's rules for it are checked here by hand.

GET requests to the query paths (``/test_runs``, ``/test_runs/{id}``…) are checked for their
path and query parameters against the operation's ``parameters`` (unknown or repeated
parameters, values outside the parameter's schema) and their ``Authorization`` header.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import yaml

if TYPE_CHECKING:
    from tests.jux_server.server import LoggedRequest

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT / "tests" / "fixtures" / "shared" / "spec"
VENDORED_SPEC = SPEC_DIR / "openapi-submission.yaml"
VENDORED_QUERY_SPEC = SPEC_DIR / "openapi-query.yaml"
API_PREFIX = "/api/v1"
PACKAGE_PATH = "/api/v1/reports/package"
PACKAGE_TYPE = "application/vnd.jux.report+zip"

RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
INTEGER = re.compile(r"-?[0-9]+")


@cache
def load_spec() -> dict[str, Any]:
    """The submission document."""
    document: dict[str, Any] = yaml.safe_load(VENDORED_SPEC.read_text(encoding="utf-8"))
    return document


@cache
def load_query_spec() -> dict[str, Any]:
    """The query document."""
    document: dict[str, Any] = yaml.safe_load(VENDORED_QUERY_SPEC.read_text(encoding="utf-8"))
    return document


def is_date_time(text: str) -> bool:
    """An RFC 3339 ``date-time`` (what OpenAPI's ``format: date-time`` means)."""
    if not RFC3339.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def is_uri(text: str) -> bool:
    parts = urlsplit(text)
    return bool(parts.scheme) and not any(c.isspace() for c in text)


def _format_checker() -> Any:
    """jsonschema's format checks, with ``date-time`` and ``uri`` that need no extra package."""
    import jsonschema

    checker = jsonschema.FormatChecker()
    checker.checks("date-time")(lambda v: not isinstance(v, str) or is_date_time(v))
    checker.checks("uri")(lambda v: not isinstance(v, str) or is_uri(v))
    checker.checks("uuid")(lambda v: not isinstance(v, str) or bool(UUID.fullmatch(v)))
    return checker


def check_value(raw: str, schema: dict[str, Any]) -> str | None:
    """Why the text ``raw`` (a path or query parameter) does not fit ``schema``, or None."""
    kind = schema.get("type", "string")
    value: Any = raw
    if kind == "integer":
        if not INTEGER.fullmatch(raw):
            return f"{raw!r} is not an integer"
        value = int(raw)
    elif kind == "number":
        try:
            value = float(raw)
        except ValueError:
            return f"{raw!r} is not a number"
    elif kind == "boolean":
        if raw not in ("true", "false"):
            return f"{raw!r} is not a boolean"
        value = raw == "true"
    if "enum" in schema and value not in schema["enum"]:
        return f"{raw!r} is not one of {schema['enum']}"
    if kind in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{raw!r} is less than the minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{raw!r} is more than the maximum {schema['maximum']}"
    fmt = schema.get("format")
    if kind == "string" and fmt == "date-time" and not is_date_time(raw):
        return f"{raw!r} is not an RFC 3339 date-time"
    if kind == "string" and fmt == "uuid" and not UUID.fullmatch(raw):
        return f"{raw!r} is not a uuid"
    return None


@dataclass(frozen=True)
class Operation:
    """One operation of a document: the document it is in, the templated path, the path
    parameters' values taken from the request's path."""

    document: dict[str, Any]
    template: str
    spec: dict[str, Any]
    path_values: dict[str, str]

    def parameters(self) -> list[dict[str, Any]]:
        item = self.document["paths"][self.template]
        params = [*item.get("parameters", []), *self.spec.get("parameters", [])]
        return [self._resolve(p) for p in params]

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    regex = "".join(
        f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") and p.endswith("}") else re.escape(p)
        for p in parts
    )
    return re.compile(regex)


class SpecChecker:
    def __init__(self) -> None:
        self.spec = load_spec()
        self.query_spec = load_query_spec()
        self._query_paths = [
            (template, _template_pattern(template)) for template in self.query_spec["paths"]
        ]
        self._formats = _format_checker()

    def _operation(self, method: str, path: str) -> dict[str, Any] | None:
        """A submission operation (the submission document has no templated paths)."""
        if not path.startswith(API_PREFIX):
            return None
        item = self.spec["paths"].get(path[len(API_PREFIX) :])
        return None if item is None else item.get(method.lower())

    def query_operation(self, method: str, path: str) -> Operation | None:
        """The query document's operation for ``method`` and ``path``, or None."""
        if not path.startswith(API_PREFIX):
            return None
        rest = path[len(API_PREFIX) :]
        for template, pattern in self._query_paths:
            match = pattern.fullmatch(rest)
            if match is None:
                continue
            op = self.query_spec["paths"][template].get(method.lower())
            if op is None:
                return None
            return Operation(self.query_spec, template, op, match.groupdict())
        return None

    def check_request(self, req: LoggedRequest) -> list[str]:
        if req.method == "GET":
            return self._check_get(req)
        problems = self._check_auth(req)
        ctype = req.headers.get("content-type", "").split(";")[0].strip()
        if req.path == PACKAGE_PATH:
            if ctype != PACKAGE_TYPE:
                problems.append(f"package content type {ctype!r}, expected {PACKAGE_TYPE}")
            if not req.body:
                problems.append("empty package body")
            return problems
        op = self._operation(req.method, req.path)
        if op is None:
            problems.append(f"{req.method} {req.path} is not in the OpenAPI document")
            return problems
        body_spec = op.get("requestBody", {})
        if ctype not in body_spec.get("content", {}):
            problems.append(f"content type {ctype!r} not in {sorted(body_spec.get('content', {}))}")
        if body_spec.get("required") and not req.body:
            problems.append("request body is required but empty")
        return problems

    @staticmethod
    def _check_auth(req: LoggedRequest) -> list[str]:
        auth = req.headers.get("authorization")
        if auth is not None and not (auth.startswith("Bearer ") and len(auth) > 7):
            return ["Authorization is not a Bearer token"]
        return []

    def _check_get(self, req: LoggedRequest) -> list[str]:
        """A GET under the API prefix must be a query operation with valid parameters (other
        GETs, such as ``/api/version``, are in neither document and are not checked)."""
        if not req.path.startswith(API_PREFIX + "/"):
            return []
        op = self.query_operation("GET", req.path)
        if op is None:
            return [f"GET {req.path} is not in the OpenAPI documents"]
        problems = self._check_auth(req)
        if req.body:
            problems.append("GET request with a body")
        params = op.parameters()
        for param in params:
            if param.get("in") == "path" and param["name"] in op.path_values:
                why = check_value(op.path_values[param["name"]], param.get("schema", {}))
                if why is not None:
                    problems.append(f"path parameter {param['name']}: {why}")
        known = {p["name"]: p for p in params if p.get("in") == "query"}
        seen: set[str] = set()
        for name, value in parse_qsl(req.query, keep_blank_values=True):
            if name not in known:
                problems.append(f"unknown query parameter {name}")
                continue
            if name in seen:
                problems.append(f"query parameter {name} given more than once")
            seen.add(name)
            why = check_value(value, known[name].get("schema", {}))
            if why is not None:
                problems.append(f"query parameter {name}: {why}")
        problems.extend(
            f"required query parameter {name} is missing"
            for name, param in known.items()
            if param.get("required") and name not in seen
        )
        return problems

    def check_response(self, req: LoggedRequest, status: int, ctype: str, body: bytes) -> list[str]:
        query_op = self.query_operation(req.method, req.path)
        if query_op is not None:
            return self._check_query_response(query_op, status, ctype, body)
        op = self._operation(req.method, req.path)
        if op is None:
            return []
        response = op.get("responses", {}).get(str(status))
        if response is None or ctype != "application/json":
            return []
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return []
        import jsonschema

        resolver_doc = {"components": self.spec.get("components", {}), **schema}
        try:
            jsonschema.validate(json.loads(body), resolver_doc)
        except jsonschema.ValidationError as exc:
            return [f"response {status} does not match the spec: {exc.message}"]
        return []

    def _check_query_response(
        self, op: Operation, status: int, ctype: str, body: bytes
    ) -> list[str]:
        """Validate a JSON answer with the query document's own components (and formats)."""
        response = op.spec.get("responses", {}).get(str(status))
        if response is None or ctype != "application/json":
            return []
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return []
        import jsonschema

        try:
            instance = json.loads(body)
        except ValueError as exc:
            return [f"response {status} is not JSON: {exc}"]
        resolver_doc = {"components": op.document.get("components", {}), **schema}
        validator_class = jsonschema.validators.validator_for(resolver_doc)
        validator = validator_class(resolver_doc, format_checker=self._formats)
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is None:
            return []
        return [
            f"response {status} does not match the spec ({op.template}): "
            f"{error.message} at {error.json_path}"
        ]
