"""Every query the service makes. Callers pass a Session and get ServiceRecords back, never rows."""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import islice
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col, func, select

from service_finder.errors import Conflict, NotFound, PreconditionFailed, RecordUnreadable, quoted
from service_finder.models import (
    ApiKey,
    AuditEntry,
    DataVersion,
    Location,
    Organisation,
    Phone,
    Schedule,
    Service,
    ServiceAtLocation,
)
from service_finder.schemas import ServiceRecord

BATCH = 500


class Change(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"


@dataclass(frozen=True, slots=True)
class StoredService:
    record: ServiceRecord
    created_at: datetime
    last_modified: datetime
    revision: int
    deleted_at: datetime | None = None

    @property
    def etag(self) -> str:
        return f'"{self.record.id}-r{self.revision}"'


@dataclass(frozen=True, slots=True)
class UnreadableService:
    """A stored service that no longer validates as a ServiceRecord: changed outside the API, or stored before a
    rule was tightened. What is known without reading it: its id, revision and the fields that fail (not their
    values, which could be anything)."""

    id: str
    revision: int
    deleted_at: datetime | None
    fields: tuple[str, ...]

    @property
    def etag(self) -> str:
        return f'"{self.id}-r{self.revision}"'

    def error(self) -> RecordUnreadable:
        return RecordUnreadable(
            f"service {self.id!r} is stored in a form that cannot be read (at {', '.join(self.fields)}); search "
            "keeps its last readable version where a server had one (one started since leaves it out). An editor "
            f"can replace it: PUT /v1/services/{self.id} with If-Match: {self.etag}",
            field="service_id",
            value=self.id,
            etag=self.etag,
            fields=list(self.fields),
        )


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[StoredService]
    total: int
    # Services on this page stored in a form that no longer validates: named, not shown (see UnreadableService).
    unreadable: tuple[str, ...] = ()
    # With modified_after, on the first page: (id, removed at) of services deleted since, oldest first.
    removed: tuple[tuple[str, datetime], ...] = ()


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


T = TypeVar("T")


def _batches(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# --- record <-> rows -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Rows:
    organisation: dict[str, Any]
    service: dict[str, Any]
    locations: list[dict[str, Any]]
    links: list[dict[str, Any]]
    schedules: list[dict[str, Any]]
    phones: list[dict[str, Any]]


def link_id(service_id: str, location_id: str) -> str:
    # Ids cannot contain '/' (schemas.ID_PATTERN), so one id names one pair. '--' could: service 'aa' at 'bb--cc' and
    # 'aa--bb' at 'cc' were both 'aa--bb--cc' (stored ids rewritten by migration 0004).
    return f"{service_id}/{location_id}"


def _to_rows(record: ServiceRecord, now: datetime) -> _Rows:
    data = record.model_dump(mode="json")
    eligibility, access, provenance = data["eligibility"], data["access"], data["provenance"]
    catchment = eligibility["catchment"]
    service = {
        "id": record.id,
        "organisation_id": record.organisation.id,
        "name": record.name,
        "description": record.description,
        "url": record.url,
        "email": record.email,
        "status": record.status.value,
        "alert": record.alert,
        "kind": record.kind.value,
        "needs": data["needs"],
        "safety_net": record.safety_net,
        "minimum_age": eligibility["minimum_age"],
        "maximum_age": eligibility["maximum_age"],
        "genders": eligibility["genders"],
        "catchment_type": catchment["type"] if catchment else None,
        "catchment_districts": catchment["districts"] if catchment else [],
        "catchment_geojson": catchment["geojson"] if catchment else None,
        "gp_registration_required": eligibility["gp_registration_required"],
        "referral_routes": eligibility["referral_routes"],
        "accepts_intoxicated": eligibility["accepts_intoxicated"],
        "accepts_substance_use": eligibility["accepts_substance_use"],
        "eligibility_description": eligibility["description"],
        "contact_modes": access["contact_modes"],
        "accessibility": access["accessibility"],
        "languages": access["languages"],
        "cost": access["cost"],
        "fees_description": access["fees_description"],
        "typical_wait_days": access["typical_wait_days"],
        "source_name": provenance["source_name"],
        "source_url": provenance["source_url"],
        # In UTC, as every stored instant: SQLite keeps no offset, so 09:00+05:00 came back as 09:00Z.
        "verified_at": _utc(record.provenance.verified_at) if record.provenance.verified_at else None,
        "verify_due": record.provenance.verify_due,
    }
    return _Rows(
        organisation={**data["organisation"], "last_modified": now},
        service=service,
        locations=[{**loc, "last_modified": now} for loc in data["locations"]],
        links=[
            {"id": link_id(record.id, loc.id), "service_id": record.id, "location_id": loc.id, "position": i}
            for i, loc in enumerate(record.locations)
        ],
        schedules=[
            {
                **{key: value for key, value in schedule.items() if key not in {"valid_from", "valid_to"}},
                "valid_from": original.valid_from,
                "valid_to": original.valid_to,
                "service_id": record.id,
                "position": i,
            }
            for i, (schedule, original) in enumerate(zip(data["schedules"], record.schedules, strict=True))
        ],
        phones=[{**phone, "service_id": record.id, "position": i} for i, phone in enumerate(data["phones"])],
    )


def _to_record(
    service: Service,
    organisation: Organisation,
    locations: Sequence[Location],
    schedules: Sequence[Schedule],
    phones: Sequence[Phone],
) -> ServiceRecord:
    catchment = (
        None
        if service.catchment_type is None
        else {
            "type": service.catchment_type,
            "districts": service.catchment_districts,
            "geojson": service.catchment_geojson,
        }
    )
    return ServiceRecord.model_validate(
        {
            "id": service.id,
            "name": service.name,
            "organisation": organisation.model_dump(exclude={"last_modified"}),
            "description": service.description,
            "url": service.url,
            "email": service.email,
            "status": service.status,
            "alert": service.alert,
            "kind": service.kind,
            "needs": service.needs,
            "safety_net": service.safety_net,
            "eligibility": {
                "minimum_age": service.minimum_age,
                "maximum_age": service.maximum_age,
                "genders": service.genders,
                "catchment": catchment,
                "gp_registration_required": service.gp_registration_required,
                "referral_routes": service.referral_routes,
                "accepts_intoxicated": service.accepts_intoxicated,
                "accepts_substance_use": service.accepts_substance_use,
                "description": service.eligibility_description,
            },
            "access": {
                "contact_modes": service.contact_modes,
                "accessibility": service.accessibility,
                "languages": service.languages,
                "cost": service.cost,
                "fees_description": service.fees_description,
                "typical_wait_days": service.typical_wait_days,
            },
            "locations": [loc.model_dump(exclude={"last_modified"}) for loc in locations],
            "phones": [p.model_dump(include={"number", "display", "type", "description"}) for p in phones],
            "schedules": [s.model_dump(exclude={"service_id", "position"}) for s in schedules],
            "provenance": {
                "source_name": service.source_name,
                "source_url": service.source_url,
                "verified_at": _utc(service.verified_at) if service.verified_at else None,
                "verify_due": service.verify_due,
            },
        },
        context={"stored": True},
    )


# --- reads -----------------------------------------------------------------------------------------------------


def _load(session: Session, services: Sequence[Service]) -> list[StoredService]:
    """The services as records; RecordUnreadable for the first that no longer validates."""
    loaded = _load_rows(session, services)
    for item in loaded:
        if isinstance(item, UnreadableService):
            raise item.error()
    return loaded  # type: ignore[return-value]  # every item checked above


def _load_rows(session: Session, services: Sequence[Service]) -> list[StoredService | UnreadableService]:
    if not services:
        return []
    ids = [s.id for s in services]
    organisations = {
        o.id: o
        for o in session.exec(
            select(Organisation).where(col(Organisation.id).in_({s.organisation_id for s in services}))
        )
    }
    locations: dict[str, list[Location]] = {}
    for link, location in session.exec(
        select(ServiceAtLocation, Location)
        .join(Location, col(Location.id) == col(ServiceAtLocation.location_id))
        .where(col(ServiceAtLocation.service_id).in_(ids))
        .order_by(col(ServiceAtLocation.service_id), col(ServiceAtLocation.position))
    ):
        locations.setdefault(link.service_id, []).append(location)
    schedules: dict[str, list[Schedule]] = {}
    for schedule in session.exec(
        select(Schedule).where(col(Schedule.service_id).in_(ids)).order_by(col(Schedule.position))
    ):
        schedules.setdefault(schedule.service_id, []).append(schedule)
    phones: dict[str, list[Phone]] = {}
    for phone in session.exec(select(Phone).where(col(Phone.service_id).in_(ids)).order_by(col(Phone.position))):
        phones.setdefault(phone.service_id, []).append(phone)
    loaded: list[StoredService | UnreadableService] = []
    for s in services:
        deleted_at = _utc(s.deleted_at) if s.deleted_at else None
        try:
            record = _to_record(
                s,
                organisations[s.organisation_id],
                locations.get(s.id, []),
                schedules.get(s.id, []),
                phones.get(s.id, []),
            )
        except ValidationError as error:
            fields = tuple(dict.fromkeys(".".join(str(part) for part in e["loc"]) or "record" for e in error.errors()))
            loaded.append(UnreadableService(s.id, s.revision, deleted_at, fields))
            continue
        loaded.append(
            StoredService(
                record=record,
                created_at=_utc(s.created_at),
                last_modified=_utc(s.last_modified),
                revision=s.revision,
                deleted_at=deleted_at,
            )
        )
    return loaded


def get_service(session: Session, service_id: str, *, include_deleted: bool = False) -> StoredService | None:
    service = session.get(Service, service_id)
    if service is None or (service.deleted_at is not None and not include_deleted):
        return None
    return _load(session, [service])[0]


def service_revision(session: Session, service_id: str, *, include_deleted: bool = False) -> int | None:
    """The stored revision, from the row alone: a record that no longer validates has one too."""
    row = session.get(Service, service_id)
    if row is None or (row.deleted_at is not None and not include_deleted):
        return None
    return row.revision


def removed_at(session: Session, service_id: str) -> datetime | None:
    """When the service was removed (UTC), from the row alone; None if it is in the directory or never was."""
    row = session.get(Service, service_id)
    return _utc(row.deleted_at) if row is not None and row.deleted_at is not None else None


def removed_services(session: Session, *, id_prefix: str = "") -> list[tuple[str, datetime]]:
    """(id, when removed, UTC) of every removed service whose id starts with `id_prefix`, in id order: for a read by
    a name worked out from the id (an HSDS UUID, a shortened FHIR id), which the store does not hold."""
    query = select(col(Service.id), col(Service.deleted_at)).where(col(Service.deleted_at).is_not(None))
    if id_prefix:
        query = query.where(col(Service.id).startswith(id_prefix, autoescape=True))
    return [(ident, _utc(at)) for ident, at in session.exec(query.order_by(col(Service.id))) if at is not None]


def removed_sites(session: Session) -> list[tuple[str, str, datetime]]:
    """(service id, location id, when the service was removed, UTC) of every place a removed service was delivered
    at, in that order: for a read by an HSDS service_at_location id, worked out from the two ids, never stored."""
    query = (
        select(col(ServiceAtLocation.service_id), col(ServiceAtLocation.location_id), col(Service.deleted_at))
        .join(Service, col(ServiceAtLocation.service_id) == col(Service.id))
        .where(col(Service.deleted_at).is_not(None))
        .order_by(col(ServiceAtLocation.service_id), col(ServiceAtLocation.location_id))
    )
    return [(service, location, _utc(at)) for service, location, at in session.exec(query) if at is not None]


def location_ids(session: Session, *, id_prefix: str) -> list[str]:
    """The stored location ids that start with `id_prefix`, in id order."""
    query = select(Location.id).where(col(Location.id).startswith(id_prefix, autoescape=True))
    return list(session.exec(query.order_by(col(Location.id))).all())


def location_removed_at(session: Session, location_id: str) -> datetime | None:
    """When the last service delivered at the location was removed (UTC), when every service the store links to it
    was removed; None when one of them is in the directory, or none ever was linked to it. A place dropped from a
    service that stays is unlinked, not kept: it is not traced here."""
    removals = session.exec(
        select(col(Service.deleted_at))
        .join(ServiceAtLocation, col(ServiceAtLocation.service_id) == col(Service.id))
        .where(ServiceAtLocation.location_id == location_id)
    ).all()
    if not removals or any(at is None for at in removals):
        return None
    return max(_utc(at) for at in removals if at is not None)


def get_services(session: Session, ids: Iterable[str]) -> dict[str, StoredService | UnreadableService]:
    """By id, deleted rows too (importing or saving a deleted id restores it, with an audit entry), and rows that
    no longer validate (saving a valid record over one repairs it)."""
    found: dict[str, StoredService | UnreadableService] = {}
    for batch in _batches(ids):
        services = session.exec(select(Service).where(col(Service.id).in_(batch))).all()
        found.update(
            (s.id if isinstance(s, UnreadableService) else s.record.id, s) for s in _load_rows(session, services)
        )
    return found


def list_services(
    session: Session,
    *,
    offset: int = 0,
    limit: int = 50,
    kind: str | None = None,
    modified_after: datetime | None = None,
) -> Page:
    query = select(Service).where(col(Service.deleted_at).is_(None))
    if kind is not None:
        query = query.where(Service.kind == kind)
    if modified_after is not None:
        query = query.where(col(Service.last_modified) > modified_after)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Service.id)).offset(offset).limit(limit)).all()
    # One record that cannot be read must not stop a partner paging through the rest: it is named instead.
    loaded = _load_rows(session, rows)
    removed: tuple[tuple[str, datetime], ...] = ()
    if modified_after is not None and offset == 0:
        # A poller must learn of deletions too, or it goes on offering a service that is gone.
        gone = select(col(Service.id), col(Service.deleted_at)).where(
            col(Service.deleted_at).is_not(None), col(Service.last_modified) > modified_after
        )
        if kind is not None:
            gone = gone.where(Service.kind == kind)
        removed = tuple(
            (ident, _utc(at))
            for ident, at in session.exec(gone.order_by(col(Service.deleted_at), col(Service.id)))
            if at is not None  # as the query asks: the type cannot say so
        )
        if kind is not None:
            removed = _with_those_that_left(session, removed, kind, modified_after)
    return Page(
        [s for s in loaded if isinstance(s, StoredService)],
        total,
        tuple(s.id for s in loaded if isinstance(s, UnreadableService)),
        removed,
    )


