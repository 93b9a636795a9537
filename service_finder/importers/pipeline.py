"""One import path for every format: parse, check everything, then write all or nothing in one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from geopy.distance import great_circle
from sqlalchemy.engine import Engine

from service_finder.domain.provenance import MAX_REVIEW_INTERVAL, latest_review_due
from service_finder.errors import Conflict, PreconditionFailed
from service_finder.importers.report import (
    Parsed,
    Problem,
    RepeatedKey,
    describe_value,
    load_json,
    validate_record,
)
from service_finder.schemas import LocationRecord, ServiceRecord
from service_finder.storage import repository
from service_finder.storage.db import write_session
from service_finder.storage.repository import Change, SharedRowsChanged

Format = Literal["csv", "hsds", "native"]

# Stored coordinates further than this from their postcode's centroid are almost certainly wrong (swapped,
# truncated, or the wrong postcode); large sites still sit well inside it.
MAX_POSTCODE_DISTANCE_KM = 2.0
# How far ahead of this server's clock a verified_at may be (another machine's clock, a time zone slip).
CLOCK_SKEW = timedelta(days=1)


class PointLike(Protocol):
    @property
    def latitude(self) -> float: ...
    @property
    def longitude(self) -> float: ...
    @property
    def district_code(self) -> str | None: ...
    @property
    def country(self) -> str: ...


class PostcodeLookup(Protocol):
    def lookup(self, postcode: str) -> PointLike | None: ...
    def knows_district(self, code: str) -> bool: ...


@dataclass(slots=True)
class ImportReport:
    source: str
    format: str
    records: int = 0
    problems: list[Problem] = field(default_factory=list)
    outcome: Counter[Change] = field(default_factory=Counter)
    dry_run: bool = False

    @property
    def accepted(self) -> bool:
        return not self.problems

    @property
    def written(self) -> bool:
        return self.accepted and not self.dry_run

    def summary(self) -> str:
        if not self.accepted:
            return (
                f"{self.source}: rejected, {len(self.problems)} problem(s) in {self.records} record(s); nothing written"
            )
        verb = "would be" if self.dry_run else "were"
        counts = ", ".join(f"{self.outcome[c]} {c.value}" for c in Change)
        return f"{self.source}: {self.records} record(s) {verb} imported ({counts})"


def parse_native(data: Any) -> list[Parsed]:
    if not isinstance(data, list):
        return [
            Parsed("file", None, [Problem("file", "", describe_value(type(data).__name__), "expected a JSON array")])
        ]
    parsed = []
    for index, item in enumerate(data, start=1):
        ident = item.get("id") if isinstance(item, dict) else None
        where = f"record {index} (id {ident!r})" if isinstance(ident, str) else f"record {index}"
        parsed.append(validate_record(where, item))
    return parsed


def read_file(path: Path, fmt: Format | None = None) -> tuple[Format, list[Parsed]]:
    from service_finder.importers import csv_format, formats, hsds  # noqa: PLC0415  (heavy, CLI-only)

    raw = path.read_bytes()
    fmt = fmt or formats.detect_format(path, raw[:4096])
    if fmt == "csv":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            return fmt, [Parsed("file", None, [Problem("file", "", "", f"{path.name} is not UTF-8 text: {error}")])]
        return fmt, csv_format.parse_csv(text)
    try:
        data = load_json(raw)
    except RepeatedKey as error:  # valid JSON, but which of the two values the publisher meant is a guess
        return fmt, [Parsed("file", None, [Problem("file", "", "", f"{path.name}: {error}")])]
    except ValueError as error:
        return fmt, [Parsed("file", None, [Problem("file", "", "", f"{path.name} is not valid JSON: {error}")])]
    return fmt, hsds.parse_hsds(data) if fmt == "hsds" else parse_native(data)


def _check_location(where: str, index: int, location: LocationRecord, gazetteer: PostcodeLookup) -> list[Problem]:
    path = f"locations.{index}"
    point = gazetteer.lookup(location.postcode)
    if point is None:
        return [Problem(where, f"{path}.postcode", repr(location.postcode), "not a known postcode")]
    if point.country != "england":
        message = f"postcode is in {point.country.title()}, outside England"
        return [Problem(where, f"{path}.postcode", repr(location.postcode), message)]
    distance = great_circle((point.latitude, point.longitude), (location.latitude, location.longitude)).km
    if distance > MAX_POSTCODE_DISTANCE_KM:
        value = f"({location.latitude}, {location.longitude})"
        message = f"coordinates are {distance:.1f} km from postcode {location.postcode}"
        return [Problem(where, f"{path}.latitude", value, message)]
    return []


def _check_catchment(where: str, record: ServiceRecord, gazetteer: PostcodeLookup) -> list[Problem]:
    catchment = record.eligibility.catchment
    if catchment is None:
        return []
    # A code no postcode is in matches nobody: the service would be left out for everyone, "only for people
    # living in" a place that does not exist (a mistyped E08000035 for Leeds).
    return [
        Problem(where, f"eligibility.catchment.districts.{index}", repr(code), "not a known local-authority district")
        for index, code in enumerate(catchment.districts)
        if not gazetteer.knows_district(code)
    ]


def _check_verified_at(where: str, verified: datetime | None) -> list[Problem]:
    if verified is None:
        return []
    if verified.tzinfo is None:
        # The template asks for an offset, and this is an instant, not a wall time: '2024-05-02' read as London
        # midnight would be 1 May in UTC, read as UTC would be an hour out all summer. Refused, never guessed.
        message = "has no time-zone offset: write one, e.g. 2024-05-02T10:30:00+01:00, or Z for UTC"
        return [Problem(where, "provenance.verified_at", repr(verified.isoformat()), message)]
    if verified > datetime.now(UTC) + CLOCK_SKEW:
        # A check in the future would keep the record "verified" long after anyone looked at it.
        return [Problem(where, "provenance.verified_at", verified.isoformat(), "is in the future")]
    return []


def _check_verify_due(where: str, verified: datetime | None, due: date | None) -> list[Problem]:
    if verified is None or due is None or verified.tzinfo is None:  # no check to be due after, or refused above
        return []
    if due < verified.date():
        message = f"is before verified_at ({verified.isoformat()}): a review cannot fall due before the check"
        return [Problem(where, "provenance.verify_due", repr(due.isoformat()), message)]
    if due > (latest := latest_review_due(verified)):
        # Search would count the check only until then anyway (domain.provenance.review_due): refused rather than
        # stored as a date the record does not keep.
        message = (
            f"is more than {MAX_REVIEW_INTERVAL.days} days after verified_at ({verified.isoformat()}): "
            f"a check counts until {latest.isoformat()} at the latest"
        )
        return [Problem(where, "provenance.verify_due", repr(due.isoformat()), message)]
    return []


# Given first: (content, where). Organisations and locations are rows the store shares between services, keyed by
# id across the directory: two records giving one id different content would leave whichever was written last,
# and every re-import of the file would be a change.
_SharedSeen = dict[tuple[str, str], tuple[dict[str, Any], str]]


def _check_shared(seen: _SharedSeen, item: Parsed, kind: str, path: str, content: dict[str, Any]) -> list[Problem]:
    ident = str(content["id"])
    here = item.in_source_terms(Problem(item.where, f"{path}.id", "", "")).where
    first, first_where = seen.setdefault((kind, ident), (content, here))
    problems = []
    for key, value in content.items():
        if first.get(key) != value:
            message = (
                f"{kind} {ident!r} is given differently in {first_where} ({describe_value(first.get(key))}); "
                f"every record naming it must give the same {key}"
            )
            problems.append(item.in_source_terms(Problem(item.where, f"{path}.{key}", describe_value(value), message)))
    return problems


def check_records(parsed: Sequence[Parsed], gazetteer: PostcodeLookup | None) -> list[Parsed]:
    """Checks that need the whole file or the gazetteer; fills each location's district from its postcode."""
    seen: dict[str, str] = {}
    schedule_owners: dict[str, tuple[str, str]] = {}  # schedule id: (record id, where)
    shared: _SharedSeen = {}
    checked: list[Parsed] = []
    for item in parsed:
        record = item.record
        if record is None:
            checked.append(item)
            continue
        found: list[Problem] = []
        if record.id in seen:
            found.append(Problem(item.where, "id", repr(record.id), f"duplicate id: also {seen[record.id]}"))
        found.extend(_check_verified_at(item.where, record.provenance.verified_at))
        found.extend(_check_verify_due(item.where, record.provenance.verified_at, record.provenance.verify_due))
        seen.setdefault(record.id, item.where)
        for position, schedule in enumerate(record.schedules):
            # Schedule ids are keys across the whole directory, not per service (a repeated record id is
            # reported above, once).
            owner = schedule_owners.setdefault(schedule.id, (record.id, item.where))
            if owner[0] != record.id:
                message = f"duplicate schedule id: also {owner[1]}"
                found.append(Problem(item.where, f"schedules.{position}.id", repr(schedule.id), message))
        if gazetteer is not None:
            found.extend(_check_catchment(item.where, record, gazetteer))
            locations = []
            for index, location in enumerate(record.locations):
                found.extend(_check_location(item.where, index, location, gazetteer))
                point = gazetteer.lookup(location.postcode)
                filled = location
                # The district is the postcode's, always: one sent with a record (or kept from an earlier read when
                # an editor moves a site) would otherwise decide catchments and local lines for the wrong area.
                if point is not None and point.district_code and location.district_code != point.district_code:
                    filled = location.model_copy(update={"district_code": point.district_code})
                locations.append(filled)
            record = record.model_copy(update={"locations": locations})
        problems = [*item.problems, *(item.in_source_terms(problem) for problem in found)]
        # After the gazetteer filled districts: what the store would be given.
        problems += _check_shared(
            shared, item, "organisation", "organisation", record.organisation.model_dump(mode="json")
        )
        for index, location in enumerate(record.locations):
            problems += _check_shared(shared, item, "location", f"locations.{index}", location.model_dump(mode="json"))
        checked.append(Parsed(item.where, record if not problems else None, problems, item.in_source_terms))
    return checked


