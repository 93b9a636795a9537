"""A shared generator of N realistic services across England, and of the mixed searches people would run.

Services: the 590 hand-written records shipped in data/ (the national safety-net lines and the demonstration
directory: real schedules, eligibility, referral routes, accessibility) are validated once and used as templates.
Each generated service copies a located template with `model_copy` (no re-validation: the template was validated)
and moves it to a real English postcode drawn from the offline gazetteer, so services sit where people live;
a district catchment moves with it to the new postcode's district. Generating 1,000,000 takes seconds, not the
minutes that validating a million nested dicts would.

Copies share their unchanged nested parts (organisation, schedules, phones) with the template, as an index built
from the store would not: memory measured over copies is a lower bound. `distinct_record_bytes` measures what a
fully validated record that shares nothing costs, so the benchmarks can print the realistic figure beside it;
`distinct_packed_bytes` does the same for a packed directory (over 200,000 services, service_finder/search/packed.py).

Remote services (phone, text, online; no location) are not multiplied: England has a few dozen local crisis lines,
not one per thousand services, and every remote line is a candidate for every search. The national lines and the
demonstration directory's 70 local lines are included once, in every size.
"""

from __future__ import annotations

import gc
import json
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import zstandard

from service_finder.domain.taxonomy import AccessFeature, CatchmentType, ContactMode, Need, ServiceKind
from service_finder.geocoding.gazetteer import Gazetteer
from service_finder.schemas import CatchmentRecord, ResolvedLocation, SearchRequest, ServiceRecord
from service_finder.search import packed

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
GAZETTEER = DATA / "gazetteer" / "england.npz"
LONDON = ZoneInfo("Europe/London")
BUILT_AT = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


def resident_mb() -> float:
    # /proc/self/statm: size resident shared ... in pages; Linux only, no psutil needed.
    with open("/proc/self/statm", encoding="ascii") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    # Nearest-rank: the reported p99 is a latency some query actually had.
    rank = max(0, min(len(sorted_values) - 1, int(np.ceil(fraction * len(sorted_values))) - 1))
    return sorted_values[rank]


def load_templates() -> list[ServiceRecord]:
    records: list[ServiceRecord] = []
    for path in (DATA / "national_lines.json", DATA / "demo" / "directory.json"):
        records.extend(ServiceRecord.model_validate(item) for item in json.loads(path.read_text(encoding="utf-8")))
    return records


@dataclass(frozen=True, slots=True)
class Postcodes:
    """Real English postcodes, drawn uniformly over postcodes (so, roughly, over where people live)."""

    postcode: list[str]
    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]
    district_code: list[str | None]


def sample_postcodes(count: int, seed: int, path: Path = GAZETTEER) -> Postcodes:
    with np.load(path, allow_pickle=False) as archive:
        english = int(np.flatnonzero(archive["country_names"] == "england")[0])
        pool = np.flatnonzero(archive["country"] == english)
        picked = np.random.default_rng(seed).choice(pool, size=count)
        keys = archive["keys"][picked]
        codes = archive["district_codes"]
        districts = archive["district"][picked]
        latitude = archive["latitude"][picked].astype(np.float64).round(6)
        longitude = archive["longitude"][picked].astype(np.float64).round(6)
    postcode = [f"{key[:4].decode('ascii').rstrip()} {key[4:].decode('ascii')}" for key in keys.tolist()]
    district_code = [str(codes[d]) if d >= 0 else None for d in districts.tolist()]
    return Postcodes(postcode, latitude, longitude, district_code)


def generate(count: int, *, seed: int = 7, templates: Sequence[ServiceRecord] | None = None) -> list[ServiceRecord]:
    """`count` services: the templates' national and remote lines once, the rest copies of located templates."""
    return list(iter_generate(count, seed=seed, templates=templates))


def iter_generate(
    count: int, *, seed: int = 7, templates: Sequence[ServiceRecord] | None = None
) -> Iterator[ServiceRecord]:
    """The services of `generate`, one at a time: an index built from them never holds them all as objects."""
    templates = list(templates) if templates is not None else load_templates()
    fixed = [t for t in templates if not t.locations]
    located = [t for t in templates if t.locations]
    copies = max(0, count - len(fixed))
    places = sample_postcodes(copies, seed)
    rng = random.Random(seed)
    catchments: dict[str, CatchmentRecord] = {}
    yield from fixed[:count]
    # Millions of new objects and no cycles among them: the cyclic collector would only rescan them, again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield from _copy_located(located, places, copies, rng, catchments)
    finally:
        if collecting:
            gc.enable()


def _copy_located(
    located: Sequence[ServiceRecord],
    places: Postcodes,
    copies: int,
    rng: random.Random,
    catchments: dict[str, CatchmentRecord],
) -> Iterator[ServiceRecord]:
    for i in range(copies):
        template = located[rng.randrange(len(located))]
        place = template.locations[0]
        district = places.district_code[i]
        location = place.model_copy(
            update={
                "postcode": places.postcode[i],
                "latitude": float(places.latitude[i]),
                "longitude": float(places.longitude[i]),
                "district_code": district,
            }
        )
        update: dict[str, object] = {
            "id": f"s{i:07d}-{template.id}"[:80].rstrip("-"),
            "name": f"{template.name} {i}",
            "locations": [location],
        }
        catchment = template.eligibility.catchment
        if catchment is not None and catchment.type is CatchmentType.districts and district is not None:
            if district not in catchments:
                catchments[district] = CatchmentRecord(type=CatchmentType.districts, districts=[district])
            update["eligibility"] = template.eligibility.model_copy(update={"catchment": catchments[district]})
        yield template.model_copy(update=update)


