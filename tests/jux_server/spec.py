"""Checks requests and responses against the Jux submission OpenAPI document.

The document is the copy of ``shared/spec/openapi-submission.yaml`` vendored in
``tests/fixtures/shared/spec/`` (tests/unit/test_vendored.py keeps it identical to the original
when the shared folder sits beside the project). The package
endpoint is not in the OpenAPI file; CONTRACT.md's rules for it are checked here by hand.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from tests.jux_server.server import LoggedRequest

ROOT = Path(__file__).resolve().parents[2]
VENDORED_SPEC = ROOT / "tests" / "fixtures" / "shared" / "spec" / "openapi-submission.yaml"
API_PREFIX = "/api/v1"
PACKAGE_PATH = "/api/v1/reports/package"
PACKAGE_TYPE = "application/vnd.jux.report+zip"


@cache
def load_spec() -> dict[str, Any]:
    return yaml.safe_load(VENDORED_SPEC.read_text(encoding="utf-8"))


class SpecChecker:
    def __init__(self) -> None:
        self.spec = load_spec()

    def _operation(self, method: str, path: str) -> dict[str, Any] | None:
        if not path.startswith(API_PREFIX):
            return None
        item = self.spec["paths"].get(path[len(API_PREFIX) :])
        return None if item is None else item.get(method.lower())

    def check_request(self, req: LoggedRequest) -> list[str]:
        problems: list[str] = []
        auth = req.headers.get("authorization")
        if auth is not None and not (auth.startswith("Bearer ") and len(auth) > 7):
            problems.append("Authorization is not a Bearer token")
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

    def check_response(self, req: LoggedRequest, status: int, ctype: str, body: bytes) -> list[str]:
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
