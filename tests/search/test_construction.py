"""The engine builds its response objects without pydantic's per-field pass (`engine.made`): the objects must be
the ones `model_construct` gives, and a field left out must be an error, not a response missing a field."""

from __future__ import annotations

from typing import Any

import pytest

from service_finder.schemas import Travel
from service_finder.search.engine import made
from tests.factories import make_record
from tests.search.conftest import index_of, run


def test_made_gives_the_object_model_construct_gives() -> None:
    values: dict[str, Any] = {"mode": "walk", "minutes": 12, "arrives_before_close": False}
    ours, theirs = made(Travel, **values), Travel.model_construct(**values)
    assert ours == theirs
    assert ours.model_dump_json() == theirs.model_dump_json()
    assert ours.model_fields_set == theirs.model_fields_set


def test_a_field_left_out_is_an_error_naming_it() -> None:
    with pytest.raises(TypeError, match="arrives_before_close"):
        made(Travel, mode="walk", minutes=12)


def test_a_whole_response_built_this_way_validates_as_the_contract() -> None:
    response = run(index_of([make_record("cafe")]), explain=True, age=30)
    assert response.results
    # Round trip through validation: every field present and of its declared type.
    assert type(response).model_validate_json(response.model_dump_json()) == response
