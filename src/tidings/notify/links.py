"""Links in rendered email HTML: only schemes a mail reader can safely follow.

Autoescaping keeps notification data from breaking out of an attribute, but it does
not stop a value that *is* a dangerous URL: ``<a href="{{ link }}">`` with data
``{"link": "javascript:..."}`` would keep it. :func:`safe_links` rewrites every
``href``/``src``/``action`` whose scheme is not on the allow-list to ``#`` (after undoing
character references and ignoring the whitespace and control characters browsers
ignore, so ``java&#x09;script:`` is caught too). Relative URLs and anchors are kept.
"""

from __future__ import annotations

import html
import re

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto", "tel", "sms", "cid"})
"""Schemes kept in email links; ``cid:`` is an inline attachment."""
_ATTRIBUTE = re.compile(
    r"""(?P<name>\s(?:href|src|action|formaction|xlink:href|background)\s*=\s*)"""
    r"""(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s>"']+))""",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_IGNORED = re.compile(r"[\x00-\x20\x7f]+")


def safe_url(value: str) -> bool:
    """Whether an (unescaped) attribute value is relative or has an allowed scheme."""
    found = _SCHEME.match(_IGNORED.sub("", html.unescape(value)).lower())
    return found is None or found.group(1) in ALLOWED_SCHEMES


def safe_links(document: str) -> str:
    """``document`` with every link of a scheme not in ``ALLOWED_SCHEMES`` made ``#``."""

    def check(m: re.Match[str]) -> str:
        value = next(v for v in (m["dq"], m["sq"], m["bare"]) if v is not None)
        return m.group(0) if safe_url(value) else f'{m["name"]}"#"'

    return _ATTRIBUTE.sub(check, document)
