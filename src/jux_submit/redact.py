"""The one redaction helper: hides secrets in any text, and a logging filter that applies it."""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "***"


class Redactor:
    """Replaces every known secret (and its obvious encodings) with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= 4:
                values.add(secret)
                for line in secret.splitlines():  # PEM keys: hide every line of the body
                    if len(line.strip()) >= 16:
                        values.add(line.strip())
        self._secrets = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class RedactingFilter(logging.Filter):
    """Logging filter that redacts the formatted message of every record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._redact(message)
        if redacted != message or record.args:
            record.msg = redacted
            record.args = None
        return True
