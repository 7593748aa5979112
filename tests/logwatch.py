"""A log handler that fails the test if a key, token, secret or password is logged.

Issue 22 (finding 4): keys never appear in logs, paths included. The patterns here are
independent of :mod:`tidings.redaction` on purpose: they look for the secrets the tests
make (API keys, webhook secrets, the dashboard password, signed tokens and cookies).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

SECRETS = re.compile(
    r"tk_[A-Za-z0-9-]+_[A-Za-z0-9_-]{20,}"  # an API key
    r"|whsec_[A-Za-z0-9+/=]{8,}"  # a webhook signing secret
    r"|correct horse battery staple"  # the dashboard tests' password
    r"|[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"  # signed tokens and session cookies
)


class SecretWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        if SECRETS.search(line):
            self.leaks.append(line)


@contextmanager
def watching() -> Iterator[SecretWatch]:
    """Every log line of tidings and uvicorn, DEBUG and up, checked while inside."""
    watch = SecretWatch()
    loggers = [logging.getLogger(n) for n in ("tidings", "uvicorn", "uvicorn.error")]
    levels = [lg.level for lg in loggers]
    root = logging.getLogger()
    root.addHandler(watch)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
