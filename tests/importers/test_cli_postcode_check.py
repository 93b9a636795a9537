"""The command-line import refuses to run without the gazetteer unless told to (hazard H05, gap G4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, create_engine
from typer.testing import CliRunner

from service_finder.cli import app
from service_finder.config import get_settings
from service_finder.storage import repository
from tests.factories import service_data

runner = CliRunner()


@pytest.fixture
def no_gazetteer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    monkeypatch.setenv("SERVICE_FINDER_DATABASE_URL", url)
    monkeypatch.setenv("SERVICE_FINDER_GAZETTEER_PATH", str(tmp_path / "missing" / "england.npz"))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "in.json"
    # A postcode that does not exist: only the gazetteer could tell.
    data = service_data("a")
    data["locations"][0]["postcode"] = "ZZ9 9ZZ"
    source.write_text(json.dumps([data]), encoding="utf-8")
    return source


def _services(url: str) -> int:
    with Session(create_engine(url)) as session:
        return repository.count_services(session)


def test_without_the_gazetteer_nothing_is_imported_and_the_reason_is_given(no_gazetteer: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(_source(tmp_path))])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "postcodes cannot be checked: nothing imported" in text
    assert "--no-postcode-check" in text
    assert not (tmp_path / "store.sqlite3").exists()  # refused before the store was even opened


def test_no_postcode_check_imports_knowingly(no_gazetteer: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "--no-postcode-check", str(_source(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "postcodes are not checked" in result.output
    assert _services(no_gazetteer) == 1


def test_demo_load_needs_the_gazetteer_too(no_gazetteer: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "load"])
    assert result.exit_code == 2
    assert not (tmp_path / "store.sqlite3").exists()
