"""Credentials never leave the process: URLs are masked in everything printed or written.

A ``REDIS_URL``, ``DATABASE_URL`` or ``--target`` may carry a user and password
(``redis://:pw@host``), and a libpq URL may carry it as a parameter (``?password=pw``);
``redact`` replaces the password, wherever a URL stands in a text, with ``***``.
"""

from __future__ import annotations

import re
from typing import TextIO

# scheme://[user]:password@ -> scheme://[user]:***@  (the password stops at '@' or a space)
_CREDENTIALS = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@")
# ...?password=secret&... (libpq's URLs and connection strings)
_PASSWORD_PARAM = re.compile(r"(?i)(?P<head>\bpassword=)[^&\s]+")


def redact(text: str) -> str:
    """``text`` with every URL's password replaced by ``***``."""
    return _PASSWORD_PARAM.sub(r"\g<head>***", _CREDENTIALS.sub(r"\g<head>***@", text))


class RedactingWriter:
    """A text stream that masks credentials in what it writes (for the run's output)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(redact(text))

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()
