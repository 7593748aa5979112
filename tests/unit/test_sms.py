"""SMS encoding and segment counts at the exact boundaries carriers bill by."""

from __future__ import annotations

import pytest

from tidings.notify.sms import GSM7_BASIC, GSM7_EXTENSION, SmsInfo, sms_info

REMINDER_VI = (
    "Nhắc lịch hẹn: bạn có lịch khám tại Bệnh viện Chợ Rẫy lúc 09:30 ngày 23/11/2026. "
    "Vui lòng đến sớm 15 phút. Hủy lịch: gọi 028 3855 4137."
)
REMINDER_VI_ASCII = (
    "Nhac lich hen: ban co lich kham tai Benh vien Cho Ray luc 09:30 ngay 23/11/2026. "
    "Vui long den som 15 phut. Huy lich: goi 028 3855 4137."
)


def test_the_alphabet_tables_have_the_standard_sizes() -> None:
    assert len(GSM7_BASIC) == 127  # 128 code points minus the escape
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


def test_empty_text_is_zero_segments() -> None:
    assert sms_info("") == SmsInfo("GSM-7", 0, 0)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (153 * 2, 2), (153 * 2 + 1, 3), (153 * 3, 3), (153 * 3 + 1, 4)],
)
def test_gsm7_boundaries(length: int, segments: int) -> None:
    assert sms_info("a" * length) == SmsInfo("GSM-7", length, segments)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (67 * 2, 2), (67 * 2 + 1, 3), (67 * 3, 3), (67 * 3 + 1, 4)],
)
def test_ucs2_boundaries(length: int, segments: int) -> None:
    assert sms_info("ạ" * length) == SmsInfo("UCS-2", length, segments)


def test_extension_characters_cost_two_septets() -> None:
    for ch in "^{}\\[~]|€\f":
        assert sms_info(ch) == SmsInfo("GSM-7", 2, 1), repr(ch)
    assert sms_info("€" * 80) == SmsInfo("GSM-7", 160, 1)
    assert sms_info("a" * 159 + "€") == SmsInfo("GSM-7", 161, 2)
    assert sms_info("a" * 158 + "€") == SmsInfo("GSM-7", 160, 1)


def test_an_extension_character_is_never_split_across_segments() -> None:
    # 306 septets would fit two segments of 153, but the euro sign straddles the first
    # boundary (septets 153-154), so it moves to the second segment, which then overflows.
    assert sms_info("a" * 152 + "€" + "a" * 152) == SmsInfo("GSM-7", 306, 3)
    # Ending the first segment exactly with the escape pair keeps it at two.
    assert sms_info("a" * 151 + "€" + "a" * 153) == SmsInfo("GSM-7", 306, 2)


def test_characters_outside_the_bmp_count_two_units() -> None:
    assert sms_info("😀") == SmsInfo("UCS-2", 2, 1)
    assert sms_info("😀" * 35) == SmsInfo("UCS-2", 70, 1)
    assert sms_info("😀" * 35 + "a") == SmsInfo("UCS-2", 71, 2)
    # One emoji turns an otherwise GSM text into UCS-2: 5 + 2 units.
    assert sms_info("Hello😀") == SmsInfo("UCS-2", 7, 1)


def test_a_surrogate_pair_is_never_split_across_segments() -> None:
    assert sms_info("ạ" * 66 + "😀" + "ạ" * 66) == SmsInfo("UCS-2", 134, 3)
    assert sms_info("ạ" * 65 + "😀" + "ạ" * 67) == SmsInfo("UCS-2", 134, 2)


def test_vietnamese_with_diacritics_is_ucs2() -> None:
    info = sms_info(REMINDER_VI)
    assert info == SmsInfo("UCS-2", 135, 3)  # one unit past two segments of 67


def test_the_same_reminder_without_diacritics_fits_one_gsm_segment() -> None:
    assert sms_info(REMINDER_VI_ASCII) == SmsInfo("GSM-7", 135, 1)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà@\n\r", "GSM-7"),
        ("ç", "UCS-2"),  # only the capital C-cedilla is in the GSM alphabet
        ("`", "UCS-2"),
        ("á", "UCS-2"),
        ("\x1b", "UCS-2"),  # the escape code is not a character one can send
        ("đ", "UCS-2"),
    ],
)
def test_encoding_choice(text: str, encoding: str) -> None:
    assert sms_info(text).encoding == encoding


def test_newlines_count_one_septet_and_form_feed_two() -> None:
    assert sms_info("a\nb\rc").units == 5
    assert sms_info("a\fb").units == 4
