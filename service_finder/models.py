"""All database tables, named after Open Referral HSDS 3.0 where a table plays the same part.

Lists and maps that are always read whole (needs, referral routes, sessions) are JSON columns rather than link
tables: the search index reads every service at once, and nothing queries inside them with SQL.
Tri-state facts (accepts people who are intoxicated: yes / no / unknown) are nullable booleans: NULL is unknown.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONValue = sa.JSON().with_variant(JSONB(), "postgresql")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _json(*, nullable: bool = False) -> Any:
    return Field(default=None if nullable else ..., sa_column=sa.Column(JSONValue, nullable=nullable))


def _timestamp(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index),
    )


class Organisation(SQLModel, table=True):
    __tablename__ = "organization"

    id: str = Field(primary_key=True, max_length=80)
    name: str = Field(max_length=200)
    description: str = ""
    url: str | None = None
    email: str | None = None
    last_modified: datetime = _timestamp()


class Service(SQLModel, table=True):
    __tablename__ = "service"

    id: str = Field(primary_key=True, max_length=80)
    organisation_id: str = Field(foreign_key="organization.id", index=True, max_length=80)
    name: str = Field(max_length=200)
    description: str = ""
    url: str | None = None
    email: str | None = None
    status: str = Field(max_length=32, index=True)
    alert: str = ""
    kind: str = Field(max_length=40, index=True)
    needs: list[str] = _json()
    safety_net: bool = False

    # Eligibility. NULL means unknown, never "no".
    minimum_age: int | None = None
    maximum_age: int | None = None
    genders: list[str] = _json()
    catchment_type: str | None = Field(default=None, max_length=16)
    catchment_districts: list[str] = _json()
    catchment_geojson: dict[str, Any] | None = _json(nullable=True)
    gp_registration_required: bool | None = None
    referral_routes: list[str] | None = _json(nullable=True)
    accepts_intoxicated: bool | None = None
    accepts_substance_use: bool | None = None
    eligibility_description: str = ""

    # Access and accessibility.
    contact_modes: list[str] = _json()
    accessibility: dict[str, bool] = _json()
    languages: list[str] = _json()
    cost: str | None = Field(default=None, max_length=16)
    fees_description: str = ""
    typical_wait_days: int | None = None

    # Provenance.
    source_name: str = Field(max_length=200, index=True)
    source_url: str | None = None
    verified_at: datetime | None = _timestamp(nullable=True)
    verify_due: date | None = None

    created_at: datetime = _timestamp()
    last_modified: datetime = _timestamp(index=True)
    # Bumped on every change; the API's ETag and If-Match use it so two editors cannot overwrite each other.
    revision: int = 1
    # Soft delete: the row and its history stay; every read and the search index leave it out.
    deleted_at: datetime | None = _timestamp(nullable=True)


class Location(SQLModel, table=True):
    __tablename__ = "location"

    id: str = Field(primary_key=True, max_length=80)
    name: str = ""
    address: str = ""
    city: str = ""
    postcode: str = Field(max_length=8, index=True)
    latitude: float
    longitude: float
    district_code: str | None = Field(default=None, max_length=9, index=True)
    description: str = ""
    last_modified: datetime = _timestamp()


class ServiceAtLocation(SQLModel, table=True):
    __tablename__ = "service_at_location"
    __table_args__ = (sa.UniqueConstraint("service_id", "location_id"),)

    id: str = Field(primary_key=True, max_length=170)
    service_id: str = Field(foreign_key="service.id", index=True, max_length=80, ondelete="CASCADE")
    location_id: str = Field(foreign_key="location.id", index=True, max_length=80)
    position: int = 0


class Schedule(SQLModel, table=True):
    __tablename__ = "schedule"

    id: str = Field(primary_key=True, max_length=80)
    service_id: str = Field(foreign_key="service.id", index=True, max_length=80, ondelete="CASCADE")
    location_id: str | None = Field(default=None, foreign_key="location.id", max_length=80)
    position: int = 0
    always_open: bool = False
    sessions: list[dict[str, str]] = _json()
    bank_holidays: str = Field(max_length=16)
    bank_holiday_hours: list[dict[str, str]] = _json()
    exceptions: list[dict[str, Any]] = _json()
    valid_from: date | None = None
    valid_to: date | None = None
    notes: str = ""


class Phone(SQLModel, table=True):
    __tablename__ = "phone"

    id: int | None = Field(default=None, primary_key=True)
    service_id: str = Field(foreign_key="service.id", index=True, max_length=80, ondelete="CASCADE")
    position: int = 0
    number: str = Field(max_length=20)
    display: str = Field(max_length=40)
    type: str = Field(max_length=16)
    description: str = ""


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    changed_at: datetime = _timestamp(index=True)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=16)  # create | update | delete
    entity: str = Field(max_length=40)
    entity_id: str = Field(max_length=80, index=True)
    field: str = Field(default="", max_length=120)
    old_value: Any = _json(nullable=True)
    new_value: Any = _json(nullable=True)


class DataVersion(SQLModel, table=True):
    """One row: bumped in the same transaction as every data change, so API processes can tell when to rebuild."""

    __tablename__ = "data_version"

    id: int = Field(default=1, primary_key=True)
    version: int = 0
    updated_at: datetime = _timestamp()


class ApiKey(SQLModel, table=True):
    """An editor's or partner's key. Only a hash of the secret is stored; the secret is shown once, at creation."""

    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=16)  # the public part of the key, used to find the row
    name: str = Field(max_length=120)
    secret_hash: str = Field(max_length=64)  # sha256 hex: keys are 256-bit random, so a fast hash is enough
    scopes: list[str] = _json()
    created_at: datetime = _timestamp()
    revoked_at: datetime | None = _timestamp(nullable=True)
