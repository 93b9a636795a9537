"""`export` and `demo load` on both stores: each is one consistent piece of work, whatever happens alongside."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Iterator, Sequence
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
from tests.factories import make_record, service_data

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


def test_a_service_saved_by_someone_else_during_an_import_is_one_line_and_nothing_is_written(
    store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An editor saved 'b' between the import's look and its write: a 50-line traceback, where every other refusal
    # is a line naming the record. Simulated by a look that finds the revision before theirs.
    with write_session(store) as session:
        repository.upsert_services(session, [make_record("a"), make_record("b")], actor="setup")
        session.commit()
    source = tmp_path / "in.json"
    source.write_text(json.dumps([service_data(i, name=f"{i} renamed") for i in "ab"]), encoding="utf-8")
    get_services = repository.get_services

    def look_before_the_editor_saved(session: Session, ids: Iterable[str]) -> dict[str, Any]:
        found = get_services(session, ids)
        return {i: dataclasses.replace(s, revision=s.revision - 1) if i == "b" else s for i, s in found.items()}

    monkeypatch.setattr(repository, "get_services", look_before_the_editor_saved)
    result = runner.invoke(app, ["import", str(source)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    assert "record 2 (id 'b'): changed in the directory during the import; nothing written; run the import again" in (
        result.output
    )
    assert "Traceback" not in result.output
    with Session(store) as session:
        assert [s.record.name for s in repository.iter_all_services(session)] == ["Leeds Test Café"] * 2


class Killed(Exception):
    """The process stopped (kill -9, a power cut) while a transaction was open: nothing after it runs."""


def test_a_demo_load_stopped_part_way_leaves_nothing_so_the_next_loads_everything(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Killed once the national lines were in, it left those six alone, and `demo load --if-empty` (`make run`) said
    # "directory already has services" for ever: no demonstration directory.
    demo_ids = {record["id"] for record in json.loads((cli.REPO_DATA / "demo" / "directory.json").read_bytes())}
    upsert_services = repository.upsert_services

    def killed_writing_the_demo_directory(session: Session, records: Iterable[Any], **options: Any) -> Any:
        records = list(records)
        outcome = upsert_services(session, records, **options)
        if demo_ids & {record.id for record in records}:
            raise Killed
        return outcome

    monkeypatch.setattr(repository, "upsert_services", killed_writing_the_demo_directory)
    assert isinstance(runner.invoke(app, ["demo", "load"]).exception, Killed)
    with Session(store) as session:
        assert repository.count_services(session) == 0
    monkeypatch.setattr(repository, "upsert_services", upsert_services)
    loaded = runner.invoke(app, ["demo", "load", "--if-empty"])
    assert loaded.exit_code == 0, loaded.output
    with Session(store) as session:
        assert repository.count_services(session) == 6 + len(demo_ids)
