from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service_finder.domain.postcode import Postcode, PostcodeError, normalise_postcode, parse_postcode

# Royal Mail's six outward shapes (A9, A99, AA9, AA99, A9A, AA9A) and the inward 9AA, written out independently.
OUTWARD_SHAPES = [r"[A-Z][0-9]", r"[A-Z][0-9]{2}", r"[A-Z]{2}[0-9]", r"[A-Z]{2}[0-9]{2}", r"[A-Z][0-9][A-Z]"]
OUTWARD_SHAPES.append(r"[A-Z]{2}[0-9][A-Z]")
outwards = st.one_of([st.from_regex(rf"\A{shape}\Z") for shape in OUTWARD_SHAPES])
inwards = st.from_regex(r"\A[0-9][A-Z]{2}\Z")
blanks = st.text(alphabet=" \t\n", max_size=3)


@st.composite
def respelt(draw: st.DrawFn, text: str) -> str:
    """The same postcode as a person might type it: any case, any spacing around and inside."""
    cased = "".join(ch.lower() if draw(st.booleans()) else ch for ch in text)
    outward, inward = cased[:-3], cased[-3:]
    return f"{draw(blanks)}{outward}{draw(blanks)}{inward}{draw(blanks)}"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("sw1a2aa", "SW1A 2AA"),
        ("  ls1   1ur ", "LS1 1UR"),
        ("EC1A 1BB", "EC1A 1BB"),
        ("m1 1ae", "M1 1AE"),
        ("b338th", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("dn55 1pt", "DN55 1PT"),
        ("W1A\t0AX", "W1A 0AX"),
    ],
)
def test_every_spelling_of_a_postcode_normalises_to_royal_mail_form(typed: str, canonical: str) -> None:
    assert normalise_postcode(typed) == canonical


def test_a_postcode_district_parses_but_is_not_a_full_postcode() -> None:
    district = parse_postcode(" ls1 ")
    assert district == Postcode("LS1", None)
    assert district.is_district
    assert str(district) == "LS1"
    with pytest.raises(PostcodeError, match="'ls1' is a postcode district"):
        normalise_postcode("ls1")


@pytest.mark.parametrize("junk", ["", "   ", "LS1 1U", "1LS 1UR", "LS1 1URR", "SW1A 2A1", "L", "ZZZ1 1ZZ", "LS1-1UR"])
def test_text_not_shaped_like_a_postcode_is_refused_naming_the_text(junk: str) -> None:
    with pytest.raises(PostcodeError, match=re.escape(repr(junk))):
        parse_postcode(junk)


@pytest.mark.parametrize(
    ("typed", "district"), [("CA1 5", "CA1"), ("td1 5", "TD1"), ("E1 1", "E1"), ("SW1A\u00a02", "SW1A")]
)
def test_a_postcode_sector_is_refused_not_joined_into_another_district(typed: str, district: str) -> None:
    # With the space dropped, 'CA1 5' read as CA15 (another district, 40 km away) and 'TD1 5' (Scotland) as TD15
    # (England): a search near the wrong place, with nothing to show it.
    with pytest.raises(PostcodeError, match=f"give the whole postcode or its district '{district}'"):
        parse_postcode(typed)


@pytest.mark.parametrize("typed", ["LS 11UR", "L S1 1UR", "LS1 1 UR", "LS1 1U R", "SW1 A2AA", "LS1 1UR X"])
def test_a_space_anywhere_but_between_the_halves_is_refused(typed: str) -> None:
    with pytest.raises(PostcodeError, match=re.escape(repr(typed))):
        parse_postcode(typed)


@given(outwards, inwards, st.data())
def test_any_spelling_of_a_valid_postcode_round_trips(outward: str, inward: str, data: st.DataObject) -> None:
    canonical = f"{outward} {inward}"
    typed = data.draw(respelt(canonical))
    assert normalise_postcode(typed) == canonical
    assert parse_postcode(canonical) == Postcode(outward, inward)
    assert normalise_postcode(normalise_postcode(typed)) == canonical


@given(outwards, blanks, blanks)
def test_any_spelling_of_a_district_parses_to_the_district(outward: str, before: str, after: str) -> None:
    assert parse_postcode(f"{before}{outward.lower()}{after}") == Postcode(outward, None)


@given(st.text())
def test_junk_never_crashes_only_postcode_error(text: str) -> None:
    try:
        postcode = parse_postcode(text)
    except PostcodeError as error:
        message = str(error)
    else:
        # Whatever is accepted has a canonical spelling that parses back to itself.
        assert parse_postcode(str(postcode)) == postcode
        assert re.fullmatch(r"[A-Z]{1,2}[0-9][0-9A-Z]?( [0-9][A-Z]{2})?", str(postcode))
        return
    assert repr(text) in message


@pytest.mark.parametrize(
    "lookalike",
    ["L\u017f1 1UR", "LS1 1\u0131UR", "LS1\x1f1UR", "LS1\x1c1UR", "LS1\u200b1UR", "\uff2c\uff331 1UR", "LS\u0661 1UR"],
    ids=["long-s", "dotless-i", "unit-separator", "file-separator", "zero-width-space", "fullwidth", "arabic-digit"],
)
def test_text_that_only_looks_like_a_postcode_is_refused(lookalike: str) -> None:
    # str.upper() makes a long s an S and a dotless i an I; control characters counted as spaces. Each was searched
    # as LS1 1UR, though nobody can say what was meant.
    with pytest.raises(PostcodeError, match="use letters and digits"):
        parse_postcode(lookalike)


@pytest.mark.parametrize("space", ["\u00a0", "\u2009", "\u2002", "\u3000", "\n", "\x0b", "\x85"])
def test_a_postcode_with_any_space_people_type_or_paste_is_read(space: str) -> None:
    # A web page's non-breaking space, a thin space, an input method's ideographic space: all were read before
    # lookalike letters were refused, and still are.
    assert normalise_postcode(f"LS1{space}1UR{space}") == "LS1 1UR"
