"""Alembic environment: run from `service_finder.storage.migrate`, which hands over a live connection."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import service_finder.models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