def _with_those_that_left(
    session: Session, removed: tuple[tuple[str, datetime], ...], kind: str, since: datetime
) -> tuple[tuple[str, datetime], ...]:
    """`removed`, with the services that moved out of `kind` after `since` and are not in it now, from the moment
    they moved: to a client keeping a copy of one kind, a crisis café that became a peer group is gone, and without
    this it went on being offered as a café."""
    moves = session.exec(
        select(AuditEntry.entity_id, AuditEntry.changed_at, AuditEntry.old_value).where(
            AuditEntry.entity == "service",
            AuditEntry.action == "update",
            AuditEntry.field == "kind",
            col(AuditEntry.changed_at) > since,
        )
    ).all()
    left = {ident: _utc(at) for ident, at, old in sorted(moves, key=lambda move: move[1]) if old == kind}
    if not left:
        return removed
    listed = {ident for ident, _ in removed}
    now_in_kind = set(
        session.exec(
            select(Service.id).where(
                col(Service.id).in_(list(left)), Service.kind == kind, col(Service.deleted_at).is_(None)
            )
        ).all()
    )
    moved = [(ident, at) for ident, at in left.items() if ident not in now_in_kind and ident not in listed]
    return tuple(sorted([*removed, *moved], key=lambda item: (item[1], item[0])))


