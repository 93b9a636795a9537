"""Hazard H08 (wrong eligibility) for catchments on results: a drawn area tested against the person's location,
and a location that may be in one of several districts."""

from __future__ import annotations

from typing import Any

from service_finder.schemas import ResolvedLocation
from tests.factories import make_record
from tests.search.conftest import LEEDS, LEEDS_DISTRICT, WAKEFIELD_DISTRICT, exclusion_reasons, index_of, result, run

# A square around Leeds city centre.
SQUARE = [[-1.7, 53.7], [-1.4, 53.7], [-1.4, 53.9], [-1.7, 53.9], [-1.7, 53.7]]


def cafe(service_id: str, catchment: dict[str, Any]) -> Any:
    return make_record(service_id, eligibility={"minimum_age": None, "catchment": catchment})


def test_a_drawn_catchment_is_tested_against_where_the_person_is() -> None:
    drawn = cafe("drawn-cafe", {"type": "polygon", "geojson": {"type": "Polygon", "coordinates": [SQUARE]}})
    index = index_of([drawn])
    inside = result(run(index, open="any"), "drawn-cafe")
    assert inside.eligibility.verdict.value == "eligible"
    assert {c.criterion: c.result.value for c in inside.eligibility.criteria}["catchment"] == "pass"
    # 12 km north of the square's edge, still within the search radius of the café.
    outside = LEEDS.model_copy(update={"latitude": 54.01})
    response = run(index, location=outside, open="any", explain=True)
    assert "drawn-cafe" not in [r.service.id for r in response.results]
    assert "only for people living in its area" in exclusion_reasons(response, "drawn-cafe")


def test_a_place_that_may_be_in_either_of_two_districts_is_not_in_a_third() -> None:
    third = cafe("bradford-only", {"type": "districts", "districts": ["E08000032"]})
    both = cafe("leeds-or-wakefield", {"type": "districts", "districts": [LEEDS_DISTRICT, WAKEFIELD_DISTRICT]})
    one = cafe("leeds-only", {"type": "districts", "districts": [LEEDS_DISTRICT]})
    boundary = ResolvedLocation(
        latitude=53.8,
        longitude=-1.55,
        source="coordinates",
        district_code=LEEDS_DISTRICT,
        district_codes=[LEEDS_DISTRICT, WAKEFIELD_DISTRICT],
    )
    response = run(index_of([third, both, one]), location=boundary, open="any", explain=True)
    verdicts = {r.service.id: r.eligibility.verdict.value for r in response.results}
    # Listed in both: certain. In one of them: "check". In neither: left out, never "check".
    assert verdicts == {"leeds-or-wakefield": "eligible", "leeds-only": "check"}
    assert any("only for people living in" in reason for reason in exclusion_reasons(response, "bradford-only"))


def test_a_catchment_is_named_by_the_districts_the_person_may_be_in_not_the_lists_first_four() -> None:
    # A line covering four other districts first and then Wakefield, as the Middlesbrough line covers four
    # Teesside districts and then North Yorkshire: for someone in LS29 (Bradford, Leeds or North Yorkshire) it said
    # "only for people living in Hartlepool, Middlesbrough, Redcar and Cleveland or Stockton-on-Tees and more; could
    # not tell which area you are in", naming none of theirs, and not why the answer was "check".
    teesside = ["E06000001", "E06000002", "E06000003", "E06000004"]
    line = cafe("tees-and-wakefield", {"type": "districts", "districts": [*teesside, WAKEFIELD_DISTRICT]})
    index = index_of([line])

    def catchment_words(**where: Any) -> tuple[str, str]:
        found = result(run(index, location=LEEDS.model_copy(update=where), open="any"), "tees-and-wakefield")
        return next((c.result.value, c.reason) for c in found.eligibility.criteria if c.criterion == "catchment")

    either = catchment_words(district_codes=[LEEDS_DISTRICT, WAKEFIELD_DISTRICT])
    assert either == (
        "unknown",
        f"covers {WAKEFIELD_DISTRICT} but not {LEEDS_DISTRICT}, and could not tell which you are in",
    )
    # The same result from another pair of districts, in the same snapshot: its own words, not the first pair's.
    assert catchment_words(district_codes=["E08000032", WAKEFIELD_DISTRICT])[1].endswith(
        "but not E08000032, and could not tell which you are in"
    )
    wakefield = catchment_words(district_code=WAKEFIELD_DISTRICT, district_codes=[WAKEFIELD_DISTRICT])
    assert wakefield == ("pass", f"covers your area ({WAKEFIELD_DISTRICT})")
