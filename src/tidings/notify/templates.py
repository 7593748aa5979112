"""Notification templates: one folder per type and locale, rendered with sandboxed Jinja2.

Layout, under a templates root (``Tidings(templates=...)`` or a type's own ``templates=``)::

    <root>/<type>/<locale>/email.subject   email.html   email.txt
                           sms.txt
                           push.title      push.body
                           in_app.title    in_app.body

What each channel needs (files in *italics* optional):

============ ================================================ =========================
channel      files                                            :class:`Rendered` fields
============ ================================================ =========================
``email``    ``email.subject`` and ``email.html`` and/or      ``subject``, ``html``,
             ``email.txt``                                    ``text``
``sms``      ``sms.txt``                                      ``text``, ``sms``
``push``     *push.title*, ``push.body``                      ``title``, ``body``
``in_app``   *in_app.title*, ``in_app.body``                  ``title``, ``body``
============ ================================================ =========================

**Fallback is per file.** A file is looked up in the recipient's locale, then in ever
shorter forms of it (``zh-Hant-TW`` -> ``zh-Hant`` -> ``zh``; ``pt-BR`` -> ``pt``), then
in the default locale (``en``). :attr:`Rendered.sources` says which locale each file came
from. One exception: ``email.html`` and ``email.txt`` are two renderings of one body, so
they are taken together from the first locale that has either of them (a Vietnamese HTML
body never gets an English plain-text part). If a locale has ``email.html`` but no
``email.txt``, the plain-text part is derived from the rendered HTML (see
:func:`html_to_text`, built on the standard library's :mod:`html.parser`).

**Rendering** uses Jinja2 in an immutable sandbox (templates may be edited by people who
are not engineers: ``{{ ''.__class__ }}`` and friends are refused, and the data passed in
cannot be modified), with :class:`jinja2.StrictUndefined` (a missing variable, or a
missing key of a present one, is an error naming the variable, the file and the line).
Only ``.html`` files are autoescaped. ``trim_blocks`` and ``lstrip_blocks`` are on, so a
``{% if %}`` on its own line leaves no blank line behind. Every rendered file is stripped
of surrounding whitespace, and the one-line fields (``email.subject``, ``push.title``,
``in_app.title``) have internal runs of whitespace and newlines collapsed to one space. A
required file that renders to nothing is an error.

**Caching.** Each root gets one Jinja environment whose compiled templates are cached;
with ``auto_reload`` Jinja checks a cached file's modification time on each use (one
``stat``, no read), so a template edited on disk is picked up by the next render and an
unchanged one is never read or compiled again. Environments and their caches are safe to
share between threads; :meth:`Templates.render` may be called concurrently.

**Filters** added for notification copy (all locale-agnostic: the words belong in the
template, not in the filter):

- ``date(tz=None, format="%Y-%m-%d")`` and ``datetime(tz=None, format="%Y-%m-%d %H:%M")``
  format a :class:`~datetime.datetime`, a :class:`~datetime.date` or an ISO 8601 string,
  first converted to the IANA timezone ``tz`` if one is given (e.g. the recipient's
  ``"Asia/Ho_Chi_Minh"``). Use numeric ``strftime`` codes; ``%A``/``%B`` give English names.
- ``number(decimals=0, thousands=",", point=".")`` rounds (half up) and groups digits:
  ``{{ 1500000 | number(thousands=".") }} ₫`` gives ``1.500.000 ₫``.

SMS bodies are measured with :func:`tidings.notify.sms.sms_info` (encoding and segments).
:meth:`Templates.missing` and :meth:`Templates.check` find problems before any send.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing as _missing

from tidings.errors import ValidationError
from tidings.notify.links import safe_links
from tidings.notify.sms import SmsInfo, sms_info
from tidings.records.notify import Channel

CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.IN_APP)
"""The channels a template folder can serve."""

# Per channel: groups of files resolved together from one locale, and whether the group
# is required. Single-file groups give per-file fallback.
_GROUPS: dict[Channel, tuple[tuple[tuple[str, ...], bool], ...]] = {
    Channel.EMAIL: ((("email.subject",), True), (("email.html", "email.txt"), True)),
    Channel.SMS: ((("sms.txt",), True),),
    Channel.PUSH: ((("push.title",), False), (("push.body",), True)),
    Channel.IN_APP: ((("in_app.title",), False), (("in_app.body",), True)),
}
_SINGLE_LINE = frozenset({"email.subject", "push.title", "in_app.title"})

_LOCALE = re.compile(
    r"(?P<lang>[A-Za-z]{2,3})(?:[-_](?P<script>[A-Za-z]{4}))?"
    r"(?:[-_](?P<region>[A-Za-z]{2}|[0-9]{3}))?"
)
_TYPE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def validate_locale(value: str) -> str:
    """Check and normalise a locale tag: ``language[-Script][-REGION]``.

    The language is 2 or 3 letters, the optional script 4 letters, the optional region 2
    letters or 3 digits; ``_`` is accepted as a separator. The result is in the canonical
    case, the form template folders are named in: ``"pt_br"`` -> ``"pt-BR"``,
    ``"ZH-hant-tw"`` -> ``"zh-Hant-TW"``.

    Raises:
        ValidationError: The value is not such a tag; the message names it.
    """
    match = _LOCALE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValidationError(
            f"invalid locale {value!r}: expected a language tag like 'en', 'vi' or 'pt-BR'"
        )
    parts = [match["lang"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    return "-".join(parts)


class TemplateError(ValidationError):
    """A template is missing or cannot be rendered.

    Attributes:
        template: The file at fault, relative to the templates root
            (``"lab-results-ready/vi/sms.txt"``).
        variable: The undefined variable, when that is the problem; else ``None``.
    """

    def __init__(self, message: str, *, template: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.template = template
        self.variable = variable


@dataclass(frozen=True)
class Rendered:
    """A notification rendered for one channel and locale (see the module table)."""

    channel: str
    locale: str
    """The locale asked for (normalised); :attr:`sources` says where each file came from."""
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    """Email plain-text part (given or derived from the HTML), or the SMS body."""
    title: str | None = None
    body: str | None = None
    sms: SmsInfo | None = None
    """Encoding and segment count, for the ``sms`` channel."""
    sources: dict[str, str] = field(default_factory=dict)
    """File name -> the locale it was taken from, e.g. ``{"sms.txt": "en"}``."""


# -- HTML to plain text ---------------------------------------------------------------

_SKIP_TAGS = frozenset({"head", "script", "style", "template", "title", "noscript"})
_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre", "hr"}
)
_LINE_TAGS = frozenset(
    {"div", "tr", "li", "section", "article", "header", "footer", "dt", "dd", "address"}
)


class _TextExtractor(HTMLParser):
    """Collects readable text: block tags become line breaks, links keep their address."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._links: list[tuple[str | None, int]] = []

    def _break(self, lines: int) -> None:
        """End the current line (1) or paragraph (2), unless the text already does."""
        have = 0
        for part in reversed(self.parts):  # newlines since the last visible character
            visible = part.rstrip(" \t\n")
            have += part[len(visible) :].count("\n")
            if visible:
                break
        if self.parts and have < lines:
            self.parts.append("\n" * (lines - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _PARAGRAPH_TAGS or tag in _LINE_TAGS:
            self._break(2 if tag in _PARAGRAPH_TAGS else 1)
            if tag == "li":
                self.parts.append("- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.parts)))
        elif tag == "img" and not self._skipping:
            self.parts.append(dict(attrs).get("alt") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _PARAGRAPH_TAGS or tag in _LINE_TAGS:
            self._break(2 if tag in _PARAGRAPH_TAGS else 1)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            label = "".join(self.parts[start:]).strip()
            if href and href.startswith(("http:", "https:", "mailto:")) and href != label:
                shown = href.removeprefix("mailto:")
                self.parts.append(shown if not label else f" ({shown})")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text alternative of an HTML email body.

    Scripts, styles and the ``<head>`` are dropped; paragraphs, headings, lists and table
    rows become lines (list items start with ``- ``); a link keeps its address in brackets
    after its text; an image keeps its ``alt`` text; entities are decoded. The aim is a
    text part a person can read, not a faithful layout.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# -- filters --------------------------------------------------------------------------


def _zone(tz: str | tzinfo) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown timezone {tz!r}: use an IANA name like 'Asia/Ho_Chi_Minh'"
        ) from exc


def _defined(value: Any) -> None:
    if isinstance(value, jinja2.Undefined):
        str(value)  # raises: our undefined is strict, and names the variable


def _as_datetime(value: Any) -> datetime | date:
    _defined(value)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 date or datetime: {value!r}") from exc
    raise TypeError(f"expected a datetime, date or ISO 8601 string, got {type(value).__name__}")


def _format_when(value: Any, tz: str | tzinfo | None, fmt: str) -> str:
    when = _as_datetime(value)
    if tz is not None and isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(f"{value!r} has no UTC offset, so it cannot be shown in {tz!r}")
        when = when.astimezone(_zone(tz))
    return when.strftime(fmt)


def _date_filter(value: Any, tz: str | tzinfo | None = None, format: str = "%Y-%m-%d") -> str:
    return _format_when(value, tz, format)


def _datetime_filter(
    value: Any,
    tz: str | tzinfo | None = None,
    format: str = "%Y-%m-%d %H:%M",
) -> str:
    return _format_when(value, tz, format)


def _number_filter(value: Any, decimals: int = 0, thousands: str = ",", point: str = ".") -> str:
    _defined(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise TypeError(f"number expects a number, got {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"number expects a number, got {value!r}") from exc
    if not amount.is_finite() or not 0 <= decimals <= 12:
        raise ValueError(f"number cannot format {value!r} with {decimals!r} decimals")
    rounded = amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{decimals}f}"
    return text.replace(",", "\0").replace(".", point).replace("\0", thousands)


FILTERS: dict[str, Any] = {
    "date": _date_filter,
    "datetime": _datetime_filter,
    "number": _number_filter,
}
"""The filters every template environment gets (see the module docstring)."""


# -- Jinja environment ----------------------------------------------------------------


class _UndefinedVariable(jinja2.UndefinedError):
    """An :class:`~jinja2.UndefinedError` that remembers which name was missing."""

    def __init__(self, message: str | None = None, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class _StrictUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose error carries the missing name (for :class:`TemplateError`)."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = _missing,
        name: str | None = None,
        exc: type[jinja2.TemplateRuntimeError] = jinja2.UndefinedError,
    ) -> None:
        super().__init__(hint, obj, name, exc)
        if exc is jinja2.UndefinedError and isinstance(name, str):
            # Jinja only ever calls this attribute with the message.
            self._undefined_exception = functools.partial(_UndefinedVariable, name=name)  # type: ignore[assignment]


MAX_REPEAT = 100_000
"""Longest string or list a template may build with ``*``."""
MAX_EXPONENT = 1_000
"""Largest integer exponent a template may use with ``**``."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus limits on ``*`` and ``**`` (``'x' * 10**9`` would hang)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_REPEAT:
                    raise SecurityError(f"repetition longer than {MAX_REPEAT} items")
        return super().call_binop(context, operator, left, right)


LINK_VARIABLES = {"unsubscribe_url": "", "preferences_url": ""}
"""Template variables every template has: one-click unsubscribe and preference-centre
links of the recipient (empty when the app has no ``public_url``, and the unsubscribe
link for critical types)."""


def _environment(root: Path) -> jinja2.Environment:
    env = _Sandbox(
        loader=jinja2.FileSystemLoader(str(root), encoding="utf-8"),
        undefined=_StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), disabled_extensions=(), default_for_string=False
        ),
        auto_reload=True,
        cache_size=2000,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(FILTERS)
    # Links the router fills in per recipient (notify/urls.py); empty without a public
    # URL, so a template may always name them.
    env.globals.update(LINK_VARIABLES)
    return env


def _locale_chain(locale: str) -> list[str]:
    """``zh-Hant-TW`` -> ``["zh-Hant-TW", "zh-Hant", "zh"]``."""
    parts = locale.split("-")
    return ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _single_line(text: str) -> str:
    return " ".join(text.split())


def _check_type_id(type_id: str) -> str:
    if not isinstance(type_id, str) or not _TYPE_ID.fullmatch(type_id) or ".." in type_id:
        raise ValidationError(
            f"invalid notification type {type_id!r} for a template folder: use letters, "
            "digits, '.', '_' and '-'"
        )
    return type_id


def _check_channel(channel: str) -> Channel:
    if not isinstance(channel, str) or channel not in _GROUPS:
        raise ValidationError(
            f"unknown channel {channel!r}: expected one of "
            + ", ".join(repr(str(c)) for c in CHANNELS)
        )
    return Channel(channel)


class Templates:
    """Finds, caches and renders the templates under one root folder.

    Args:
        root: The templates root, or ``None`` if every call passes its own ``root=``
            (a notification type with its own folder). Relative paths are resolved now,
            against the current directory.
        default_locale: The locale every missing file falls back to.
    """

    def __init__(self, root: str | Path | None, default_locale: str = "en") -> None:
        self.root = Path(root).resolve() if root is not None else None
        self.default_locale = validate_locale(default_locale)
        self._environments: dict[Path, jinja2.Environment] = {}
        self._lock = threading.Lock()

    def _root(self, root: str | Path | None) -> Path:
        chosen = Path(root).resolve() if root is not None else self.root
        if chosen is None:
            raise ValidationError(
                "no templates folder: pass templates= to Tidings(...) or to the notification type"
            )
        return chosen

    def _environment(self, root: Path) -> jinja2.Environment:
        with self._lock:
            env = self._environments.get(root)
            if env is None:
                env = self._environments[root] = _environment(root)
            return env

    def folder(self, type_id: str, root: str | Path | None = None) -> Path:
        """The folder of ``type_id`` under ``root`` (else the default root)."""
        return self._root(root) / _check_type_id(type_id)

    def locales(self, locale: str) -> list[str]:
        """The locales a file is looked up in for ``locale``, in order (its fallbacks,
        then the default locale's)."""
        return self._candidates(validate_locale(locale))

    def _candidates(self, locale: str) -> list[str]:
        chain = _locale_chain(locale) + _locale_chain(self.default_locale)
        return list(dict.fromkeys(chain))

    def render(
        self,
        type_id: str,
        channel: str,
        locale: str,
        data: Mapping[str, Any],
        *,
        root: str | Path | None = None,
    ) -> Rendered:
        """Render the ``channel`` templates of ``type_id`` in ``locale`` with ``data``.

        Args:
            type_id: The notification type (its folder under the root).
            channel: ``email``, ``sms``, ``push`` or ``in_app``.
            locale: The recipient's locale; missing files fall back (see the module doc).
            data: The template variables.
            root: This type's own templates folder, overriding the default root.

        Raises:
            TemplateError: A required file is missing everywhere, has a syntax error,
                uses an undefined variable, fails while rendering or renders empty.
            ValidationError: Unknown channel, invalid locale or type, or no root at all.
        """
        _check_type_id(type_id)
        chosen = _check_channel(channel)
        wanted = validate_locale(locale)
        folder = self._root(root)
        env = self._environment(folder)
        candidates = self._candidates(wanted)
        out: dict[str, str] = {}
        sources: dict[str, str] = {}
        for files, required in _GROUPS[chosen]:
            found = self._find_group(env, folder, type_id, files, candidates)
            if not found and required:
                raise self._missing_error(folder, type_id, files, candidates)
            for name, (template, source) in found.items():
                out[name] = _render_one(template, folder, dict(data), name in _SINGLE_LINE)
                sources[name] = source
        return _assemble(channel, wanted, out, sources, type_id)

    def missing(
        self, type_id: str, channels: Iterable[str], *, root: str | Path | None = None
    ) -> list[str]:
        """The required template files absent in the default locale, for a startup check.

        Returns:
            Paths relative to the root, e.g. ``["lab-results-ready/en/sms.txt"]``; for the
            email body, ``"<type>/en/email.html or email.txt"``. Empty if all are there.

        Raises:
            ValidationError: Unknown channel, invalid type, or no root at all.
        """
        _check_type_id(type_id)
        folder = self._root(root)
        chain = _locale_chain(self.default_locale)
        absent: list[str] = []
        for channel in dict.fromkeys(channels):
            for files, required in _GROUPS[_check_channel(channel)]:
                present = any(
                    (folder / type_id / loc / name).is_file() for loc in chain for name in files
                )
                if required and not present:
                    absent.append(f"{type_id}/{self.default_locale}/{' or '.join(files)}")
        return absent

    def check(
        self, type_id: str, channels: Iterable[str], *, root: str | Path | None = None
    ) -> list[TemplateError]:
        """Every problem that can be found without data, for a startup or CI check.

        Reports required files missing in the default locale (as :meth:`missing`), locale
        folders not named in canonical form (``pt-br`` is never found for ``pt-BR``), and
        syntax errors in the channels' files of every locale folder. Folders whose names
        start with ``_`` or ``.`` (shared partials, editor files) are left alone.

        Returns:
            One :class:`TemplateError` per problem; empty if there is none.
        """
        channels = list(channels)
        problems = [
            TemplateError(f"missing template {path}", template=path.split(" or ")[0])
            for path in self.missing(type_id, channels, root=root)
        ]
        folder = self._root(root)
        env = self._environment(folder)
        names = [
            name
            for ch in dict.fromkeys(channels)
            for files, _ in _GROUPS[_check_channel(ch)]
            for name in files
        ]
        type_dir = folder / type_id
        locales = sorted(
            d.name
            for d in (type_dir.iterdir() if type_dir.is_dir() else ())
            if d.is_dir() and not d.name.startswith(("_", "."))
        )
        for locale in locales:
            problem = _folder_name_problem(type_id, locale)
            if problem is not None:
                problems.append(problem)
                continue
            for name in names:
                try:
                    _load(env, folder, f"{type_id}/{locale}/{name}")
                except TemplateError as exc:
                    problems.append(exc)
        return problems

    @staticmethod
    def _find_group(
        env: jinja2.Environment,
        folder: Path,
        type_id: str,
        files: tuple[str, ...],
        candidates: list[str],
    ) -> dict[str, tuple[jinja2.Template, str]]:
        """The group's files from the first candidate locale that has any of them."""
        for locale in candidates:
            found = {}
            for name in files:
                template = _load(env, folder, f"{type_id}/{locale}/{name}")
                if template is not None:
                    found[name] = (template, locale)
            if found:
                return found
        return {}

    def _missing_error(
        self, folder: Path, type_id: str, files: tuple[str, ...], candidates: list[str]
    ) -> TemplateError:
        path = f"{type_id}/{self.default_locale}/{files[0]}"
        alternatives = "".join(f" or {name}" for name in files[1:])
        hint = "" if folder.is_dir() else f"; the templates folder {folder} does not exist"
        return TemplateError(
            f"missing template {path}{alternatives} (looked in {', '.join(candidates)}){hint}",
            template=path,
        )


def _folder_name_problem(type_id: str, locale: str) -> TemplateError | None:
    path = f"{type_id}/{locale}"
    try:
        canonical = validate_locale(locale)
    except ValidationError:
        return TemplateError(f"template folder {path} is not named after a locale", template=path)
    if canonical != locale:
        return TemplateError(
            f"template folder {path} is never used: name it {type_id}/{canonical}", template=path
        )
    return None


def _load(env: jinja2.Environment, folder: Path, name: str) -> jinja2.Template | None:
    """The compiled template ``name`` (cached by Jinja), or ``None`` if there is no file."""
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound:
        return None
    except jinja2.TemplateSyntaxError as exc:
        where = exc.name or name
        raise TemplateError(
            f"template {where}: syntax error on line {exc.lineno}: {exc.message}", template=where
        ) from exc
    except UnicodeDecodeError as exc:
        raise TemplateError(
            f"template {name}: not valid UTF-8 ({exc.reason})", template=name
        ) from exc


def _relative(folder: Path, filename: str | None, fallback: str) -> str:
    if filename is None:
        return fallback
    try:
        return Path(filename).relative_to(folder).as_posix()
    except ValueError:
        return fallback


def _render_one(
    template: jinja2.Template, folder: Path, data: dict[str, Any], single_line: bool
) -> str:
    name = template.name or "?"
    try:
        text = template.render(data)
    except jinja2.TemplateSyntaxError as exc:  # raised by an {% include %}d file
        where = exc.name or name
        raise TemplateError(
            f"template {where}: syntax error on line {exc.lineno}: {exc.message}", template=where
        ) from exc
    except Exception as exc:  # a template is user-authored code: report any failure
        raise _runtime_error(exc, folder, template) from exc
    text = text.strip()
    return _single_line(text) if single_line else text


def _runtime_error(exc: Exception, folder: Path, template: jinja2.Template) -> TemplateError:
    """A :class:`TemplateError` naming the file and line where rendering failed."""
    filename = template.filename
    line = None
    tb = exc.__traceback__
    while tb is not None:  # the innermost template frame: an {% include %}d file if any
        code_file = tb.tb_frame.f_code.co_filename
        if code_file.startswith(str(folder) + os.sep):
            filename, line = code_file, tb.tb_lineno
        tb = tb.tb_next
    where = _relative(folder, filename, template.name or "?")
    at = f" (line {line})" if line else ""
    if isinstance(exc, _UndefinedVariable) and exc.name is not None:
        detail = f"undefined variable {exc.name!r}"
        if exc.message and not exc.message.endswith("is undefined"):
            detail += f": {exc.message}"
        return TemplateError(f"template {where}: {detail}{at}", template=where, variable=exc.name)
    if isinstance(exc, jinja2.UndefinedError):
        detail = exc.message or "undefined value"
    elif isinstance(exc, SecurityError):
        detail = f"not allowed in a template: {exc}"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return TemplateError(f"template {where}: {detail}{at}", template=where)


def _assemble(
    channel: str, locale: str, out: dict[str, str], sources: dict[str, str], type_id: str
) -> Rendered:
    def required(name: str) -> str:
        if not out.get(name):
            path = f"{type_id}/{sources[name]}/{name}"
            raise TemplateError(f"template {path}: rendered to empty text", template=path)
        return out[name]

    if channel == Channel.EMAIL:
        html = safe_links(out.get("email.html") or "") or None  # no javascript: links
        text = out.get("email.txt") or (html_to_text(html) if html else None)
        if not text:
            required(next(iter(n for n in ("email.txt", "email.html") if n in out)))
        subject = required("email.subject")
        return Rendered(channel, locale, subject=subject, html=html, text=text, sources=sources)
    if channel == Channel.SMS:
        body = required("sms.txt")
        return Rendered(channel, locale, text=body, sms=sms_info(body), sources=sources)
    title = out.get(f"{channel}.title") or None
    return Rendered(channel, locale, title=title, body=required(f"{channel}.body"), sources=sources)
