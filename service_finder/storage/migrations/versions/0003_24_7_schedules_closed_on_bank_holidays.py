"""24/7 schedules that close on bank holidays become every-day sessions

A schedule stored as `always_open` with `bank_holidays` other than `as_usual` was read as open on bank holidays,
though its record said it closed (or kept special hours) then. Such schedules are now refused
(WeeklySchedule.problems); one stored before would be unreadable, and a process started since would leave its
service out of search. Each is rewritten as what its record says: sessions Monday to Sunday 00:00-24:00 with its
bank-holiday policy, as OSM's `24/7; PH off` is read. The service gets a new revision and an audit entry, and the
data version moves on, so running processes rebuild and `modified_after` pollers see the change.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTOR = "migration:0003"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EVERY_DAY = [{"opens_at": "00:00", "closes_at": "24:00", "day": day} for day in DAYS]
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

schedule = sa.table(
    "schedule",
    sa.column("id", sa.String),
    sa.column("service_id", sa.String),
    sa.column("always_open", sa.Boolean),
    sa.column("bank_holidays", sa.String),
    sa.column("sessions", JSON),
)
service = sa.table(
    "service",
    sa.column("id", sa.String),
    sa.column("revision", sa.Integer),
    sa.column("last_modified", sa.DateTime(timezone=True)),
)
audit_entry = sa.table(
    "audit_entry",
    sa.column("changed_at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("entity", sa.String),
    sa.column("entity_id", sa.String),
    sa.column("field", sa.String),
    sa.column("old_value", JSON),
    sa.column("new_value", JSON),
)
data_version = sa.table(
    "data_version",
    sa.column("id", sa.Integer),
    sa.column("version", sa.Integer),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    bind = op.get_bind()
    found = bind.execute(
        sa.select(schedule.c.id, schedule.c.service_id, schedule.c.bank_holidays)
        .where(schedule.c.always_open.is_(True), schedule.c.bank_holidays != "as_usual")
        .order_by(schedule.c.id)
    ).all()
    if not found:
        return
    now = datetime.now(UTC)
    bind.execute(
        sa.update(schedule)
        .where(schedule.c.id.in_([row.id for row in found]))
        .values(always_open=False, sessions=EVERY_DAY)
    )
    services = sorted({row.service_id for row in found})
    bind.execute(
        sa.update(service).where(service.c.id.in_(services)).values(revision=service.c.revision + 1, last_modified=now)
    )
    bind.execute(
        sa.insert(audit_entry),
        [
            {
                "changed_at": now,
                "actor": ACTOR,
                "action": "update",
                "entity": "service",
                "entity_id": row.service_id,
                "field": f"schedules[{row.id}]",
                "old_value": {"always_open": True, "bank_holidays": row.bank_holidays, "sessions": []},
                "new_value": {"always_open": False, "bank_holidays": row.bank_holidays, "sessions": EVERY_DAY},
            }
            for row in found
        ],
    )
    bind.execute(sa.update(data_version).values(version=data_version.c.version + 1, updated_at=now))


def downgrade() -> None:
    # The rewritten schedules say the same as before, in the only form now accepted: nothing to undo.
    pass
