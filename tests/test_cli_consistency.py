"""`export` and `demo load` on both stores: each is one consistent piece of work, whatever happens alongside."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from service_finder import cli
from service_finder.cli import app
from service_finder.config import get_settings
from service_finder.models import Service
from service_finder.storage import repository
from service_finder.storage.db import write_session
from tests.factories import make_record

runner = CliRunner()


@pytest.fixture
def store(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("SERVICE_FINDER_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    # A command's engine lives as long as its process; here the test's does, and closes its connections.
    opened: list[Engine] = []
    open_engine = cli._engine

    def kept_engine() -> Engine:
        opened.append(open_engine())
        return opened[-1]

    monkeypatch.setattr(cli, "_engine", kept_engine)
    yield engine
    for command_engine in opened:
        command_engine.dispose()
    get_settings.cache_clear()


def test_an_export_taken_while_an_editor_renames_a_shared_organisation_shows_one_name(
    store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The export reads 2,000 services at a time; on PostgreSQL each read saw the store as it was then, so a rename
    # between two reads gave one organisation two names, and the file could not be imported again. Here a batch is
    # one service, and the rename is committed after the first.
    shared = {"id": "leeds-mind", "name": "Leeds Mind"}
    with write_session(store) as session:
        repository.upsert_services(session, [make_record(i, organisation=shared) for i in "abc"], actor="setup")
        session.commit()
    load_rows, renamed = repository._load_rows, list[bool]()

    def load_then_rename(session: Session, services: Sequence[Service]) -> list[Any]:
        loaded = load_rows(session, services)
        if not renamed:
            with store.begin() as editor:
                editor.execute(sa.text("UPDATE organization SET name = 'Mind in Leeds' WHERE id = 'leeds-mind'"))
            renamed.append(True)
        return loaded

    monkeypatch.setattr(repository, "iter_all_services", functools.partial(repository.iter_all_services, batch=1))
    monkeypatch.setattr(repository, "_load_rows", load_then_rename)
    out = tmp_path / "directory.json"
    exported = runner.invoke(app, ["export", "--format", "native", "--output", str(out)])
    assert exported.exit_code == 0, exported.output
    records = json.loads(out.read_text(encoding="utf-8"))
    assert renamed
    assert [(r["id"], r["organisation"]["name"]) for r in records] == [(i, "Leeds Mind") for i in "abc"]
