"""Keys, tokens and secrets kept out of log lines, whatever wrote them.

A log line may quote a request path (``POST /e/tk_prod_…``), a query string
(``?token=…``), an ``Authorization`` header or an exception message that repeats its
input. :func:`redact` replaces what looks like a secret with its harmless prefix and
``[redacted]``; :class:`RedactingFilter` applies it to every record passing a logger or
handler (message, arguments and traceback), and :func:`install` puts one on the loggers
a server writes to, so embedding applications get it without configuring anything.
"""

from __future__ import annotations

import logging
import re

_MARK = "[redacted]"
_PATTERNS = (
    # API keys: tk_<environment>_<43 random characters>; the environment stays readable.
    (re.compile(r"\b(tk_[A-Za-z0-9-]+_)[A-Za-z0-9_-]{6,}"), rf"\1{_MARK}"),
    # Webhook signing secrets (Svix/Resend style) and bearer credentials.
    (re.compile(r"\b(whsec_)[A-Za-z0-9+/=_-]+"), rf"\1{_MARK}"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s,;\"']+"), rf"\1{_MARK}"),
    # Tokens, secrets and passwords passed as query or form fields.
    (
        re.compile(
            r"(?i)\b((?:token|secret|password|api_key|signature|login_token|csrf)=)"
            r"[^&\s\"']+"
        ),
        rf"\1{_MARK}",
    ),
    # Session cookies and signed tokens: base64url.base64url[.base64url] runs that are
    # long enough to be a credential (JWTs, inbox tokens, session cookies).
    (
        re.compile(r"\b[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}(?:\.[A-Za-z0-9_-]{16,})?\b"),
        _MARK,
    ),
)
LOGGERS = ("tidings", "uvicorn")
"""Where :func:`install` puts a filter: these loggers and every one below them that
exists by then. A logger's filters only see records logged on that very logger, so
each logger gets its own."""


def redact(text: str) -> str:
    """``text`` with anything shaped like a key, token, secret or password replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts a record's message, arguments and traceback text in place; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: keep what the caller wrote, redacted
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install(*names: str) -> None:
    """Put the redacting filter once on each named logger (default: :data:`LOGGERS` and
    the loggers below them) and on every handler the root logger has."""
    known = [n for n in logging.root.manager.loggerDict if n.startswith(LOGGERS)]
    for name in names or {*LOGGERS, *known}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def guard(handler: logging.Handler) -> logging.Handler:
    """``handler`` with the redacting filter on it (every record it writes is redacted)."""
    if _FILTER not in handler.filters:
        handler.addFilter(_FILTER)
    return handler
