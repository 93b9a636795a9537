from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service_finder.domain.phones import Phone, PhoneError, normalise_phone

# Landlines are Ofcom's drama ranges (0113 496 0xxx, 020 7946 0xxx, 0808 157 0xxx) or published helplines, so no
# test number can ring a person. libphonenumber refuses Ofcom's drama mobiles (07700 900xxx), so the mobile below
# is only ever parsed, never shown or dialled.


@pytest.mark.parametrize(
    ("written", "number", "display"),
    [
        ("0113 496 0000", "+441134960000", "0113 496 0000"),
        ("(0113) 496-0000", "+441134960000", "0113 496 0000"),
        ("020 7946 0000", "+442079460000", "020 7946 0000"),
        ("0808 157 0000", "+448081570000", "0808 157 0000"),
        # A publisher's own grouping of the same national number is kept: it is how their leaflets print it.
        ("0800 58 58 58", "+44800585858", "0800 58 58 58"),
        ("0800 068 4141", "+448000684141", "0800 068 4141"),
        ("0300 123 3393", "+443001233393", "0300 123 3393"),
        ("07911 123456", "+447911123456", "07911 123456"),
        # Full-width digits (pasted from some word processors) are read as digits.
        ("\uff10\uff18\uff10\uff10 \uff10\uff16\uff18 \uff14\uff11\uff14\uff11", "+448000684141", "0800 068 4141"),
    ],
)
def test_uk_landlines_freephones_and_mobiles_are_e164_with_a_national_display(
    written: str, number: str, display: str
) -> None:
    phone = normalise_phone(written)
    assert phone == Phone(number, display)
    assert phone.tel_uri == f"tel:{number}"


@pytest.mark.parametrize(
    "written",
    ["+44 113 496 0000", "+44 (0)113 496 0000", "0044 113 496 0000", "+441134960000", "tel:+441134960000"],
)
def test_international_forms_of_a_uk_number_are_the_same_number_shown_nationally(written: str) -> None:
    assert normalise_phone(written) == Phone("+441134960000", "0113 496 0000")


def test_a_foreign_number_keeps_its_country_code_in_the_display() -> None:
    assert normalise_phone("+353 1 234 5678") == Phone("+35312345678", "+353 1 234 5678")
    assert normalise_phone("00353 1 234 5678") == Phone("+35312345678", "+353 1 234 5678")


@pytest.mark.parametrize(
    ("written", "number", "display"),
    [
        ("999", "999", "999"),
        ("112", "112", "112"),
        ("111", "111", "111"),
        ("116 123", "116123", "116 123"),  # Samaritans
        ("116123", "116123", "116 123"),
        ("1-1-6-1-2-3", "116123", "116 123"),
        ("116 117", "116117", "116 117"),
        ("85258", "85258", "85258"),  # Shout's text line
        ("85 258", "85258", "85258"),
        ("\uff11\uff11\uff16 \uff11\uff12\uff13", "116123", "116 123"),  # full-width, as for long numbers
    ],
)
def test_crisis_short_codes_are_kept_as_dialled(written: str, number: str, display: str) -> None:
    phone = normalise_phone(written)
    assert phone == Phone(number, display)
    assert phone.tel_uri == f"tel:{number}"


@pytest.mark.parametrize(
    "written",
    [
        "116\u0661\u0662\u0663",  # Arabic-Indic digits: a short code must be stored in ASCII, or tel: cannot dial it
        "8\u0665\u0662\u0665\u0668",
    ],
)
def test_short_codes_in_other_digit_scripts_are_stored_in_ascii(written: str) -> None:
    phone = normalise_phone(written)
    assert phone.number.isascii()
    assert phone.number.isdigit()
    assert phone.number in {"116123", "85258"}


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "   ",
        "abc",
        "Samaritans",
        "99",
        "9999",
        "116 12",
        "123",
        "05258",
        "0113 496",
        "0113 496 00000",
        "07700 900123",  # Ofcom's drama mobile range is not a number anyone can call
        "+44 7700 900 123",
        "0" * 300,
    ],
)
def test_what_cannot_be_dialled_is_refused_naming_the_text(junk: str) -> None:
    with pytest.raises(PhoneError) as caught:
        normalise_phone(junk)
    assert repr(junk) in str(caught.value)
    assert isinstance(caught.value, ValueError)  # what the schemas turn into a 422 / an import problem


def test_an_extension_stays_in_the_display_but_the_number_dials_the_switchboard() -> None:
    phone = normalise_phone("0113 496 0000 ext. 12")
    assert phone == Phone("+441134960000", "0113 496 0000 x12", "12")


@pytest.mark.parametrize("written", ["+1 650 253 0000 ext. 2", "+353 1 234 5678 #2"])
def test_a_foreign_numbers_extension_is_shown_as_the_link_dials_it(written: str) -> None:
    # libphonenumber writes most countries' extensions ' ext. 2', which the link does not read: it rang the
    # switchboard while the display named the desk.
    phone = normalise_phone(written)
    assert phone.display.endswith(" x2")
    assert phone.tel_uri == f"tel:{phone.number};ext=2"


# Properties: anything at all, and near-valid text: real numbers written every way people write them (national,
# +44, 0044, +44 (0), with any separators), some with one digit dropped, added or changed.
SEEDS = ["1134960000", "2079460000", "8081570000", "800585858", "3001233393", "7911123456", "1614960000"]
SHORT_SEEDS = ["999", "111", "116123", "116117", "85258"]


@st.composite
def near_valid_numbers(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        national = draw(st.sampled_from(SEEDS))
        digits = draw(st.sampled_from(["0", "+44", "0044", "+44(0)", "44"])) + national
    else:
        digits = draw(st.sampled_from(SHORT_SEEDS))
    chars = list(digits)
    if draw(st.integers(0, 2)) == 0:  # one typing slip
        at = draw(st.integers(0, len(chars) - 1))
        slip = draw(st.sampled_from(["drop", "add", "change"]))
        digit = draw(st.sampled_from("0123456789"))
        if slip == "drop":
            del chars[at]
        elif slip == "add":
            chars.insert(at, digit)
        else:
            chars[at] = digit
    separators = st.sampled_from(["", "", "", " ", "-", ".", " "])
    return "".join(ch + draw(separators) for ch in chars).strip()


written_numbers = st.one_of(st.text(max_size=30), near_valid_numbers())


@settings(max_examples=400, deadline=None)
@given(written_numbers)
@example("116\u0661\u0662\u0663")
@example("0113 496 0000 x12")
def test_any_text_is_a_phone_or_a_phone_error_and_normalising_again_changes_nothing(text: str) -> None:
    try:
        phone = normalise_phone(text)
    except PhoneError as error:
        message = str(error)
    else:
        # What is stored is dialable as written: E.164, or a short code, in ASCII digits.
        assert re.fullmatch(r"\+[1-9][0-9]{6,14}|[0-9]{3,6}", phone.number), phone
        # Stable: the stored number and the display each read back to the same phone.
        assert normalise_phone(phone.number).number == phone.number
        assert normalise_phone(phone.display) == phone
        return
    assert repr(text) in message


def test_an_extension_is_kept_in_the_link_so_a_tap_reaches_the_desk() -> None:
    phone = normalise_phone("0113 496 0500 ext 2")
    assert (phone.number, phone.display) == ("+441134960500", "0113 496 0500 x2")
    assert phone.tel_uri == "tel:+441134960500;ext=2"
    assert normalise_phone("0113 496 0500").tel_uri == "tel:+441134960500"
    assert normalise_phone("116 123").tel_uri == "tel:116123"