def iter_all_services(
    session: Session, *, batch: int = 2000, unreadable: list[UnreadableService] | None = None
) -> Iterator[StoredService]:
    """Every service in id order, loaded a batch at a time (keyset pagination, so memory stays flat).

    A service that no longer validates raises RecordUnreadable, unless `unreadable` is given: then it is added
    there and skipped (the index builds from everything else rather than not at all)."""
    after = ""
    while True:
        rows = session.exec(
            select(Service)
            .where(col(Service.id) > after, col(Service.deleted_at).is_(None))
            .order_by(col(Service.id))
            .limit(batch)
        ).all()
        if not rows:
            return
        for item in _load_rows(session, rows):
            if isinstance(item, StoredService):
                yield item
            elif unreadable is None:
                raise item.error()
            else:
                unreadable.append(item)
        after = rows[-1].id


def count_services(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Service).where(col(Service.deleted_at).is_(None))).one()


def service_history(session: Session, service_id: str) -> list[AuditEntry]:
    return list(
        session.exec(
            select(AuditEntry)
            .where(AuditEntry.entity == "service", AuditEntry.entity_id == service_id)
            .order_by(col(AuditEntry.id))
        )
    )


def data_version(session: Session) -> VersionInfo:
    row = session.get(DataVersion, 1)
    return VersionInfo(row.version, _utc(row.updated_at)) if row else VersionInfo(0, None)


