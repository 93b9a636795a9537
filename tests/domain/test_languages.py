from __future__ import annotations

import pytest

from service_finder.domain.languages import LanguageCodeError, canonical_language, language_name, stored_language
from tests.factories import make_record


@pytest.mark.parametrize(
    ("code", "canonical"),
    [("pa", "pa"), ("pan", "pa"), ("eng", "en"), ("urd", "ur"), ("syl", "syl"), ("bfi", "bfi"), ("phr", "phr")],
)
def test_a_language_has_one_code_its_two_letter_one_where_it_has_one(code: str, canonical: str) -> None:
    assert canonical_language(code) == canonical


@pytest.mark.parametrize("code", ["zz", "zzz", "qqq", "e", "engl", "und", "zxx", "mul", "mis"])
def test_a_code_that_names_no_language_is_refused(code: str) -> None:
    with pytest.raises(LanguageCodeError, match="no language has this code"):
        canonical_language(code)


def test_a_record_keeps_its_two_letter_codes_and_writes_three_letter_ones_as_searched() -> None:
    # A stored record with an unknown two-letter code stays readable (so its service stays in search); a new
    # three-letter code must name a language.
    assert stored_language("zz") == "zz"
    assert stored_language("pan") == "pa"
    with pytest.raises(LanguageCodeError):
        stored_language("zzz")


def test_a_language_is_named_in_english() -> None:
    assert (language_name("pan"), language_name("syl"), language_name("zz")) == ("Panjabi", "Sylheti", None)


def test_a_language_listed_twice_by_its_two_codes_is_listed_once() -> None:
    record = make_record(access={"languages": ["en", "pa", "pan", "syl"]})
    assert record.access.languages == ["en", "pa", "syl"]
