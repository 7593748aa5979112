"""The erase redaction of free text: the recipient id as a whole word, their addresses
anywhere (any case, JSON-escaped, a phone with or without its "+")."""

from __future__ import annotations

import json

from tidings.store.db.privacy import Scrubber

MARK = "erased:ers_1"


def test_the_id_goes_as_a_whole_word_only() -> None:
    scrub = Scrubber("u1", [], MARK)
    assert scrub("sent to u1") == f"sent to {MARK}"
    assert scrub("welcome-u1/step") == f"welcome-{MARK}/step"
    assert scrub('{"userId":"u1"}') == f'{{"userId":"{MARK}"}}'
    assert scrub("u12 and xu1 and u1x") == "u12 and xu1 and u1x"
    assert scrub(None) is None
    assert scrub(5) == 5


def test_addresses_go_wherever_they_appear() -> None:
    scrub = Scrubber("u1", ["An.Nguyen@Example.com", "+84901234567", "Tok[1]"], MARK)
    text = "mail an.nguyen@example.com; sms 84901234567 or +84901234567; push Tok[1]"
    assert scrub(text) == f"mail {MARK}; sms {MARK} or {MARK}; push {MARK}"
    # the email whole, before its local part could match the id
    assert Scrubber("an", ["an@example.com"], MARK)("an@example.com") == MARK


def test_ids_that_json_escapes_are_found_in_json_text() -> None:
    odd = 'bệnh-nhân "7"'
    scrub = Scrubber(odd, [], MARK)
    escaped = json.dumps({"userId": odd})
    assert odd not in escaped  # ensure_ascii escapes it
    assert json.loads(scrub(escaped)) == {"userId": MARK}
    assert scrub(odd) == MARK