def import_records(
    engine: Engine,
    parsed: Sequence[Parsed],
    *,
    source: str,
    fmt: str,
    gazetteer: PostcodeLookup | None,
    actor: str,
    dry_run: bool = False,
    update_shared: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """`update_shared`: change locations and organisations that services outside the file use too (they move
    with them); otherwise such a change is a problem naming the record, the field and those services."""
    checked = check_records(parsed, gazetteer)
    report = ImportReport(source=source, format=fmt, records=len(checked), dry_run=dry_run)
    report.problems = [problem for item in checked for problem in item.problems]
    if report.problems:
        return report
    records: list[ServiceRecord] = [item.record for item in checked if item.record is not None]
    # One transaction: a failure anywhere (or a kill -9) leaves the store exactly as it was.
    with write_session(engine) as session:
        try:
            report.outcome = repository.upsert_services(
                session, records, actor=actor, progress=progress, others_unchanged=not update_shared
            )
        except SharedRowsChanged as error:  # nothing written: the block ends without a commit
            by_id = {item.record.id: item for item in checked if item.record is not None}
            report.problems = [
                by_id[change.record_id].in_source_terms(
                    Problem(by_id[change.record_id].where, change.field, describe_value(change.new), change.message)
                )
                for change in error.changes
            ]
            return report
        except Conflict as error:  # a schedule id another service in the store already uses: nothing written
            report.problems = [Problem("file", error.field or "", repr(error.value), error.detail)]
            return report
        except PreconditionFailed as error:  # someone else saved one of the services meanwhile: nothing written
            item = next((i for i in checked if i.record is not None and i.record.id == error.value), None)
            message = "changed in the directory during the import; nothing written; run the import again"
            report.problems = [Problem(item.where if item else f"service {error.value!r}", "", "", message)]
            return report
        if not dry_run:
            session.commit()
        # Leaving the block without a commit rolls everything back: that is what --dry-run reports on.
    return report


def import_file(
    engine: Engine,
    path: Path,
    *,
    fmt: Format | None = None,
    gazetteer: PostcodeLookup | None,
    actor: str,
    dry_run: bool = False,
    update_shared: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    return import_files(
        engine,
        [path],
        fmt=fmt,
        gazetteer=gazetteer,
        actor=actor,
        dry_run=dry_run,
        update_shared=update_shared,
        progress=progress,
    )


def import_files(
    engine: Engine,
    paths: Sequence[Path],
    *,
    fmt: Format | None = None,
    gazetteer: PostcodeLookup | None,
    actor: str,
    dry_run: bool = False,
    update_shared: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Several files as one import, checked together and written in one transaction: all of them or none. Imported
    one after another, an import stopped between two left the first alone in the store."""
    formats: list[str] = []
    parsed: list[Parsed] = []
    for path in paths:
        detected, records = read_file(path, fmt)
        formats.append(detected)
        parsed += records
    return import_records(
        engine,
        parsed,
        source=", ".join(str(path) for path in paths),
        fmt=", ".join(dict.fromkeys(formats)),
        gazetteer=gazetteer,
        actor=actor,
        dry_run=dry_run,
        update_shared=update_shared,
        progress=progress,
    )
