"""Postcode reading no other test pinned (found by hand mutation testing of domain/postcode.py)."""

from __future__ import annotations

import pytest

from service_finder.domain.postcode import PostcodeError, parse_postcode


@pytest.mark.parametrize("separator", ["\x1c", "\x1d", "\x1e", "\x1f"], ids=["file", "group", "record", "unit"])
def test_every_ascii_separator_control_is_refused_not_read_as_a_space(separator: str) -> None:
    # Python counts U+001C-U+001F as white space; nobody types them, so text holding one is not searched as LS1 1UR.
    with pytest.raises(PostcodeError, match="use letters and digits"):
        parse_postcode(f"LS1{separator}1UR")
