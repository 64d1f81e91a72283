"""A Jux-compatible server on 127.0.0.1 for tests and the demo (see ``server.py``)."""

from tests.jux_server.server import (
    PACKAGE_PATH,
    QUERY_PREFIXES,
    RAW_PATH,
    TEST_RUNS_PATH,
    TEST_SUITES_PATH,
    VERSION_PATH,
    Fault,
    JuxServer,
    LoggedRequest,
    StoredCase,
    StoredRun,
    StoredSuite,
    parse_junit,
    parse_suites,
    submit_response,
)

__all__ = [
    "PACKAGE_PATH",
    "QUERY_PREFIXES",
    "RAW_PATH",
    "TEST_RUNS_PATH",
    "TEST_SUITES_PATH",
    "VERSION_PATH",
    "Fault",
    "JuxServer",
    "LoggedRequest",
    "StoredCase",
    "StoredRun",
    "StoredSuite",
    "parse_junit",
    "parse_suites",
    "submit_response",
]
