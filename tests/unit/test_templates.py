"""Notification templates on real folders: fallback, escaping, errors, sandbox, cache, threads."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tidings.errors import ValidationError
from tidings.notify.sms import SmsInfo
from tidings.notify.templates import (
    Rendered,
    TemplateError,
    Templates,
    html_to_text,
    validate_locale,
)


def put(root: Path, rel: str, content: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# -- locales --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("en", "en"),
        ("VI", "vi"),
        ("pt-br", "pt-BR"),
        ("pt_BR", "pt-BR"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
        ("fil", "fil"),
        ("sr-Latn", "sr-Latn"),
    ],
)
def test_validate_locale_normalises(raw: str, normal: str) -> None:
    assert validate_locale(raw) == normal


@pytest.mark.parametrize(
    "raw", ["", "e", "english", "en-", "en-USA1", "en US", "../en", "en/US", "12", "pt-BR-x"]
)
def test_validate_locale_rejects(raw: str) -> None:
    with pytest.raises(ValidationError, match=f"invalid locale {raw!r}"):
        validate_locale(raw)


# -- fallback -------------------------------------------------------------------------


def test_vi_falls_back_to_en_per_file(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "lab-results-ready/en/push.title", "Lab results ready")
    put(root, "lab-results-ready/en/push.body", "Your results from {{ clinic }} are ready.")
    put(root, "lab-results-ready/vi/push.body", "Kết quả xét nghiệm tại {{ clinic }} đã có.")
    result = Templates(root).render("lab-results-ready", "push", "vi", {"clinic": "Chợ Rẫy"})
    assert result == Rendered(
        "push",
        "vi",
        title="Lab results ready",
        body="Kết quả xét nghiệm tại Chợ Rẫy đã có.",
        sources={"push.title": "en", "push.body": "vi"},
    )


def test_pt_br_tries_pt_before_the_default(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t1/en/sms.txt", "Hello {{ name }}")
    put(root, "t1/pt/sms.txt", "Olá {{ name }}")
    put(root, "t1/en/in_app.title", "Title")
    put(root, "t1/en/in_app.body", "Body")
    put(root, "t1/pt-BR/in_app.body", "Corpo BR")
    templates = Templates(root)
    sms = templates.render("t1", "sms", "pt-BR", {"name": "Ana"})
    assert (sms.text, sms.sources, sms.locale) == ("Olá Ana", {"sms.txt": "pt"}, "pt-BR")
    app = templates.render("t1", "in_app", "pt_br", {})
    assert (app.title, app.body) == ("Title", "Corpo BR")
    assert app.sources == {"in_app.title": "en", "in_app.body": "pt-BR"}
    assert templates.render("t1", "sms", "fr-CA", {"name": "Zoé"}).sources == {"sms.txt": "en"}


def test_script_and_region_subtags_fall_back_one_at_a_time(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "en")
    put(root, "t/zh-Hant/sms.txt", "zh-Hant")
    put(root, "t/zh/push.body", "zh")
    templates = Templates(root)
    assert templates.render("t", "sms", "zh-Hant-TW", {}).text == "zh-Hant"
    assert templates.render("t", "push", "zh-Hant-TW", {}).sources == {"push.body": "zh"}
    assert templates.render("t", "sms", "zh-Hans-CN", {}).sources == {"sms.txt": "en"}


def test_default_locale_can_be_changed(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/vi/sms.txt", "Xin chào")
    put(root, "t/en/sms.txt", "Hello")
    assert Templates(root, default_locale="vi").render("t", "sms", "fr", {}).text == "Xin chào"
    assert Templates(root, default_locale="vi").render("t", "sms", "en", {}).text == "Hello"
    with pytest.raises(ValidationError, match="invalid locale 'english'"):
        Templates(root, default_locale="english")


# -- email ----------------------------------------------------------------------------


def test_email_with_both_parts(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "welcome/en/email.subject", "Welcome, {{ name }}!\n")
    put(root, "welcome/en/email.html", "<p>Hi {{ name }}</p>\n")
    put(root, "welcome/en/email.txt", "Hi {{ name }}\n")
    result = Templates(root).render("welcome", "email", "en", {"name": "Lan"})
    assert (result.subject, result.html, result.text) == (
        "Welcome, Lan!",
        "<p>Hi Lan</p>",
        "Hi Lan",
    )
    assert (result.sms, result.title, result.body) == (None, None, None)


def test_autoescape_in_html_only(tmp_path: Path) -> None:
    root = tmp_path / "t"
    for name in ("email.subject", "email.html", "email.txt"):
        put(root, f"x/en/{name}", "{{ v }}")
    put(root, "x/en/sms.txt", "{{ v }}")
    evil = '<script>alert("x")</script> & Co'
    templates = Templates(root)
    email = templates.render("x", "email", "en", {"v": evil})
    assert email.html == "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co"
    assert email.text == evil
    assert email.subject == evil
    assert templates.render("x", "sms", "en", {"v": evil}).text == evil


def test_html_only_email_derives_the_text_part(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "r/en/email.subject", "Results")
    put(
        root,
        "r/en/email.html",
        "<html><head><title>x</title><style>p{color:red}</style></head><body>"
        "<h1>Hello {{ name }}</h1><p>Your results are <b>ready</b>.</p>"
        '<p><a href="{{ url }}">View results</a></p></body></html>',
    )
    result = Templates(root).render(
        "r", "email", "en", {"name": "Mai & Co", "url": "https://m.vn/r?a=1&b=2"}
    )
    assert result.text == (
        "Hello Mai & Co\n\nYour results are ready.\n\nView results (https://m.vn/r?a=1&b=2)"
    )
    assert result.sources == {"email.subject": "en", "email.html": "en"}


def test_email_body_parts_come_from_one_locale(tmp_path: Path) -> None:
    """A Vietnamese HTML body never gets the English plain-text part."""
    root = tmp_path / "t"
    put(root, "r/en/email.subject", "Results")
    put(root, "r/en/email.html", "<p>Results</p>")
    put(root, "r/en/email.txt", "Results (text)")
    put(root, "r/vi/email.html", "<p>Kết quả</p>")
    result = Templates(root).render("r", "email", "vi", {})
    assert (result.subject, result.html, result.text) == ("Results", "<p>Kết quả</p>", "Kết quả")
    assert result.sources == {"email.subject": "en", "email.html": "vi"}


def test_text_only_email_has_no_html(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "r/en/email.subject", "S")
    put(root, "r/en/email.txt", "Plain")
    result = Templates(root).render("r", "email", "en", {})
    assert (result.html, result.text) == (None, "Plain")


def test_one_line_fields_are_collapsed(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "r/en/email.subject", "  Your\n  appointment {% if soon %}\n tomorrow{% endif %}  \n")
    put(root, "r/en/email.txt", "x")
    put(root, "r/en/push.title", "\nA\n\tB\n")
    put(root, "r/en/push.body", "line 1\nline 2\n")
    templates = Templates(root)
    assert (
        templates.render("r", "email", "en", {"soon": True}).subject == "Your appointment tomorrow"
    )
    push = templates.render("r", "push", "en", {})
    assert (push.title, push.body) == ("A B", "line 1\nline 2")


def test_block_tags_leave_no_blank_lines(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "r/en/sms.txt", "{% if first %}\nWelcome!\n{% endif %}\nSee you {{ when }}.\n")
    templates = Templates(root)
    assert templates.render("r", "sms", "en", {"first": True, "when": "soon"}).text == (
        "Welcome!\nSee you soon."
    )
    assert templates.render("r", "sms", "en", {"first": False, "when": "soon"}).text == (
        "See you soon."
    )


# -- sms ------------------------------------------------------------------------------


def test_sms_render_sets_segment_info(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "appt/en/sms.txt", "Reminder: appointment at {{ clinic }} tomorrow.\n")
    put(root, "appt/vi/sms.txt", "Nhắc lịch: bạn có lịch khám tại {{ clinic }} vào ngày mai.\n")
    templates = Templates(root)
    en = templates.render("appt", "sms", "en", {"clinic": "Cho Ray"})
    assert en.text == "Reminder: appointment at Cho Ray tomorrow."
    assert en.sms == SmsInfo("GSM-7", 42, 1)  # the file's trailing newline is not sent
    vi = templates.render("appt", "sms", "vi", {"clinic": "Chợ Rẫy"})
    assert vi.sms == SmsInfo("UCS-2", len(vi.text or ""), 1)
    long = templates.render("appt", "sms", "vi", {"clinic": "Bệnh viện " * 6})
    assert long.sms == SmsInfo("UCS-2", len(long.text or ""), 2)


# -- errors ---------------------------------------------------------------------------


def test_missing_variable_names_variable_template_and_line(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "lab-results-ready/vi/sms.txt", "Xin chào {{ name }},\nkết quả tại {{ clinic }}.")
    with pytest.raises(TemplateError) as info:
        Templates(root).render("lab-results-ready", "sms", "vi", {"name": "An"})
    error = info.value
    assert (
        str(error) == "template lab-results-ready/vi/sms.txt: undefined variable 'clinic' (line 2)"
    )
    assert (error.template, error.variable) == ("lab-results-ready/vi/sms.txt", "clinic")
    assert isinstance(error, ValidationError)


def test_attribute_of_a_missing_key_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "Hi {{ patient.nickname }}")
    with pytest.raises(TemplateError, match="undefined variable 'nickname'") as info:
        Templates(root).render("t", "sms", "en", {"patient": {"name": "An"}})
    assert info.value.variable == "nickname"
    assert "has no attribute 'nickname'" in str(info.value)


@pytest.mark.parametrize(
    "source",
    ["{% if clinic %}x{% endif %}", "{% for x in clinic %}{{ x }}{% endfor %}", "{{ clinic + 1 }}"],
)
def test_undefined_fails_in_tests_loops_and_arithmetic(tmp_path: Path, source: str) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", source + "ok")
    with pytest.raises(TemplateError, match="undefined variable 'clinic'"):
        Templates(root).render("t", "sms", "en", {})


def test_is_defined_and_default_are_the_way_to_make_a_variable_optional(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(
        root,
        "t/en/sms.txt",
        "{% if clinic is defined %}at {{ clinic }} {% endif %}{{ x | default('-') }}",
    )
    templates = Templates(root)
    assert templates.render("t", "sms", "en", {}).text == "-"
    assert templates.render("t", "sms", "en", {"clinic": "A", "x": 1}).text == "at A 1"


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "ok")
    put(root, "t/vi/sms.txt", "dòng 1\ndòng 2\n{% if x %}no end\n")
    with pytest.raises(TemplateError) as info:
        Templates(root).render("t", "sms", "vi", {"x": 1})
    assert str(info.value).startswith("template t/vi/sms.txt: syntax error on line 3")
    assert (info.value.template, info.value.variable) == ("t/vi/sms.txt", None)


def test_runtime_error_names_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "a\n{{ n / 0 }}")
    with pytest.raises(TemplateError, match=r"t/en/sms.txt: ZeroDivisionError: .* \(line 2\)"):
        Templates(root).render("t", "sms", "en", {"n": 1})


def test_undefined_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "_partials/footer.txt", "--\n{{ clinic_phone }}")
    put(root, "t/en/sms.txt", "Body\n{% include '_partials/footer.txt' %}")
    with pytest.raises(TemplateError) as info:
        Templates(root).render("t", "sms", "en", {})
    assert info.value.template == "_partials/footer.txt"
    assert info.value.variable == "clinic_phone"
    assert "(line 2)" in str(info.value)
    assert Templates(root).render("t", "sms", "en", {"clinic_phone": "1"}).text == "Body\n--\n1"


def test_missing_required_files(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "lab-results-ready/vi/email.subject", "S")
    put(root, "lab-results-ready/en/push.title", "T")
    templates = Templates(root)
    with pytest.raises(TemplateError) as info:
        templates.render("lab-results-ready", "sms", "vi", {})
    assert str(info.value) == "missing template lab-results-ready/en/sms.txt (looked in vi, en)"
    assert info.value.template == "lab-results-ready/en/sms.txt"
    with pytest.raises(
        TemplateError, match=r"missing template lab-results-ready/en/email.html or email.txt"
    ):
        templates.render("lab-results-ready", "email", "vi", {})
    with pytest.raises(TemplateError, match=r"missing template lab-results-ready/en/push.body"):
        templates.render("lab-results-ready", "push", "en", {})
    with pytest.raises(TemplateError, match=r"missing template no-such-type/en/sms.txt"):
        templates.render("no-such-type", "sms", "en", {})


def test_a_missing_templates_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"the templates folder .*nowhere does not exist"):
        Templates(tmp_path / "nowhere").render("t", "sms", "en", {})


def test_a_required_file_that_renders_empty_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "{% if show %}Hi{% endif %}\n")
    put(root, "t/en/push.title", "{% if show %}Hi{% endif %}")
    put(root, "t/en/push.body", "Body")
    templates = Templates(root)
    with pytest.raises(TemplateError, match=r"template t/en/sms.txt: rendered to empty text"):
        templates.render("t", "sms", "en", {"show": False})
    assert templates.render("t", "push", "en", {"show": False}).title is None


def test_not_utf8_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "Xin ch\xe0o".encode("latin-1"))
    with pytest.raises(TemplateError, match=r"template t/en/sms.txt: not valid UTF-8"):
        Templates(root).render("t", "sms", "en", {})


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: t.render("t", "fax", "en", {}), "unknown channel 'fax'"),
        (lambda t: t.render("t", "sms", "xx_yy_zz", {}), "invalid locale 'xx_yy_zz'"),
        (lambda t: t.render("../etc", "sms", "en", {}), "invalid notification type '../etc'"),
        (lambda t: t.render("a/b", "sms", "en", {}), "invalid notification type 'a/b'"),
        (lambda t: t.render("a..b", "sms", "en", {}), "invalid notification type"),
        (lambda t: t.missing("t", ["sms", "telegram"]), "unknown channel 'telegram'"),
    ],
)
def test_bad_arguments_are_validation_errors(
    tmp_path: Path, call: Callable[[Templates], object], match: str
) -> None:
    templates = Templates(tmp_path)
    with pytest.raises(ValidationError, match=match) as info:
        call(templates)
    assert not isinstance(info.value, TemplateError)


# -- sandbox --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ data.__class__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ self._TemplateReference__context }}",
        "{{ range.__globals__ }}",
    ],
)
def test_sandbox_blocks_internals(tmp_path: Path, source: str) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", source)
    with pytest.raises(TemplateError) as info:
        Templates(root).render("t", "sms", "en", {"data": {"a": 1}})
    assert info.value.template == "t/en/sms.txt"
    assert "not allowed in a template" in str(info.value)


def test_sandbox_reports_unsafe_access_clearly(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "{{ ''.__class__ }}")
    with pytest.raises(TemplateError, match="not allowed in a template: access to attribute"):
        Templates(root).render("t", "sms", "en", {})


def test_templates_cannot_modify_the_data(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "{{ items.append(4) }}{{ opts.update({'x': 1}) }}")
    items, opts = [1, 2, 3], {"a": 1}
    with pytest.raises(TemplateError):
        Templates(root).render("t", "sms", "en", {"items": items, "opts": opts})
    assert items == [1, 2, 3]
    assert opts == {"a": 1}


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("{{ 'x' * 1000000000 }}", "repetition longer than 100000"),
        ("{{ 100000000 * [0] }}", "repetition longer than 100000"),
        ("{{ 10 ** 100000000 }}", "exponent 100000000 is larger than 1000"),
        ("{{ 2 ** big }}", "exponent 100000000 is larger than 1000"),
        ("{{ 'ab' * big }}", "repetition longer than 100000"),
        ("{{ range(10 ** 9) | list }}", "Range too big"),
    ],
)
def test_sandbox_limits_runaway_sizes(tmp_path: Path, source: str, match: str) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", source)
    with pytest.raises(TemplateError, match=match):
        Templates(root).render("t", "sms", "en", {"big": 10**8})


def test_ordinary_arithmetic_and_repetition_still_work(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "{{ '-' * 5 }}{{ 2 ** 10 }}{{ 3 * 4 }}{{ [1] * 3 }}{{ n * 2 }}")
    assert Templates(root).render("t", "sms", "en", {"n": 1.5}).text == "-----102412[1, 1, 1]3.0"


# -- filters --------------------------------------------------------------------------


def test_date_and_datetime_filters(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(
        root,
        "t/en/sms.txt",
        "{{ at | datetime(tz) }}|{{ at | date(tz) }}|{{ at | date(tz, '%d/%m/%Y') }}|"
        "{{ at | datetime }}|{{ day | date('UTC', '%d.%m') }}|{{ obj | datetime(tz, '%H:%M') }}",
    )
    data = {
        "at": "2026-11-22T18:30:00Z",
        "tz": "Asia/Ho_Chi_Minh",
        "day": date(2026, 1, 5),
        "obj": datetime(2026, 11, 22, 23, 5, tzinfo=UTC),
    }
    text = Templates(root).render("t", "sms", "en", data).text
    assert text == "2026-11-23 01:30|2026-11-23|23/11/2026|2026-11-22 18:30|05.01|06:05"


@pytest.mark.parametrize(
    ("source", "data", "match"),
    [
        ("{{ at | datetime('Mars/Olympus') }}", {"at": "2026-01-01T00:00Z"}, "unknown timezone"),
        ("{{ at | datetime('UTC') }}", {"at": "2026-01-01T09:00"}, "has no UTC offset"),
        ("{{ at | date }}", {"at": "next tuesday"}, "not an ISO 8601"),
        ("{{ at | date }}", {"at": 5}, "expected a datetime"),
        ("{{ missing_at | date }}", {}, "undefined variable 'missing_at'"),
    ],
)
def test_date_filter_errors(
    tmp_path: Path, source: str, data: dict[str, object], match: str
) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", source)
    with pytest.raises(TemplateError, match=match) as info:
        Templates(root).render("t", "sms", "en", data)
    assert info.value.template == "t/en/sms.txt"


def test_number_filter(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(
        root,
        "t/en/sms.txt",
        "{{ a | number }}|{{ a | number(thousands='.') }} ₫|{{ b | number(2) }}|"
        "{{ b | number(2, ' ', ',') }}|{{ c | number(1) }}|{{ '1234.5' | number }}|"
        "{{ -1234 | number }}",
    )
    text = Templates(root).render("t", "sms", "en", {"a": 1500000, "b": 12345.675, "c": 0.05}).text
    assert text == "1,500,000|1.500.000 ₫|12,345.68|12 345,68|0.1|1,235|-1,234"


@pytest.mark.parametrize("value", ["abc", True, [1], float("nan")])
def test_number_filter_rejects_non_numbers(tmp_path: Path, value: object) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "{{ v | number }}")
    with pytest.raises(TemplateError, match="number"):
        Templates(root).render("t", "sms", "en", {"v": value})


# -- caching --------------------------------------------------------------------------


def test_an_edited_file_is_picked_up(tmp_path: Path) -> None:
    root = tmp_path / "t"
    path = put(root, "t/en/sms.txt", "version 1")
    templates = Templates(root)
    assert templates.render("t", "sms", "en", {}).text == "version 1"
    before = path.stat().st_mtime_ns
    path.write_text("version 2 {{ n }}", encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))
    assert templates.render("t", "sms", "en", {"n": 2}).text == "version 2 2"


def test_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    """Same modification time: the compiled template is reused, the new bytes unseen."""
    root = tmp_path / "t"
    path = put(root, "t/en/sms.txt", "cached")
    templates = Templates(root)
    assert templates.render("t", "sms", "en", {}).text == "cached"
    stat = path.stat()
    path.write_text("re-read", encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert templates.render("t", "sms", "en", {}).text == "cached"


def test_a_file_added_in_the_locale_replaces_the_fallback(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "Hello")
    templates = Templates(root)
    assert templates.render("t", "sms", "vi", {}).sources == {"sms.txt": "en"}
    put(root, "t/vi/sms.txt", "Xin chào")
    assert templates.render("t", "sms", "vi", {}).text == "Xin chào"
    (root / "t/vi/sms.txt").unlink()
    assert templates.render("t", "sms", "vi", {}).text == "Hello"


# -- roots ----------------------------------------------------------------------------


def test_per_type_root_overrides_the_default(tmp_path: Path) -> None:
    put(tmp_path / "main", "t/en/sms.txt", "main")
    put(tmp_path / "own", "t/en/sms.txt", "own")
    templates = Templates(tmp_path / "main")
    assert templates.render("t", "sms", "en", {}).text == "main"
    assert templates.render("t", "sms", "en", {}, root=tmp_path / "own").text == "own"
    assert templates.render("t", "sms", "en", {}, root=str(tmp_path / "own")).text == "own"


def test_no_root_at_all(tmp_path: Path) -> None:
    put(tmp_path / "own", "t/en/sms.txt", "own")
    templates = Templates(None)
    with pytest.raises(ValidationError, match="no templates folder"):
        templates.render("t", "sms", "en", {})
    assert templates.render("t", "sms", "en", {}, root=tmp_path / "own").text == "own"


def test_relative_root_is_resolved_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(tmp_path / "t", "x/en/sms.txt", "found")
    monkeypatch.chdir(tmp_path)
    templates = Templates("t")
    monkeypatch.chdir("/")
    assert templates.render("x", "sms", "en", {}).text == "found"


def test_missing_lists_required_files_of_the_default_locale(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "lab/en/email.subject", "S")
    put(root, "lab/en/push.title", "T")
    put(root, "lab/vi/sms.txt", "vi only")
    templates = Templates(root)
    channels = ["email", "sms", "push", "in_app"]
    assert templates.missing("lab", channels) == [
        "lab/en/email.html or email.txt",
        "lab/en/sms.txt",
        "lab/en/push.body",
        "lab/en/in_app.body",
    ]
    for name in ("email.html", "sms.txt", "push.body", "in_app.body"):
        put(root, f"lab/en/{name}", "x")
    assert templates.missing("lab", channels) == []
    assert templates.missing("other", ["sms"], root=root) == ["other/en/sms.txt"]


def test_missing_accepts_a_bare_language_for_a_regional_default(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "x")
    assert Templates(root, default_locale="en-GB").missing("t", ["sms"]) == []


def test_check_reports_everything_found_without_data(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "lab/en/push.body", "ok {{ x }}")
    put(root, "lab/vi/push.body", "ok")
    put(root, "lab/vi/push.title", "{% if %}")
    put(root, "lab/vi/email.html", "<p>{{ x }</p>")  # email not checked: not a channel here
    put(root, "lab/pt-br/push.body", "never found")
    put(root, "lab/english/push.body", "not a locale")
    put(root, "lab/_shared/footer.txt", "{% broken")
    problems = Templates(root).check("lab", iter(["push", "sms"]))
    assert [(p.template, str(p)) for p in problems] == [
        ("lab/en/sms.txt", "missing template lab/en/sms.txt"),
        ("lab/english", "template folder lab/english is not named after a locale"),
        ("lab/pt-br", "template folder lab/pt-br is never used: name it lab/pt-BR"),
        (
            "lab/vi/push.title",
            "template lab/vi/push.title: syntax error on line 1: Expected an expression, "
            "got 'end of statement block'",
        ),
    ]


def test_check_is_empty_for_good_templates(tmp_path: Path) -> None:
    root = tmp_path / "t"
    for locale in ("en", "vi", "pt-BR"):
        put(root, f"lab/{locale}/email.subject", "S {{ a }}")
        put(root, f"lab/{locale}/email.txt", "T {{ b.c }}")
    assert Templates(root).check("lab", ["email"]) == []
    assert Templates(root).check("missing-type", ["email"])[0].template == (
        "missing-type/en/email.subject"
    )


# -- threads --------------------------------------------------------------------------


def test_concurrent_renders_from_threads(tmp_path: Path) -> None:
    root = tmp_path / "t"
    put(root, "t/en/sms.txt", "Hello {{ name }} #{{ n }}")
    put(root, "t/vi/push.body", "Xin chào {{ name }} #{{ n | number }}")
    put(root, "t/en/push.title", "Hi")
    put(root, "t/en/email.subject", "S {{ n }}")
    put(root, "t/en/email.html", "<p>{{ name }} {{ n }}</p>")
    templates = Templates(root)

    def work(n: int) -> tuple[str | None, ...]:
        name = f"user<{n}>"
        sms = templates.render("t", "sms", "vi", {"name": name, "n": n})
        push = templates.render("t", "push", "vi", {"name": name, "n": n})
        email = templates.render("t", "email", "vi", {"name": name, "n": n})
        return sms.text, push.body, email.html, email.text

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(400)))
    for n, got in enumerate(results):
        name = f"user<{n}>"
        assert got == (
            f"Hello {name} #{n}",
            f"Xin chào {name} #{n:,}",
            f"<p>user&lt;{n}&gt; {n}</p>",
            f"{name} {n}",
        )


# -- html to text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>a</p><p>b</p>", "a\n\nb"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<ul><li>one</li><li>two</li></ul><p>after</p>", "- one\n- two\n\nafter"),
        ("<script>var x = 1;</script><style>p{}</style>shown", "shown"),
        ("<p>Fish &amp; chips &lt;3 &#8364;5</p>", "Fish & chips <3 €5"),
        ('<a href="https://x.vn/a">https://x.vn/a</a>', "https://x.vn/a"),
        ('<a href="mailto:hi@x.vn"></a>', "hi@x.vn"),
        ('<a href="/relative">Open</a>', "Open"),
        ('<img src="logo.png" alt="MediLink">', "MediLink"),
        ("<table><tr><td>Test</td><td>Value</td></tr><tr><td>HbA1c</td><td>6.1</td></tr></table>",
         "Test Value\nHbA1c 6.1"),
        ("<div>  lots   of\n\n  space </div>", "lots of space"),
        ("<table>\n <tr>\n  <td>a</td>\n  <td>b</td>\n </tr>\n <tr>\n  <td>c</td>\n </tr>\n</table>"
         "\n<p>\n x\n</p>\n<div> </div>\n<div>y</div>", "a b\nc\n\nx\n\ny"),
    ],
)  # fmt: skip
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text
