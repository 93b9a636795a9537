"""Service-location link ids that cannot collide

A link's id was '<service id>--<location id>', and ids may contain '--': service 'aa' at location 'bb--cc' and
service 'aa--bb' at location 'cc' both made 'aa--bb--cc', so the second could never be saved (the editor answered
409 "written by someone else at the same time" for ever; an import failed on the key). Ids cannot contain '/', so
'<service id>/<location id>' names one pair only. Existing links are rewritten to it; nothing a reader sees changes
(the id is the table's key alone), so no revision or data version moves. The previous release's code, still
serving during a rolling update, writes '--' ids beside these and deletes links by service, so it keeps working.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

link = sa.table(
    "service_at_location",
    sa.column("id", sa.String),
    sa.column("service_id", sa.String),
    sa.column("location_id", sa.String),
)


def _rewrite(separator: str) -> None:
    # || joins text on SQLite and PostgreSQL alike.
    op.execute(link.update().values(id=link.c.service_id + sa.literal(separator) + link.c.location_id))


def upgrade() -> None:
    _rewrite("/")


def downgrade() -> None:
    # Fails on the key if two links stored since would both be 'aa--bb--cc' again: such a store cannot go back.
    _rewrite("--")
