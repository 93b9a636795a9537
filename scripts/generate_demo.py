"""Generate the demonstration directory, data/demo/directory.json.

    .venv/bin/python scripts/generate_demo.py [--gazetteer data/gazetteer/england.npz] [--output PATH]

Every record is fictional and says so four ways: the name ends " (demo)", the description starts
"Demonstration record: not a real service.", provenance.source_name is "demo", and the organisations are
invented. Locations sit at real postcodes (coordinates and district from the offline gazetteer) so that
distance and catchment searches behave as they would on real data. Phone numbers come only from Ofcom's ranges
reserved for drama, so nobody real is ever called; links and e-mail addresses are under example.org.

The output is a pure function of SEED, REFERENCE_DATE and the gazetteer: running the script twice gives identical
bytes (records sorted by id, no wall-clock time, sets sorted before use), and a test fails when the committed file
drifts from what this script produces.

The national lines (999, NHS 111 option 2, Samaritans, Shout, Papyrus, CALM) are real and live, written by hand,
in data/national_lines.json. CALM (17:00 to midnight) is not marked safety_net there: a safety-net line is shown
whatever the hour, and a line that is closed half the day must not be offered as the always-there fallback; it
is still found by ordinary ranking while it is open.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Protocol

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the package importable without installing it
    sys.path.insert(0, str(REPO))

from service_finder.domain.phones import normalise_phone  # noqa: E402
from service_finder.domain.taxonomy import (  # noqa: E402
    DEMO_SOURCE,
    AccessFeature,
    ContactMode,
    Gender,
    Need,
    ReferralRoute,
    ServiceKind,
    ServiceStatus,
)
from service_finder.importers.pipeline import PointLike  # noqa: E402
from service_finder.schemas import DISTRICT_PATTERN, ServiceRecord, slugify  # noqa: E402

SEED = 20261001
# Verification dates are spread around this fixed day, never around "today", so the output does not drift.
REFERENCE_DATE = date(2026, 10, 1)
DEFAULT_GAZETTEER = REPO / "data" / "gazetteer" / "england.npz"
DEFAULT_OUTPUT = REPO / "data" / "demo" / "directory.json"
DEMO_SUFFIX = " (demo)"
DEMO_PREFIX = "Demonstration record: not a real service."
STALE_SHARE = 0.10
TEMPORARILY_CLOSED = 5
INACTIVE = 3


class PostcodeSource(Protocol):
    """The part of `service_finder.geocoding.gazetteer.Gazetteer` the generator uses."""

    def lookup(self, postcode: str) -> PointLike | None: ...
    def postcodes_in_outcode(self, outcode: str) -> list[str]: ...


class Place(NamedTuple):
    latitude: float
    longitude: float
    district: str


# Ofcom's numbers reserved for TV, radio and film ("drama numbers"): never allocated to anyone. Only ranges that
# libphonenumber accepts as valid are used (0115 496 and 07700 900 are reserved but fail its validity check).
DRAMA_RANGES: dict[str, str] = {
    "leeds": "0113 496 0",
    "sheffield": "0114 496 0",
    "leicester": "0116 496 0",
    "bristol": "0117 496 0",
    "reading": "0118 496 0",
    "birmingham": "0121 496 0",
    "liverpool": "0151 496 0",
    "manchester": "0161 496 0",
    "tyneside": "0191 498 0",
    "london": "020 7946 0",
    "national": "03069 990",
    "freephone": "0808 157 0",
}


@dataclass(frozen=True, slots=True)
class Town:
    label: str  # what services are named after: a town, a city or a London borough
    city: str
    outcodes: tuple[str, ...]  # central outcodes the demo locations are drawn from
    tier: int  # 1: large city, 2: city or London borough, 3: town
    phones: str = "national"  # key of DRAMA_RANGES for local numbers
    languages: tuple[str, ...] = ()  # community languages some services there offer besides English


TOWNS: tuple[Town, ...] = (
    # London, by borough: its services are commissioned borough by borough.
    Town("Camden", "London", ("NW1", "NW5"), 2, "london", ("bn", "so", "ar")),
    Town("Hackney", "London", ("E8", "E5"), 2, "london", ("tr", "yi", "pl")),
    Town("Lambeth", "London", ("SW9", "SE11"), 2, "london", ("pt", "es", "so")),
    Town("Newham", "London", ("E15", "E13"), 2, "london", ("bn", "ur", "pa", "lt")),
    Town("Southwark", "London", ("SE1", "SE15"), 2, "london", ("es", "yo", "pt")),
    Town("Tower Hamlets", "London", ("E1", "E14"), 2, "london", ("bn", "so")),
    Town("Haringey", "London", ("N17", "N15"), 2, "london", ("tr", "pl", "so")),
    Town("Ealing", "London", ("W5", "W13"), 2, "london", ("pa", "pl", "so", "ar")),
    Town("Croydon", "London", ("CR0",), 2, "london", ("ta", "ur", "pl")),
    # North East and Cumbria
    Town("Newcastle", "Newcastle upon Tyne", ("NE1", "NE4", "NE6"), 1, "tyneside", ("ar", "bn", "pl")),
    Town("Sunderland", "Sunderland", ("SR1", "SR2"), 2, "tyneside"),
    Town("Middlesbrough", "Middlesbrough", ("TS1", "TS5"), 3, "national", ("ur", "ar")),
    Town("Durham", "Durham", ("DH1",), 3),
    Town("Carlisle", "Carlisle", ("CA1", "CA2"), 3),
    Town("Barrow", "Barrow-in-Furness", ("LA14",), 3),
    # North West
    Town("Manchester", "Manchester", ("M1", "M4", "M13", "M14"), 1, "manchester", ("ur", "ar", "pl", "so")),
    Town("Liverpool", "Liverpool", ("L1", "L3", "L8"), 1, "liverpool", ("ar", "so", "pl")),
    Town("Bolton", "Bolton", ("BL1", "BL3"), 3, "national", ("gu", "ur")),
    Town("Preston", "Preston", ("PR1",), 3, "national", ("gu", "ur", "pl")),
    Town("Blackpool", "Blackpool", ("FY1",), 3),
    Town("Lancaster", "Lancaster", ("LA1",), 3),
    Town("Warrington", "Warrington", ("WA1", "WA2"), 3, "national", ("pl",)),
    Town("Chester", "Chester", ("CH1",), 3),
    # Yorkshire and the Humber
    Town("Leeds", "Leeds", ("LS1", "LS2", "LS6", "LS9", "LS11"), 1, "leeds", ("ur", "pa", "pl", "ro")),
    Town("Sheffield", "Sheffield", ("S1", "S2", "S3", "S4"), 1, "sheffield", ("ur", "ar", "so", "sk")),
    Town("Bradford", "Bradford", ("BD1", "BD3", "BD8"), 2, "national", ("ur", "pa", "bn", "pl")),
    Town("Hull", "Kingston upon Hull", ("HU1", "HU2", "HU3"), 2, "national", ("pl", "lt", "ku")),
    Town("York", "York", ("YO1", "YO31"), 3),
    Town("Huddersfield", "Huddersfield", ("HD1",), 3, "national", ("ur", "pa")),
    Town("Doncaster", "Doncaster", ("DN1",), 3, "national", ("pl", "ro")),
    Town("Scarborough", "Scarborough", ("YO11", "YO12"), 3),
    # Midlands
    Town("Birmingham", "Birmingham", ("B1", "B4", "B5", "B12", "B18"), 1, "birmingham", ("ur", "pa", "bn", "so", "ar")),
    Town("Nottingham", "Nottingham", ("NG1", "NG7"), 2, "national", ("ur", "pl", "ar")),
    Town("Leicester", "Leicester", ("LE1", "LE2"), 2, "leicester", ("gu", "pa", "so", "pl")),
    Town("Coventry", "Coventry", ("CV1",), 2, "national", ("pa", "pl", "ar")),
    Town("Derby", "Derby", ("DE1", "DE22"), 3, "national", ("pa", "ur", "sk")),
    Town("Stoke", "Stoke-on-Trent", ("ST1", "ST4"), 3, "national", ("ur", "pl")),
    Town("Wolverhampton", "Wolverhampton", ("WV1",), 3, "national", ("pa",)),
    Town("Lincoln", "Lincoln", ("LN1", "LN2"), 3, "national", ("pl", "lt")),
    Town("Northampton", "Northampton", ("NN1",), 3, "national", ("pl", "ro")),
    Town("Worcester", "Worcester", ("WR1",), 3),
    Town("Hereford", "Hereford", ("HR1",), 3),
    Town("Shrewsbury", "Shrewsbury", ("SY1",), 3),
    # East of England
    Town("Norwich", "Norwich", ("NR1", "NR2", "NR3"), 2, "national", ("pl", "pt")),
    Town("Cambridge", "Cambridge", ("CB1", "CB2"), 2, "national", ("zh", "pl")),
    Town("Peterborough", "Peterborough", ("PE1",), 3, "national", ("pl", "lt", "ur")),
    Town("Ipswich", "Ipswich", ("IP1", "IP4"), 3, "national", ("pl", "pt")),
    Town("Great Yarmouth", "Great Yarmouth", ("NR30",), 3, "national", ("pt", "lt")),
    Town("Luton", "Luton", ("LU1",), 3, "national", ("ur", "bn", "pl")),
    Town("Colchester", "Colchester", ("CO1",), 3),
    Town("Chelmsford", "Chelmsford", ("CM1",), 3),
    # South East
    Town("Brighton", "Brighton", ("BN1", "BN2"), 2, "national", ("ar", "pl", "es")),
    Town("Oxford", "Oxford", ("OX1", "OX4"), 2, "national", ("ur", "pl")),
    Town("Reading", "Reading", ("RG1",), 3, "reading", ("pa", "ur", "pl")),
    Town("Southampton", "Southampton", ("SO14", "SO15"), 2, "national", ("pl", "pa")),
    Town("Portsmouth", "Portsmouth", ("PO1", "PO5"), 3, "national", ("bn", "ne")),
    Town("Milton Keynes", "Milton Keynes", ("MK9",), 3, "national", ("pl", "ro")),
    Town("Canterbury", "Canterbury", ("CT1",), 3),
    Town("Maidstone", "Maidstone", ("ME14",), 3),
    Town("Guildford", "Guildford", ("GU1",), 3),
    # South West
    Town("Bristol", "Bristol", ("BS1", "BS2", "BS5"), 1, "bristol", ("so", "pl", "ar")),
    Town("Plymouth", "Plymouth", ("PL1", "PL4"), 2, "national", ("pl",)),
    Town("Exeter", "Exeter", ("EX1", "EX4"), 3),
    Town("Truro", "Truro", ("TR1",), 3),
    Town("Torquay", "Torquay", ("TQ1", "TQ2"), 3),
    Town("Taunton", "Taunton", ("TA1",), 3),
    Town("Bath", "Bath", ("BA1", "BA2"), 3),
    Town("Gloucester", "Gloucester", ("GL1",), 3, "national", ("gu", "pl")),
    Town("Swindon", "Swindon", ("SN1",), 3, "national", ("ml", "pl")),
    Town("Bournemouth", "Bournemouth", ("BH1",), 3, "national", ("pl", "es")),
)

# Invented place-like words for organisation names: none is a real charity, trust or company.
ORG_PREFIXES = (
    "Ashcombe Vale",
    "Brackenholt",
    "Corrowdale",
    "Dunmerrow",
    "Elderwick",
    "Fernhallow",
    "Glenmarrow",
    "Harrowdene",
    "Kestrelmoor",
    "Larkhollow",
    "Marrowby",
    "Nethercombe",
    "Ormsleigh",
    "Pellowby",
    "Quillbrook",
    "Rushcombe",
    "Saltherne",
    "Thistlewood",
    "Wyndmere",
    "Yarrowby",
    "Northfield Vale",
    "Copperbeck",
    "Hollinwray",
    "Stannerford",
)
ORG_ROLES = {
    "health": ("Health and Care Partnership", "A fictional provider of community mental-health services."),
    "wellbeing": ("Wellbeing Collective", "A fictional voluntary-sector provider of crisis and peer support."),
    "recovery": ("Recovery Network", "A fictional drug and alcohol recovery service."),
}
KIND_ROLE = {
    ServiceKind.crisis_line: "health",
    ServiceKind.walk_in_crisis_assessment: "health",
    ServiceKind.self_harm_aftercare: "health",
    ServiceKind.dual_diagnosis: "health",
    ServiceKind.psychological_therapy: "health",
    ServiceKind.crisis_cafe: "wellbeing",
    ServiceKind.crisis_house: "wellbeing",
    ServiceKind.peer_support: "wellbeing",
    ServiceKind.substance_use: "recovery",
}
BUILDINGS = (
    "The Lantern Rooms",
    "Harbour House",
    "Willow Court",
    "The Old Library",
    "Mill Yard Centre",
    "Beacon House",
    "Orchard Rooms",
    "Station Chambers",
    "The Quayside Hub",
    "Meadow House",
)
STREETS = ("Lantern Yard", "Quill Lane", "Harbour Row", "Copper Street", "Orchard Walk", "Beacon Road", "Mill Yard")

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAYS = DAYS[:5]
CHRISTMAS = (date(2026, 12, 24), date(2026, 12, 26))
NEW_YEARS_EVE = date(2026, 12, 31)
CORE_NEEDS = (Need.suicidal_thoughts, Need.self_harm, Need.anxiety_depression, Need.complex_emotional_needs)
FEATURES = (
    AccessFeature.step_free,
    AccessFeature.wheelchair,
    AccessFeature.accessible_toilet,
    AccessFeature.hearing_loop,
    AccessFeature.quiet_space,
    AccessFeature.interpreters,
    AccessFeature.bsl,
)


@dataclass(frozen=True, slots=True)
class Variant:
    """One kind of demo service as it would be named and run: what differs between a youth café and a haven."""

    kind: ServiceKind
    name: str  # after the town label: "{label} {name}"
    summary: str  # one sentence; "{town}" is replaced
    minimum_age: int | None = 18
    maximum_age: int | None = None
    genders: tuple[Gender, ...] = ()
    needs: tuple[Need, ...] = ()
    hours: str = "default"  # key of HOURS


CAFES = (
    Variant(
        ServiceKind.crisis_cafe,
        "Evening Safe Haven",
        "An evening safe haven in {town} for adults in emotional distress, instead of A&E.",
    ),
    Variant(
        ServiceKind.crisis_cafe,
        "Crisis Café",
        "A crisis café in {town}: a calm place to talk to trained staff when things feel too much.",
    ),
    Variant(
        ServiceKind.crisis_cafe,
        "Night Sanctuary",
        "A late-night sanctuary in {town} for people in crisis, open into the early hours.",
        hours="overnight",
    ),
    Variant(
        ServiceKind.crisis_cafe,
        "Wellbeing Hub",
        "An out-of-hours wellbeing hub in {town} with staff and peer workers.",
        minimum_age=16,
    ),
)
YOUTH_CAFE = Variant(
    ServiceKind.crisis_cafe,
    "Youth Safe Space",
    "An after-school safe space in {town} for young people aged 11 to 18 who are struggling.",
    minimum_age=11,
    maximum_age=18,
    needs=(Need.young_people,),
    hours="youth",
)
HOUSES = (
    Variant(
        ServiceKind.crisis_house,
        "Crisis House",
        "A short-stay crisis house in {town}: up to a week's stay as an alternative to hospital.",
    ),
    Variant(
        ServiceKind.crisis_house,
        "Women's Crisis House",
        "A women-only crisis house in {town}, including for women who have experienced abuse.",
        genders=(Gender.women,),
        needs=(Need.domestic_abuse,),
    ),
)
WALK_IN = Variant(
    ServiceKind.walk_in_crisis_assessment,
    "Mental Health Crisis Assessment Centre",
    "A walk-in mental-health crisis assessment centre in {town}: no appointment needed.",
    minimum_age=18,
)
DUAL = Variant(
    ServiceKind.dual_diagnosis,
    "Dual Diagnosis Clinic",
    "A clinic in {town} for people with mental-health needs and drug or alcohol use together.",
    needs=(Need.dual_diagnosis, Need.substance_use, Need.alcohol),
)
SUBSTANCE = (
    Variant(
        ServiceKind.substance_use,
        "Drug and Alcohol Service",
        "Drug and alcohol treatment and recovery support in {town}, with a drop-in for new people.",
        needs=(Need.substance_use, Need.alcohol),
    ),
    Variant(
        ServiceKind.substance_use,
        "Alcohol Recovery Hub",
        "Alcohol advice, detox planning and recovery groups in {town}.",
        needs=(Need.alcohol,),
    ),
)
AFTERCARE = Variant(
    ServiceKind.self_harm_aftercare,
    "Self-Harm Aftercare Service",
    "Follow-up support in {town} in the days after self-harm or a crisis visit to A&E.",
    minimum_age=16,
    needs=(Need.self_harm, Need.suicidal_thoughts),
)
THERAPIES = (
    Variant(
        ServiceKind.psychological_therapy,
        "Talking Therapies",
        "Talking therapies in {town} for anxiety and depression: refer yourself online or by phone.",
        needs=(Need.anxiety_depression,),
    ),
    Variant(
        ServiceKind.psychological_therapy,
        "Young Adults' Talking Therapies",
        "Talking therapies in {town} for people aged 16 to 24.",
        minimum_age=16,
        maximum_age=24,
        needs=(Need.anxiety_depression, Need.young_people),
    ),
)
PEER_GROUPS = (
    Variant(
        ServiceKind.peer_support,
        "Peer Support Group",
        "An evening peer support group in {town} run by people with lived experience of crisis.",
        hours="peer",
    ),
    Variant(
        ServiceKind.peer_support,
        "Suicide Bereavement Peer Group",
        "A peer group in {town} for people bereaved by suicide.",
        needs=(Need.bereavement, Need.suicidal_thoughts),
        hours="peer",
    ),
    Variant(
        ServiceKind.peer_support,
        "Women's Peer Circle",
        "A women-only peer support circle in {town}.",
        genders=(Gender.women,),
        hours="peer",
    ),
    Variant(
        ServiceKind.peer_support,
        "Men's Talking Group",
        "A peer group in {town} where men can talk about how they are really doing.",
        genders=(Gender.men,),
        needs=(Need.suicidal_thoughts,),
        hours="peer",
    ),
    Variant(
        ServiceKind.peer_support,
        "Under-25s Peer Group",
        "A peer support group in {town} for people aged 16 to 24.",
        minimum_age=16,
        maximum_age=24,
        needs=(Need.young_people,),
        hours="peer",
    ),
    Variant(
        ServiceKind.peer_support,
        "Veterans' Peer Support",
        "Peer support in {town} for armed forces veterans and their families.",
        needs=(Need.veterans,),
        hours="peer",
    ),
    Variant(
        ServiceKind.peer_support,
        "LGBTQ+ Peer Support",
        "A peer support group in {town} for LGBTQ+ people.",
        minimum_age=16,
        needs=(Need.lgbtq,),
        hours="peer",
    ),
    Variant(
        ServiceKind.peer_support,
        "Hearing Voices Group",
        "A peer group in {town} for people who hear voices or have unusual experiences.",
        needs=(Need.psychosis,),
        hours="peer",
    ),
)
CRISIS_LINE = Variant(
    ServiceKind.crisis_line,
    "Mental Health Crisis Line",
    "The local 24/7 mental-health crisis line for {town} and the surrounding area: phone, any hour.",
    minimum_age=None,
    needs=(Need.suicidal_thoughts, Need.self_harm, Need.psychosis, Need.anxiety_depression),
)


def _session(day: str, opens: str, closes: str) -> dict[str, str]:
    return {"day": day, "opens_at": opens, "closes_at": closes}


class Builder:
    """Turns towns into record dicts; every random choice goes through one seeded Random, in a fixed order."""

    def __init__(self, gazetteer: PostcodeSource, rng: random.Random) -> None:
        self.gazetteer = gazetteer
        self.rng = rng
        self.phone_counters: dict[str, int] = dict.fromkeys(DRAMA_RANGES, 0)
        self.probe_cache: dict[str, list[Place]] = {}

    # --- places -----------------------------------------------------------------------------------------------

    def postcodes(self, town: Town) -> list[str]:
        found = [pc for outcode in town.outcodes for pc in self.gazetteer.postcodes_in_outcode(outcode)]
        if not found:
            raise ValueError(f"town {town.label!r}: no postcode in outcodes {list(town.outcodes)} is in the gazetteer")
        return found

    def pick(self, postcodes: Sequence[str]) -> tuple[str, Place]:
        """A random postcode of the town that lies in an English district (nearly all of them)."""
        for _ in range(100):
            postcode = self.rng.choice(postcodes)
            if (place := self.place(postcode)) is not None:
                return postcode, place
        raise ValueError(f"no postcode among {postcodes[0]}...{postcodes[-1]} is in an English district")

    def place(self, postcode: str) -> Place | None:
        """Where a postcode (or an outcode's centroid) is, if it is in an English district."""
        point = self.gazetteer.lookup(postcode)
        # Border outcodes (CH, SY, TD) mix England with Wales or Scotland; only English districts fit a catchment.
        if point is None or point.country != "england" or not point.district_code:
            return None
        if not _ENGLISH_DISTRICT.match(point.district_code):
            return None
        return Place(round(float(point.latitude), 6), round(float(point.longitude), 6), point.district_code)

    def probes(self, area: str) -> list[Place]:
        """The centroid of every outcode in a postcode area ("LS1" ... "LS99"): where its districts lie."""
        if area not in self.probe_cache:
            found = (self.place(f"{area}{number}") for number in range(100))
            self.probe_cache[area] = [place for place in found if place is not None]
        return self.probe_cache[area]

    def districts_near(self, town: Town, latitude: float, longitude: float, radius_km: float) -> list[str]:
        areas = sorted({_AREA.sub("", outcode) for outcode in town.outcodes})
        found = {
            district
            for area in areas
            for lat, lon, district in self.probes(area)
            if _km(latitude, longitude, lat, lon) <= radius_km
        }
        return sorted(found)

    # --- contact details ----------------------------------------------------------------------------------------

    def phone(self, range_key: str) -> str:
        count = self.phone_counters[range_key]
        if count >= 1000:
            raise ValueError(f"drama range {DRAMA_RANGES[range_key]!r} has no numbers left")
        self.phone_counters[range_key] = count + 1
        number = f"{DRAMA_RANGES[range_key]}{count:03d}"
        normalise_phone(number)  # raises if a range stops being a valid number
        return number

    # --- one service ----------------------------------------------------------------------------------------------

    def service(
        self, town: Town, variant: Variant, organisation: dict[str, Any], postcodes: list[str]
    ) -> dict[str, Any]:
        rng = self.rng
        base_name = f"{town.label} {variant.name}"
        # "Women's" -> "womens", "Café" -> "cafe": ids people can type.
        service_id = slugify(
            unicodedata.normalize("NFKD", base_name.replace("'", "")).encode("ascii", "ignore").decode()
        )
        kind = variant.kind
        is_line = kind is ServiceKind.crisis_line
        locations: list[dict[str, Any]] = []
        anchor_postcode, anchor = self.pick(postcodes)
        if not is_line:
            locations.append(
                {
                    "id": f"{service_id}-site",
                    "name": rng.choice(BUILDINGS),
                    "address": f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
                    "city": town.city,
                    "postcode": anchor_postcode,
                    "latitude": anchor.latitude,
                    "longitude": anchor.longitude,
                    "district_code": anchor.district,
                    "description": "Demonstration location: the postcode is real, the service is not.",
                }
            )
        radius = {1: 12.0, 2: 8.0, 3: 15.0}[town.tier] * (2.0 if is_line else 1.0)
        if town.city == "London":
            radius = 6.0 if is_line else 3.0
        districts = self.districts_near(town, anchor.latitude, anchor.longitude, radius)
        if anchor.district not in districts:
            districts = sorted([*districts, anchor.district])
        catchment: dict[str, Any] | None = {"type": "districts", "districts": districts}
        roll = rng.random()
        if kind in {ServiceKind.crisis_cafe, ServiceKind.peer_support} and roll < 0.12:
            catchment = {"type": "england"}  # "anyone who can get here"
        elif not is_line and roll > 0.96:
            catchment = None  # the directory does not know

        phones = []
        if is_line:
            phones.append(
                {"number": self.phone("freephone"), "type": "voice", "description": "24 hours a day, every day."}
            )
        elif kind is not ServiceKind.peer_support or rng.random() < 0.7:
            phones.append({"number": self.phone(town.phones), "type": "voice"})

        summary = variant.summary.format(town=town.label)
        record: dict[str, Any] = {
            "id": service_id,
            "name": base_name + DEMO_SUFFIX,
            "organisation": organisation,
            "description": f"{DEMO_PREFIX} {summary}",
            "url": f"https://example.org/demo/{service_id}",
            "email": f"{service_id}@example.org" if rng.random() < 0.5 else None,
            "status": ServiceStatus.active.value,
            "alert": "",
            "kind": kind.value,
            "needs": self.needs(variant),
            "safety_net": False,
            "eligibility": self.eligibility(variant, catchment),
            "access": self.access(town, variant),
            "locations": locations,
            "phones": phones,
            "schedules": [self.schedule(service_id, variant, locations[0]["id"] if locations else None)],
            "provenance": self.provenance(),
        }
        return record

    def needs(self, variant: Variant) -> list[str]:
        rng = self.rng
        chosen = set(variant.needs)
        kind = variant.kind
        if kind in {ServiceKind.crisis_cafe, ServiceKind.crisis_house, ServiceKind.walk_in_crisis_assessment}:
            chosen.update(CORE_NEEDS)
            extras = (Need.homelessness, Need.lgbtq, Need.carers, Need.autism_learning_disability, Need.veterans)
            chosen.update(rng.sample(extras, rng.randint(0, 2)))
            if kind is not ServiceKind.crisis_cafe:
                chosen.add(Need.psychosis)
        elif kind is ServiceKind.crisis_line:
            chosen.update(CORE_NEEDS)
        elif kind is ServiceKind.dual_diagnosis:
            chosen.update(rng.sample((Need.psychosis, Need.complex_emotional_needs, Need.homelessness), 2))
        elif kind is ServiceKind.substance_use and rng.random() < 0.4:
            chosen.add(Need.homelessness)
        elif kind is ServiceKind.psychological_therapy:
            chosen.update(rng.sample((Need.perinatal, Need.eating_disorder, Need.bereavement, Need.older_people), 1))
        elif kind is ServiceKind.peer_support and not chosen:
            chosen.update((Need.suicidal_thoughts, Need.complex_emotional_needs))
        return [need.value for need in Need if need in chosen]

    def eligibility(self, variant: Variant, catchment: dict[str, Any] | None) -> dict[str, Any]:
        rng = self.rng
        kind = variant.kind
        routes: list[ReferralRoute]
        intoxicated: bool | None = None
        substance: bool | None = None
        gp: bool | None = False
        R = ReferralRoute  # noqa: N806 (a local alias keeps the route lists readable)
        if kind is ServiceKind.crisis_line:
            routes = [R.self_referral]
        elif kind is ServiceKind.crisis_cafe:
            routes = [R.walk_in, R.self_referral]
            routes += rng.sample([R.nhs_111, R.police, R.gp, R.crisis_team], rng.randint(0, 2))
            if variant.maximum_age is not None:
                routes.append(R.professional)
            intoxicated = False if rng.random() < 0.7 else None
            substance = True if rng.random() < 0.5 else None
            gp = False if rng.random() < 0.8 else None
        elif kind is ServiceKind.crisis_house:
            routes = [R.crisis_team, *rng.sample([R.professional, R.emergency_department], rng.randint(0, 2))]
            if rng.random() < 0.2:
                routes.append(R.self_referral)  # after a phone assessment, as some houses allow
            intoxicated = False if rng.random() < 0.6 else None
            substance = True if rng.random() < 0.4 else None
            gp = None if rng.random() < 0.6 else False
        elif kind is ServiceKind.walk_in_crisis_assessment:
            routes = [R.walk_in, *rng.sample([R.self_referral, R.nhs_111, R.gp, R.police], rng.randint(1, 4))]
            intoxicated = None if rng.random() < 0.6 else False
        elif kind is ServiceKind.dual_diagnosis:
            routes = [R.professional] if rng.random() < 0.3 else [R.gp, R.professional, R.crisis_team]
            substance = True
            intoxicated = None if rng.random() < 0.5 else False
            gp = True if rng.random() < 0.7 else None
        elif kind is ServiceKind.substance_use:
            routes = (
                [R.walk_in, R.self_referral, R.gp, R.professional] if rng.random() < 0.7 else [R.self_referral, R.gp]
            )
            substance = True
            intoxicated = rng.choice([True, False, None])
        elif kind is ServiceKind.self_harm_aftercare:
            routes = [R.emergency_department, R.crisis_team, R.gp]
            if rng.random() < 0.4:
                routes.append(R.self_referral)
            gp = None if rng.random() < 0.5 else False
        elif kind is ServiceKind.psychological_therapy:
            routes = [R.self_referral, R.gp]
            gp = True if rng.random() < 0.85 else None
            intoxicated = None if rng.random() < 0.6 else False
        else:  # peer support
            routes = [R.walk_in, R.self_referral] if rng.random() < 0.7 else [R.self_referral]
            intoxicated = False if rng.random() < 0.5 else None
            gp = False if rng.random() < 0.7 else None
        minimum_age = variant.minimum_age
        if kind is ServiceKind.crisis_line and rng.random() < 0.2:
            minimum_age = 18
        elif kind is ServiceKind.crisis_cafe and variant.maximum_age is None and rng.random() < 0.2:
            minimum_age = 16
        described = ""
        if kind is ServiceKind.crisis_line:
            described = "Adults living in the area." if minimum_age else "People of any age living in the area."
        return {
            "minimum_age": minimum_age,
            "maximum_age": variant.maximum_age,
            "genders": [g.value for g in variant.genders],
            "catchment": catchment,
            "gp_registration_required": gp,
            "referral_routes": [route.value for route in ReferralRoute if route in routes],
            "accepts_intoxicated": intoxicated,
            "accepts_substance_use": substance,
            "description": described,
        }

    def access(self, town: Town, variant: Variant) -> dict[str, Any]:
        rng = self.rng
        kind = variant.kind
        modes = {
            ServiceKind.crisis_line: [ContactMode.phone],
            ServiceKind.psychological_therapy: [ContactMode.in_person, ContactMode.phone, ContactMode.online],
            ServiceKind.peer_support: [ContactMode.in_person] + ([ContactMode.online] if rng.random() < 0.3 else []),
        }.get(kind, [ContactMode.in_person, ContactMode.phone])
        accessibility: dict[str, bool] = {}
        if kind is not ServiceKind.crisis_line and rng.random() > 0.1:  # about one in ten: nothing known
            for feature in FEATURES:
                roll = rng.random()
                if roll < 0.55:
                    accessibility[feature.value] = True
                elif roll < 0.7:
                    accessibility[feature.value] = False
        elif kind is ServiceKind.crisis_line:
            accessibility[AccessFeature.interpreters.value] = rng.random() < 0.6
        # Keep the flags consistent: a wheelchair-accessible building is step-free.
        if accessibility.get(AccessFeature.wheelchair.value):
            accessibility[AccessFeature.step_free.value] = True
        if accessibility.get(AccessFeature.step_free.value) is False:
            accessibility[AccessFeature.wheelchair.value] = False
        if Gender.women in variant.genders:
            accessibility[AccessFeature.women_only_space.value] = True
        languages = ["en"]
        if town.languages and rng.random() < 0.45:
            languages += sorted(rng.sample(town.languages, rng.randint(1, min(3, len(town.languages)))))
        waits: dict[ServiceKind, Sequence[int | None]] = {
            ServiceKind.psychological_therapy: (14, 21, 28, 42, 56, 84),
            ServiceKind.self_harm_aftercare: (1, 2, 3, 5, 7),
            ServiceKind.dual_diagnosis: (14, 21, 28, 42),
            ServiceKind.substance_use: (0, 1, 3, 7, 14),
            ServiceKind.crisis_house: (0, 1, 2, None),
        }
        wait = rng.choice(waits[kind]) if kind in waits else None
        return {
            "contact_modes": [mode.value for mode in ContactMode if mode in modes],
            "accessibility": {
                feature.value: accessibility[feature.value]
                for feature in AccessFeature
                if feature.value in accessibility
            },
            "languages": languages,
            "cost": "free",
            "fees_description": "",
            "typical_wait_days": wait,
        }

    def schedule(self, service_id: str, variant: Variant, location_id: str | None) -> dict[str, Any]:
        rng = self.rng
        kind = variant.kind
        schedule: dict[str, Any] = {"id": f"{service_id}-hours", "location_id": location_id}
        sessions: list[dict[str, str]] = []
        if kind in {ServiceKind.crisis_line, ServiceKind.crisis_house}:
            return {**schedule, "always_open": True, "notes": "24/7"}
        if kind is ServiceKind.walk_in_crisis_assessment:
            if rng.random() < 0.6:
                return {**schedule, "always_open": True, "notes": "24/7"}
            opens = rng.choice(["08:00", "10:00"])
            sessions = [_session(day, opens, "22:00") for day in DAYS]
        elif kind is ServiceKind.crisis_cafe and variant.hours == "youth":
            days = rng.choice([WEEKDAYS, ("tuesday", "thursday"), ("monday", "wednesday", "friday")])
            sessions = [_session(day, "16:00", "20:00") for day in days]
            if rng.random() < 0.5:
                sessions.append(_session("saturday", "12:00", "16:00"))
        elif kind is ServiceKind.crisis_cafe:
            sessions = self._cafe_sessions(overnight=variant.hours == "overnight")
        elif kind is ServiceKind.dual_diagnosis:
            sessions = [_session(day, "09:00", "17:00") for day in WEEKDAYS]
            if rng.random() < 0.3:
                sessions[1] = _session("tuesday", "09:00", "19:00")
        elif kind is ServiceKind.substance_use:
            friday_close = rng.choice(["17:00", "16:30"])
            sessions = [_session(day, "09:00", friday_close if day == "friday" else "17:00") for day in WEEKDAYS]
            evening = rng.choice(["wednesday", "thursday", None])
            if evening is not None:  # an evening drop-in after the day service
                sessions = [s for s in sessions if s["day"] != evening] + [_session(evening, "09:00", "20:00")]
            if rng.random() < 0.25:
                sessions.append(_session("saturday", "10:00", "13:00"))
        elif kind is ServiceKind.self_harm_aftercare:
            sessions = [_session(day, "09:00", "17:00") for day in WEEKDAYS]
        elif kind is ServiceKind.psychological_therapy:
            opens = rng.choice(["08:30", "09:00"])
            late = set(rng.sample(WEEKDAYS, rng.randint(0, 2)))
            sessions = [_session(day, opens, "20:00" if day in late else "17:00") for day in WEEKDAYS]
        elif rng.random() < 0.15:  # peer support: a Saturday morning group
            sessions = [_session("saturday", "11:00", "13:00")]
        else:  # peer support: one or two evenings a week
            start = rng.choice(["18:00", "18:30", "19:00"])
            end = {"18:00": "20:00", "18:30": "20:30", "19:00": "21:00"}[start]
            sessions = [_session(day, start, end) for day in rng.sample(WEEKDAYS, rng.randint(1, 2))]
        sessions.sort(key=lambda s: DAYS.index(s["day"]))
        schedule["sessions"] = sessions
        schedule.update(self._holidays(kind))
        return schedule

    def _cafe_sessions(self, *, overnight: bool) -> list[dict[str, str]]:
        rng = self.rng
        if overnight:
            days: Sequence[str] = rng.choice(
                [("thursday", "friday", "saturday", "sunday"), ("friday", "saturday"), DAYS]
            )
            closes = rng.choice(["02:00", "03:00"])
            return [_session(day, "20:00" if closes == "03:00" else "18:00", closes) for day in days]
        pattern = rng.choice(["every evening", "every evening late", "weeknights", "some evenings", "weekend"])
        if pattern == "every evening":
            return [_session(day, "18:00", "23:00") for day in DAYS]
        if pattern == "every evening late":
            return [_session(day, "17:00", "24:00") for day in DAYS]
        if pattern == "weeknights":
            return [_session(day, "17:00", "22:00") for day in WEEKDAYS]
        if pattern == "some evenings":
            days = sorted(rng.sample(DAYS, rng.randint(2, 4)), key=DAYS.index)
            return [_session(day, "18:00", "22:00") for day in days]
        return [_session(day, "18:00", "01:00") for day in ("friday", "saturday", "sunday")]

    def _holidays(self, kind: ServiceKind) -> dict[str, Any]:
        rng = self.rng
        out: dict[str, Any] = {}
        roll = rng.random()
        if kind is ServiceKind.crisis_cafe:
            if roll < 0.2:
                out["bank_holidays"] = "closed"
            elif roll < 0.3:
                out["bank_holidays"] = "special"
                out["bank_holiday_hours"] = [{"opens_at": "16:00", "closes_at": "22:00"}]
            exceptions = []
            if rng.random() < 0.15:
                exceptions.append(
                    {
                        "start_date": CHRISTMAS[0].isoformat(),
                        "end_date": CHRISTMAS[1].isoformat(),
                        "closed": True,
                        "reason": "Closed over Christmas",
                    }
                )
            if rng.random() < 0.08:
                exceptions.append(
                    {
                        "start_date": NEW_YEARS_EVE.isoformat(),
                        "end_date": NEW_YEARS_EVE.isoformat(),
                        "closed": False,
                        "hours": [{"opens_at": "18:00", "closes_at": "04:00"}],
                        "reason": "Open late on New Year's Eve",
                    }
                )
            if exceptions:
                out["exceptions"] = exceptions
        elif kind is not ServiceKind.peer_support:
            # Weekday daytime services close on bank holidays, as NHS clinics and most charities do.
            out["bank_holidays"] = "closed" if roll < 0.85 else "as_usual"
        elif roll < 0.5:
            out["bank_holidays"] = "closed"
        return out

    def provenance(self) -> dict[str, Any]:
        # Stale records are chosen afterwards (exactly STALE_SHARE of them); here every record is in date.
        checked = REFERENCE_DATE - timedelta(days=self.rng.randint(7, 330))
        verified_at = datetime(checked.year, checked.month, checked.day, self.rng.randint(9, 16), tzinfo=UTC)
        return {
            "source_name": DEMO_SOURCE,
            "source_url": None,
            "verified_at": verified_at.isoformat(),
            "verify_due": (checked + timedelta(days=365)).isoformat(),
        }


_ENGLISH_DISTRICT = re.compile(DISTRICT_PATTERN)
_AREA = re.compile(r"\d.*$")  # "LS11" -> "LS": the postcode area of an outcode


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def _organisation(prefix: str, role: str) -> dict[str, Any]:
    title, description = ORG_ROLES[role]
    name = f"{prefix} {title}"
    org_id = slugify(f"{name} demo")
    return {
        "id": org_id,
        "name": name + DEMO_SUFFIX,
        "description": f"{description} Demonstration data.",
        "url": f"https://example.org/demo/org/{org_id}",
        "email": f"{org_id}@example.org",
    }


def _variants(town: Town, rng: random.Random) -> list[Variant]:
    """Which services a town has: every town the basics, bigger places more (proportions as in England)."""
    tier = town.tier
    chosen = [CRISIS_LINE]
    chosen += rng.sample(CAFES, {1: 2, 2: 1, 3: 1}[tier] + (1 if tier < 3 and rng.random() < 0.5 else 0))
    if tier == 1 or rng.random() < 0.25:
        chosen.append(YOUTH_CAFE)
    houses = 2 if tier == 1 else (1 if tier == 2 or rng.random() < 0.45 else 0)
    chosen += list(HOUSES[:houses])
    if tier < 3 or rng.random() < 0.25:
        chosen.append(WALK_IN)
    if tier == 1 or rng.random() < (0.5 if tier == 2 else 0.2):
        chosen.append(DUAL)
    chosen += list(SUBSTANCE[: 2 if tier == 1 else 1])
    if tier == 1 or rng.random() < (0.6 if tier == 2 else 0.4):
        chosen.append(AFTERCARE)
    chosen += list(THERAPIES[: 2 if tier == 1 else 1])
    chosen += rng.sample(PEER_GROUPS, {1: 3, 2: 1, 3: 1}[tier] + (1 if tier == 2 and rng.random() < 0.4 else 0))
    return chosen


def generate(gazetteer: PostcodeSource, *, seed: int = SEED) -> list[ServiceRecord]:
    rng = random.Random(seed)
    builder = Builder(gazetteer, rng)
    raw: list[dict[str, Any]] = []
    for town in TOWNS:
        postcodes = builder.postcodes(town)
        prefixes = rng.sample(ORG_PREFIXES, 3)
        organisations = {role: _organisation(prefix, role) for role, prefix in zip(ORG_ROLES, prefixes, strict=True)}
        for variant in _variants(town, rng):
            raw.append(builder.service(town, variant, organisations[KIND_ROLE[variant.kind]], postcodes))
    raw.sort(key=lambda record: record["id"])
    _mark_stale_and_closed(raw, rng)
    records = [ServiceRecord.model_validate(record) for record in raw]
    ids = [record.id for record in records]
    if len(set(ids)) != len(ids):
        raise ValueError(f"service ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    _check_organisations(records)
    return records


def _mark_stale_and_closed(raw: list[dict[str, Any]], rng: random.Random) -> None:
    for record in rng.sample(raw, round(len(raw) * STALE_SHARE)):
        # Checked 13 to 24 months before the reference date and not re-checked since: past its review date.
        checked = REFERENCE_DATE - timedelta(days=rng.randint(395, 730))
        verified_at = datetime(checked.year, checked.month, checked.day, 10, tzinfo=UTC)
        record["provenance"]["verified_at"] = verified_at.isoformat()
        record["provenance"]["verify_due"] = (checked + timedelta(days=365)).isoformat()
    located = [record for record in raw if record["locations"]]
    closing = rng.sample(located, TEMPORARILY_CLOSED + INACTIVE)
    for record in closing[:TEMPORARILY_CLOSED]:
        record["status"] = ServiceStatus.temporarily_closed.value
        record["alert"] = "Temporarily closed for building work until 30 November 2026 (demonstration alert)."
    for record in closing[TEMPORARILY_CLOSED:]:
        record["status"] = ServiceStatus.inactive.value
        record["alert"] = "This service has stopped running (demonstration alert)."


def _check_organisations(records: Iterable[ServiceRecord]) -> None:
    seen: dict[str, Any] = {}
    for record in records:
        org = record.organisation
        if seen.setdefault(org.id, org) != org:
            raise ValueError(f"organisation {org.id!r} appears with different details")


def render(records: Sequence[ServiceRecord]) -> str:
    dumped = [record.model_dump(mode="json") for record in sorted(records, key=lambda r: r.id)]
    return json.dumps(dumped, ensure_ascii=False, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from service_finder.geocoding.gazetteer import Gazetteer  # noqa: PLC0415

    parser = argparse.ArgumentParser(description="Write the demonstration directory (fictional services).")
    parser.add_argument("--gazetteer", type=Path, default=DEFAULT_GAZETTEER)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if not args.gazetteer.exists():
        print(f"gazetteer {args.gazetteer} does not exist: run `make gazetteer` first", file=sys.stderr)
        return 1
    records = generate(Gazetteer.load(args.gazetteer))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(records), encoding="utf-8")
    towns = {loc.city for r in records for loc in r.locations}
    print(f"wrote {len(records)} demonstration services in {len(towns)} towns to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