def distinct_record_bytes(sample: int = 5000, seed: int = 7) -> float:
    """Resident bytes per record when every record is validated from its own dict and shares nothing."""
    raw = [record.model_dump(mode="json") for record in generate(sample, seed=seed)]
    text = json.dumps(raw)
    del raw
    gc.collect()
    before = resident_mb()
    # Parsed from JSON text, as records read back from the store are: fresh strings, fresh nested objects.
    kept = [ServiceRecord.model_validate(item, context={"stored": True}) for item in json.loads(text)]
    gc.collect()
    per_record = (resident_mb() - before) * 1e6 / len(kept)
    del kept
    return per_record


@dataclass(frozen=True, slots=True)
class PackedSize:
    count: int
    mean: float


def distinct_packed_bytes() -> PackedSize:
    """Bytes per record packed (service_finder/search/packed.py) for records unlike the ones the dictionary was
    learnt from: the templates (each distinct), the dictionary learnt from every other one, the rest measured."""
    texts = [record.model_dump_json().encode() for record in load_templates()]
    writer = zstandard.ZstdCompressor(level=packed.LEVEL, dict_data=packed.learnt(texts[::2]))
    sizes = [len(writer.compress(text)) for text in texts[1::2]]
    return PackedSize(len(sizes), sum(sizes) / len(sizes))


@dataclass(frozen=True, slots=True)
class Query:
    request: SearchRequest
    location: ResolvedLocation | None
    at: datetime


# Instants people search at: evenings and nights (when crisis cafés open), weekday daytime, a weekend,
# the small hours, and a bank holiday (Whit Monday 2026, 25 May).
INSTANTS = [
    datetime(2026, 6, 10, 20, 30, tzinfo=LONDON),
    datetime(2026, 6, 11, 2, 15, tzinfo=LONDON),
    datetime(2026, 6, 12, 11, 0, tzinfo=LONDON),
    datetime(2026, 6, 13, 18, 45, tzinfo=LONDON),
    datetime(2026, 6, 14, 23, 50, tzinfo=LONDON),
    datetime(2026, 5, 25, 15, 0, tzinfo=LONDON),
    datetime(2026, 12, 24, 21, 0, tzinfo=LONDON),
]
IN_PERSON_KINDS = [
    ServiceKind.crisis_cafe,
    ServiceKind.crisis_house,
    ServiceKind.walk_in_crisis_assessment,
    ServiceKind.dual_diagnosis,
    ServiceKind.substance_use,
    ServiceKind.self_harm_aftercare,
    ServiceKind.peer_support,
]


def queries(count: int, *, seed: int = 11, gazetteer: Gazetteer | None = None) -> list[Query]:
    """A realistic mix: full postcodes and postcode districts, ages, needs, drinking, open modes, explain."""
    gazetteer = gazetteer or Gazetteer.load(GAZETTEER)
    rng = random.Random(seed)
    places = sample_postcodes(count, seed)
    needs = list(Need)
    result = []
    for i in range(count):
        postcode: str | None = places.postcode[i]
        roll = rng.random()
        if roll < 0.02:
            postcode = None  # no location: phone and online services and the safety net
        elif roll < 0.17:
            postcode = postcode.split(" ")[0] if postcode else None  # a postcode district only
        fields: dict[str, object] = {
            "postcode": postcode,
            "age": None if rng.random() < 0.2 else rng.randint(14, 85),
            "needs": rng.sample(needs, rng.choice([0, 1, 1, 2, 3])),
            "intoxicated": True if rng.random() < 0.2 else None,
            "uses_substances": True if rng.random() < 0.3 else None,
            "referral": "professional" if rng.random() < 0.3 else "self",
            "open": rng.choice(["now", "now", "now", "now", "now", "within:60", "within:120", "any", "any"]),
            "radius_km": rng.choice([25, 25, 25, 25, 10, 50]),
            "explain": rng.random() < 0.2,
            "limit": rng.choice([10, 10, 10, 5, 20]),
        }
        if rng.random() < 0.15:
            fields["kinds"] = rng.sample(IN_PERSON_KINDS, rng.randint(1, 2))
        if rng.random() < 0.05:
            fields["access"] = [AccessFeature.step_free]
        if rng.random() < 0.05:
            fields["modes"] = [ContactMode.phone]
        request = SearchRequest.model_validate(fields)
        location = None
        if request.postcode is not None:
            point = gazetteer.resolve(request.postcode)
            location = ResolvedLocation(
                latitude=point.latitude,
                longitude=point.longitude,
                source="postcode_district" if point.is_district else "postcode",
                postcode=point.postcode,
                district_code=point.district_code,
                district_name=point.district_name,
            )
        result.append(Query(request, location, rng.choice(INSTANTS)))
    return result