# --- writes ----------------------------------------------------------------------------------------------------


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key in {"organisation", "eligibility", "access", "provenance"}:
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def diff_records(old: ServiceRecord, new: ServiceRecord) -> list[tuple[str, Any, Any]]:
    """(field, old value, new value) for every field that differs, in a stable order."""
    before, after = _flatten(old.model_dump(mode="json")), _flatten(new.model_dump(mode="json"))
    return [
        (key, before.get(key), after.get(key)) for key in sorted(before | after) if before.get(key) != after.get(key)
    ]


def _table(model: type[SQLModel]) -> sa.Table:
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return table


def _upsert(session: Session, table: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    # Last one wins when a batch names the same organisation or location twice.
    unique = list({row["id"]: row for row in rows}.values())
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    target = _table(table)
    statement = insert(target)
    columns = [c for c in unique[0] if c != "id"]
    # Only rewrite a row whose content changed. Many services share one organisation, so an import would
    # otherwise update the same rows in every batch; inside one transaction each update leaves another row
    # version behind, and every later lookup of that key wades through them (quadratic on PostgreSQL).
    changed = sa.or_(*(target.c[c].is_distinct_from(statement.excluded[c]) for c in columns if c != "last_modified"))
    session.connection().execute(
        statement.on_conflict_do_update(
            index_elements=["id"], set_={c: getattr(statement.excluded, c) for c in columns}, where=changed
        ),
        unique,
    )


def _compare_and_swap(
    session: Session, updates: list[tuple[dict[str, Any], StoredService | UnreadableService]]
) -> None:
    """Write each update only if the row is still at the revision this transaction read: a concurrent editor's
    commit in between makes the WHERE miss, and the whole transaction is refused instead of losing their change."""
    table = _table(Service)
    statement = (
        table.update()
        .where(table.c.id == sa.bindparam("match_id"), table.c.revision == sa.bindparam("match_revision"))
        .values({c: sa.bindparam(c) for c in updates[0][0] if c != "id"})
    )
    result = session.connection().execute(
        statement,
        [
            {**{k: v for k, v in row.items() if k != "id"}, "match_id": row["id"], "match_revision": before.revision}
            for row, before in updates
        ],
    )
    if result.rowcount != len(updates):
        # Which one: those not as this statement left them (executemany counts the rows, not which matched).
        written = {row["id"]: (row["revision"], row["last_modified"]) for row, _ in updates}
        stored = session.exec(
            select(Service.id, Service.revision, Service.last_modified).where(col(Service.id).in_(list(written)))
        ).all()
        changed = [ident for ident, revision, at in stored if (revision, _utc(at)) != written[ident]] or list(written)
        raise PreconditionFailed(
            f"service {changed[0]!r} changed while this change was being written; nothing was saved: fetch it again "
            "and retry",
            field="id",
            value=changed[0],
        )


def _refuse_schedule_ids_of_others(session: Session, records: Sequence[ServiceRecord]) -> None:
    owners = {schedule.id: record.id for record in records for schedule in record.schedules}
    if not owners:
        return
    taken = session.exec(select(Schedule.id, Schedule.service_id).where(col(Schedule.id).in_(list(owners)))).all()
    for schedule_id, service_id in taken:
        if service_id != owners[schedule_id]:
            record = next(r for r in records if r.id == owners[schedule_id])
            position = next(i for i, s in enumerate(record.schedules) if s.id == schedule_id)
            raise Conflict(
                f"schedule id {schedule_id!r} of service {record.id!r} is already used by service {service_id!r}",
                field=f"schedules.{position}.id",
                value=schedule_id,
            )


class _SharedChange(NamedTuple):
    service_id: str  # the other service, outside the write
    field: str  # as the audit names it: 'locations[site-1].address', 'organisation.name'
    old: Any
    new: Any
    row_id: str  # the location's or organisation's id


@dataclass(frozen=True, slots=True)
class OthersChange:
    """A field of a location or organisation that a write would change for services outside it too."""

    record_id: str  # the record in the write that gives the new value
    field: str  # that record's own path: 'locations.0.postcode', 'organisation.name'
    old: Any
    new: Any
    others: tuple[str, ...]  # the services outside the write that use the row, by id

    @property
    def message(self) -> str:
        services = "service" if len(self.others) == 1 else "services"
        named = ", ".join(repr(other) for other in self.others[:3])
        more = f" and {len(self.others) - 3} more" if len(self.others) > 3 else ""
        what = "location" if self.field.startswith("locations.") else "organisation"
        return (
            f"this {what} is also used by {services} {named}{more}, not in this import: it would change for "
            f"{'it' if len(self.others) == 1 else 'them'} too ({quoted(self.old)} -> {quoted(self.new)}), still "
            f"marked verified; give this {what} an id of its own, or import with shared updates allowed if it "
            "changed for them too"
        )


class SharedRowsChanged(Conflict):
    """An import that would change locations or organisations used by services it does not include."""

    def __init__(self, changes: list[OthersChange]) -> None:
        first = changes[0]
        super().__init__(f"{first.field}: {first.message}", field=first.field, value=first.new)
        self.changes = changes


def _refused_shared_changes(
    batch: Sequence[ServiceRecord],
    existing: Mapping[str, StoredService | UnreadableService],
    shared: list[_SharedChange],
) -> list[_SharedChange]:
    """The changes to shared rows an editor's write may not make. A location is a place other services are
    found at: changing its address or position through one service would move theirs (still marked verified), so
    never. An organisation's own details (its name, its website) may be corrected by any of its services; what is
    refused is a service joining an organisation with details that differ from what is stored, which would
    overwrite that organisation for every service of it."""
    joining = {
        record.organisation.id
        for record in batch
        if not isinstance(before := existing.get(record.id), StoredService)
        or before.record.organisation.id != record.organisation.id
    }
    # (An editor writes one service: the organisation changes listed are its own organisation's.)
    return [change for change in shared if change.field.startswith("locations[") or joining]


def _giver(records: Sequence[ServiceRecord], change: _SharedChange) -> tuple[str, str]:
    """The record in the write that gives a shared row's new value, and the field by that record's own path
    ('locations.0.address', 'organisation.name') rather than as _shared_row_changes names it
    ('locations[site-1].address')."""
    if change.field.startswith("locations["):
        key = change.field.partition("].")[2]
        for record in records:
            for position, place in enumerate(record.locations):
                if place.id == change.row_id:
                    return record.id, f"locations.{position}.{key}"
    for record in records:
        if record.organisation.id == change.row_id:
            return record.id, change.field
    return "", change.field  # not reached: every change is one a record in the write makes


def _others_changes(
    records: Sequence[ServiceRecord], shared: list[_SharedChange], inside: Collection[str]
) -> list[OthersChange]:
    """`shared`, less the services in `inside` (the whole write), by the record and field that change them."""
    grouped: dict[tuple[str, str], tuple[Any, Any, list[str]]] = {}
    for change in shared:
        if change.service_id not in inside:
            grouped.setdefault(_giver(records, change), (change.old, change.new, []))[2].append(change.service_id)
    return [
        OthersChange(record_id, path, old, new, tuple(others))
        for (record_id, path), (old, new, others) in grouped.items()
    ]


def _shared_row_changes(session: Session, rows: dict[str, _Rows]) -> list[_SharedChange]:
    """(other service, field, old, new) for each change this write makes to a location or organisation that
    services outside it share. Those rows are shared by id (one building, one charity), so the change is theirs
    too: the caller gives each of them a new revision and an audit entry, or their ETags and `modified_after`
    polling would miss it. A deleted service shares nothing: counted, it stopped an editor correcting a site only
    a removed service had also used, for ever. Brought back, it is stored as the record it is given."""
    ids = set(rows)
    found: list[_SharedChange] = []
    given_locations = {loc["id"]: loc for r in rows.values() for loc in r.locations}
    if given_locations:
        stored = {
            loc.id: loc
            for loc in session.exec(select(Location).where(col(Location.id).in_(list(given_locations)))).all()
        }
        links = session.exec(
            select(ServiceAtLocation.location_id, ServiceAtLocation.service_id)
            .join(Service, col(Service.id) == col(ServiceAtLocation.service_id))
            .where(col(ServiceAtLocation.location_id).in_(list(stored)), col(Service.deleted_at).is_(None))
        ).all()
        for location_id, service_id in links:
            if service_id not in ids:
                found.extend(
                    _SharedChange(service_id, f"locations[{location_id}].{key}", old, new, location_id)
                    for key, old, new in _differences(stored[location_id], given_locations[location_id])
                )
    given_organisations = {r.organisation["id"]: r.organisation for r in rows.values()}
    stored_organisations = {
        org.id: org
        for org in session.exec(select(Organisation).where(col(Organisation.id).in_(list(given_organisations)))).all()
    }
    changed_organisations = {
        org_id: _differences(org, given_organisations[org_id]) for org_id, org in stored_organisations.items()
    }
    if any(changed_organisations.values()):
        sharing = session.exec(
            select(Service.id, Service.organisation_id).where(
                col(Service.organisation_id).in_([o for o, changes in changed_organisations.items() if changes]),
                col(Service.deleted_at).is_(None),
            )
        ).all()
        for service_id, org_id in sharing:
            if service_id not in ids:
                found.extend(
                    _SharedChange(service_id, f"organisation.{key}", old, new, org_id)
                    for key, old, new in changed_organisations[org_id]
                )
    return found


def _row_differences(session: Session, rows: _Rows) -> list[tuple[str, Any, Any]]:
    """What a write changes in a service stored in a form that no longer validates, compared row by row (the
    record cannot be read, so diff_records cannot be used): each service column, and the phones and hours as
    wholes. Values in audit form (dates as text)."""
    service_id = rows.service["id"]
    stored = session.get(Service, service_id)
    found = (
        [
            (key, _audit_value(old), _audit_value(new))
            for key, old, new in _differences(stored, rows.service)
            if key not in {"id", "created_at", "revision", "deleted_at"}
        ]
        if stored is not None
        else []
    )
    found += _place_differences(session, service_id, rows, stored)
    for name, model, given in (("phones", Phone, rows.phones), ("schedules", Schedule, rows.schedules)):
        old_rows = session.exec(
            select(model).where(col(model.service_id) == service_id).order_by(col(model.position))
        ).all()
        # Pairs only as far as both go; a different count is a change by itself.
        before = [
            _audit_value({key: getattr(row, key) for key in new}) for row, new in zip(old_rows, given, strict=False)
        ]
        after = [_audit_value(new) for new in given]
        if len(old_rows) != len(given) or before != after:
            found.append((name, [_audit_value(row.model_dump()) for row in old_rows], after))
    return found


def _place_differences(
    session: Session, service_id: str, rows: _Rows, stored: Service | None
) -> list[tuple[str, Any, Any]]:
    """The repaired service's own locations (as wholes, in order) and organisation, before and after: a repair that
    moved the site was recorded as a change of minimum age alone."""
    found: list[tuple[str, Any, Any]] = []
    links = session.exec(
        select(ServiceAtLocation)
        .where(col(ServiceAtLocation.service_id) == service_id)
        .order_by(col(ServiceAtLocation.position))
    ).all()
    places = {
        place.id: place
        for place in session.exec(select(Location).where(col(Location.id).in_([link.location_id for link in links])))
    }
    keys = [key for key in (rows.locations[0] if rows.locations else {}) if key != "last_modified"]
    before = [
        _audit_value({key: getattr(places[link.location_id], key) for key in keys})
        for link in links
        if link.location_id in places
    ]
    after = [_audit_value({key: place[key] for key in keys}) for place in rows.locations]
    if len(links) != len(rows.locations) or before != after:
        found.append(("locations", before, after))
    organisation = session.get(Organisation, stored.organisation_id) if stored is not None else None
    if organisation is not None and organisation.id == rows.organisation["id"]:
        found += [
            (f"organisation.{key}", _audit_value(old), _audit_value(new))
            for key, old, new in _differences(organisation, rows.organisation)
        ]
    return found


def _audit_value(value: Any) -> Any:
    """A value as the audit's JSON column can hold it."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _audit_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_audit_value(item) for item in value]
    return value


def _differences(stored: SQLModel, given: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [
        (key, getattr(stored, key), value)
        for key, value in given.items()
        if key != "last_modified" and not _same(getattr(stored, key), value)
    ]


def _same(stored: Any, given: Any) -> bool:
    # SQLite gives back naive UTC datetimes: the same instant, not a change of it.
    if isinstance(stored, datetime) and isinstance(given, datetime):
        return _utc(stored) == _utc(given)
    return bool(stored == given)


# PostgreSQL advisory lock every write to the directory holds until its transaction ends (storage/migrate.py holds
# another while migrating).
DIRECTORY_LOCK = 0x5EF1_D1C7


def lock_directory(session: Session, *, wait: timedelta | None = None) -> None:
    """Make this transaction the directory's only writer until it ends, waiting for any other first (at most `wait`,
    then OperationalError, which the API answers 503 with Retry-After). Taken before anything is read: a write's
    checks (a location another service shares, a schedule id another service has, whether the id exists) hold only
    while nobody else writes, and under PostgreSQL's READ COMMITTED two writers both checked, then both wrote, and
    the second's upsert overwrote the first's new location unnoticed. Once the lock is granted, every later
    statement sees the other writer's commit. SQLite needs none: write_session takes its one write lock at BEGIN.
    Taking it again in the same transaction returns at once."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    if wait is not None:
        milliseconds = max(1, int(wait / timedelta(milliseconds=1)))
        connection.execute(sa.text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": f"{milliseconds}ms"})
    connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": DIRECTORY_LOCK})


def upsert_services(
    session: Session,
    records: Iterable[ServiceRecord],
    *,
    actor: str,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    expected_revision: int | None = None,
    create_only: bool = False,
    own_rows_only: bool = False,
    others_unchanged: bool = False,
) -> Counter[Change]:
    """Create or update services by id, with an audit entry per change. The caller owns the transaction.

    `own_rows_only` (an editor's write, which holds the If-Match of one service only) refuses (409) what would
    change other services' records under nobody's If-Match (see _refused_shared_changes). `others_unchanged` (an
    import, which speaks for the services in its file and no others) refuses, with SharedRowsChanged listing every
    one, any change to a location or organisation that a service not in `records` also uses: locations are shared
    by id across publishers, and one publisher's "id": "1" moved another's service, still marked verified.
    Otherwise shared rows change and the change is recorded on each service that shares them.

    `expected_revision` (for one record, from an editor's If-Match) refuses the write when the stored revision
    differs; `create_only` (an editor's POST) refuses it when the service exists, deleted or not, checked inside
    the write transaction so two creations of one id cannot both succeed. A schedule id another service already
    uses is refused (409) naming the record and field, rather than failing on the key.

    `now` stamps the write (tests fix it); by default the write is stamped at its end, for the caller to commit at
    once (_restamp)."""
    lock_directory(session)
    stamp_at_end = now is None
    now = now or datetime.now(UTC)
    outcome: Counter[Change] = Counter()
    # The session's own connection (same transaction), used directly: the ORM's bulk path would fetch back every
    # generated key one row at a time.
    connection = session.connection()
    records = list(records)
    # A large import asks once which ids exist, then loads only those. Asking per batch would scan the table
    # anew each time: inside one long transaction PostgreSQL has no statistics for the rows it just wrote and
    # picks a sequential scan, so the cost grows with every batch.
    known = set(session.exec(select(Service.id)).all()) if len(records) > BATCH else None
    inside = {record.id for record in records}
    # Every batch is checked (and written: the caller rolls back) so the refusal lists them all, not the first.
    others_changed: list[OthersChange] = []
    for batch in _batches(records):
        wanted = [r.id for r in batch if known is None or r.id in known]
        existing = get_services(session, wanted) if wanted else {}
        fresh: list[_Rows] = []
        changed: list[tuple[_Rows, StoredService | UnreadableService]] = []
        audit: list[dict[str, Any]] = []
        _refuse_schedule_ids_of_others(session, batch)
        rows = {record.id: _to_rows(record, now) for record in batch}
        shared = _shared_row_changes(session, rows)
        if others_unchanged:
            others_changed += _others_changes(batch, shared, inside)
        refused = _refused_shared_changes(batch, existing, shared) if own_rows_only else []
        if refused:
            other, field, old, new, _ = refused[0]
            raise Conflict(
                f"this would also change service {other!r}, which shares it ({field}: {old!r} -> {new!r}); change "
                "it through that service, or give this one an id of its own",
                field=_giver(batch, refused[0])[1],
                value=new,
            )
        for record in batch:
            before = existing.get(record.id)
            if before is not None and create_only and before.deleted_at is None:  # a deleted one is restored
                raise Conflict(
                    f"service {record.id!r} already exists: change it with PUT or PATCH", field="id", value=record.id
                )
            if before is None:
                fresh.append(rows[record.id])
                audit.append(_audit(now, actor, "create", record.id))
                outcome[Change.created] += 1
                continue
            if expected_revision is not None and before.revision != expected_revision:
                raise PreconditionFailed(
                    f"service {record.id!r} is at revision {before.revision}, not {expected_revision}: "
                    "someone else changed it; fetch it again and reapply your change",
                    field="If-Match",
                    value=f'"{record.id}-r{expected_revision}"',
                )
            if isinstance(before, UnreadableService):
                # No readable record to compare with: the valid one replaces it whole. The audit says so, then what
                # changed, compared row by row with what is stored.
                changed.append((rows[record.id], before))
                if before.deleted_at is not None:
                    audit.append(_audit(now, actor, "restore", record.id))
                audit.append(_audit(now, actor, "repair", record.id, ", ".join(before.fields)))
                audit.extend(
                    _audit(now, actor, "update", record.id, *d) for d in _row_differences(session, rows[record.id])
                )
                outcome[Change.updated] += 1
                continue
            differences = diff_records(before.record, record)
            if not differences and before.deleted_at is None:
                outcome[Change.unchanged] += 1
                continue
            changed.append((rows[record.id], before))
            if before.deleted_at is not None:
                audit.append(_audit(now, actor, "restore", record.id))
            audit.extend(_audit(now, actor, "update", record.id, *d) for d in differences)
            outcome[Change.updated] += 1
        everything = fresh + [rows for rows, _ in changed]
        _upsert(session, Organisation, [r.organisation for r in everything])
        _upsert(session, Location, [loc for r in everything for loc in r.locations])
        if changed:
            changed_ids = [rows.service["id"] for rows, _ in changed]
            for child in (ServiceAtLocation, Schedule, Phone):
                session.execute(sa.delete(child).where(col(child.service_id).in_(changed_ids)))
            _compare_and_swap(
                session,
                [
                    (
                        {**rows.service, "last_modified": now, "revision": before.revision + 1, "deleted_at": None},
                        before,
                    )
                    for rows, before in changed
                ],
            )
        if fresh:
            try:
                connection.execute(
                    _table(Service).insert(), [{**r.service, "created_at": now, "last_modified": now} for r in fresh]
                )
            except sa.exc.IntegrityError as error:
                if not _service_id_taken(error):
                    raise
                # Another writer created one of these between our look and our write (PostgreSQL lets both
                # transactions look before either writes): theirs stands, ours is refused, nothing half-written.
                ids = [r.service["id"] for r in fresh]
                raise Conflict(
                    f"service {ids[0]!r} was written by someone else at the same time: fetch it and try again"
                    if len(ids) == 1
                    else f"one of services {', '.join(map(repr, ids[:3]))}... was written by someone else at the "
                    "same time: try again",
                    field="id",
                    value=ids[0] if len(ids) == 1 else None,
                ) from error
        for child, attribute in ((ServiceAtLocation, "links"), (Schedule, "schedules"), (Phone, "phones")):
            if child_rows := [row for r in everything for row in getattr(r, attribute)]:
                try:
                    connection.execute(_table(child).insert(), child_rows)
                except sa.exc.IntegrityError as error:
                    if child is not Schedule or not _key_taken(error, "schedule"):
                        raise
                    # Another writer gave one of these schedule ids to its own service between our look
                    # (_refuse_schedule_ids_of_others) and our write: theirs stands, ours is refused, nothing
                    # half-written (the caller rolls back).
                    raise _schedule_id_race(batch, error) from error
        for service_id in dict.fromkeys(change.service_id for change in shared):
            session.execute(
                sa.update(Service)
                .where(col(Service.id) == service_id)
                .values(revision=col(Service.revision) + 1, last_modified=now)
            )
        audit.extend(
            _audit(now, actor, "update", service_id, field, old, new) for service_id, field, old, new, _ in shared
        )
        if audit:
            connection.execute(_table(AuditEntry).insert(), audit)
        session.flush()
        if progress:
            progress(len(batch))
    if others_changed:
        raise SharedRowsChanged(others_changed)
    if outcome[Change.created] or outcome[Change.updated]:
        bump_data_version(session, _restamp(session, now) if stamp_at_end else now)
    return outcome


def _restamp(session: Session, provisional: datetime) -> datetime:
    """What this write stamped `provisional`, when it began (services' last_modified, the created_at of those it
    created, its audit entries' time), stamped now instead, just before the caller commits. A poll reads committed
    rows only: one made while an import of minutes was writing saw none of it, and the next, from that poll's time,
    passed over all of it for good, as every change stamped before the poll. What is left is the moment between
    this stamp and the commit, which a poller covers with the margin docs/api.md asks for.

    Found by the instant itself (indexed; by id it took four times as long): `provisional` was read from the clock
    once this transaction held the directory (lock_directory), after every other writer's stamp. Locations' and
    organisations' own stamps are left as they are: no read answers with them."""
    stamp = datetime.now(UTC)
    service, audit = _table(Service), _table(AuditEntry)
    connection = session.connection()
    connection.execute(
        service.update()
        .where(service.c.last_modified == provisional)
        .values(
            last_modified=stamp,
            created_at=sa.case((service.c.created_at == provisional, stamp), else_=service.c.created_at),
        )
    )
    connection.execute(audit.update().where(audit.c.changed_at == provisional).values(changed_at=stamp))
    return stamp


def _service_id_taken(error: sa.exc.IntegrityError) -> bool:
    """Whether the insert failed on the service table's key, and not on anything else (which is a fault)."""
    return _key_taken(error, "service")


def _key_taken(error: sa.exc.IntegrityError, table: str) -> bool:
    """Whether an insert failed on `table`'s primary key (its id), and not on anything else."""
    diag = getattr(error.orig, "diag", None)
    if diag is not None:  # PostgreSQL (psycopg)
        return getattr(diag, "constraint_name", None) == f"{table}_pkey"
    return str(error.orig) == f"UNIQUE constraint failed: {table}.id"  # SQLite


def _schedule_id_race(batch: Sequence[ServiceRecord], error: sa.exc.IntegrityError) -> Conflict:
    """The refusal for a schedule id another writer took at the same time, naming the record and field from the
    key PostgreSQL names ("Key (id)=(x) already exists."); SQLite serialises writers and cannot meet this race."""
    detail = getattr(getattr(error.orig, "diag", None), "message_detail", None) or ""
    for record in batch:
        for position, schedule in enumerate(record.schedules):
            if f"=({schedule.id})" in detail:
                return Conflict(
                    f"schedule id {schedule.id!r} of service {record.id!r} was taken by another service at the same "
                    "time: give it another id",
                    field=f"schedules.{position}.id",
                    value=schedule.id,
                )
    return Conflict("a schedule id here was taken by another service at the same time: try again", field="schedules")


def _audit(
    now: datetime, actor: str, action: str, entity_id: str, field: str = "", old: Any = None, new: Any = None
) -> dict[str, Any]:
    return {
        "changed_at": now,
        "actor": _fits(actor, AUDIT_TEXT_LIMIT),
        "action": action,
        "entity": "service",
        "entity_id": entity_id,
        # 'locations[<an 80-character id>].address' can pass the column's limit: PostgreSQL would refuse the
        # whole write (SQLite stores it): the label is shortened, the values stay whole.
        "field": _fits(field, AUDIT_TEXT_LIMIT),
        "old_value": old,
        "new_value": new,
    }


AUDIT_TEXT_LIMIT = 120  # models.AuditEntry: actor and field


def _fits(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bump_data_version(session: Session, now: datetime) -> None:
    row = session.get(DataVersion, 1)
    if row is None:
        session.add(DataVersion(id=1, version=1, updated_at=now))
    else:
        row.version += 1
        row.updated_at = now
        session.add(row)
    session.flush()


def delete_service(
    session: Session, service_id: str, *, expected_revision: int, actor: str, now: datetime | None = None
) -> None:
    """Soft delete: hidden from every read and from search; the row and its history stay. Stamped `now`, by
    default once the lock is held: an instant taken before waiting for another writer would be older than polls
    made meanwhile, which then never list the removal."""
    lock_directory(session)
    now = now or datetime.now(UTC)
    # The row alone, not the record: a record that no longer validates can still be deleted.
    stored = session.get(Service, service_id)
    if stored is None or stored.deleted_at is not None:
        raise NotFound(f"service {service_id!r} is not in the directory", field="service_id", value=service_id)
    if stored.revision != expected_revision:
        raise PreconditionFailed(
            f"service {service_id!r} is at revision {stored.revision}, not {expected_revision}",
            field="If-Match",
            value=f'"{service_id}-r{expected_revision}"',
        )
    table = _table(Service)
    result = session.connection().execute(
        table.update()
        .where(table.c.id == service_id, table.c.revision == expected_revision)
        .values(deleted_at=now, last_modified=now, revision=expected_revision + 1)
    )
    if result.rowcount != 1:
        raise PreconditionFailed(f"service {service_id!r} changed while it was being deleted; nothing was deleted")
    session.connection().execute(_table(AuditEntry).insert(), [_audit(now, actor, "delete", service_id)])
    bump_data_version(session, now)


# --- API keys --------------------------------------------------------------------------------------------------


MAX_KEY_NAME = 100


def create_api_key(session: Session, *, name: str, scopes: Sequence[str], now: datetime) -> str:
    """A new key; returns the only copy of its secret."""
    if not name.strip() or len(name) > MAX_KEY_NAME:
        # Writes are audited as 'key:<id> (<name>)', 19 characters besides the name: a longer name would not fit the
        # audit's actor column (AUDIT_TEXT_LIMIT).
        raise ValueError(f"a key's name must be 1 to {MAX_KEY_NAME} characters, not {len(name)}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(ApiKey(id=key_id, name=name, secret_hash=hash_secret(secret), scopes=list(scopes), created_at=now))
    session.flush()
    return f"sf_{key_id}_{secret}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def find_api_key(session: Session, key_id: str) -> ApiKey | None:
    key = session.get(ApiKey, key_id)
    return key if key is not None and key.revoked_at is None else None


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.created_at))))


def revoke_api_key(session: Session, key_id: str, *, now: datetime) -> bool:
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = now
    session.add(key)
    session.flush()
    return True
