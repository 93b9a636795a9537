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
