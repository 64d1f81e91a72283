"""A Jux-compatible server on 127.0.0.1 for tests and the demo (see ``server.py``)."""

from tests.jux_server.server import (
    PACKAGE_PATH,
    RAW_PATH,
    VERSION_PATH,
    Fault,
    JuxServer,
    LoggedRequest,
    StoredRun,
    parse_junit,
    submit_response,
)

__all__ = [
    "PACKAGE_PATH",
    "RAW_PATH",
    "VERSION_PATH",
    "Fault",
    "JuxServer",
    "LoggedRequest",
    "StoredRun",
    "parse_junit",
    "submit_response",
]
