"""`service-finder coverage`: what it refuses before computing anything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service_finder.cli import app
from service_finder.config import get_settings

runner = CliRunner()


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # Were a refusal to regress, the run would compute: into a throwaway store and folder, not the repository's var/.
    monkeypatch.setenv("SERVICE_FINDER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    get_settings.cache_clear()
    yield str(tmp_path / "coverage")
    get_settings.cache_clear()


def test_week_of_without_a_window_is_refused_in_one_line(out: str) -> None:
    # It was ignored: the figures were for now, not the week asked about.
    result = runner.invoke(app, ["coverage", "--week-of", "2026-12-21", "--at", "2026-12-25T20:00", "-o", out])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "--week-of 2026-12-21 picks the week of a --window, but no --window is given: nothing computed. Add --window "
        "(e.g. --window 'sat 02:00'), or give exact instants with --at."
    ]


def test_a_blank_window_is_refused_in_one_line(out: str) -> None:
    result = runner.invoke(app, ["coverage", "--window", " ", "--week-of", "2026-12-21", "-o", out])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "--window is blank: nothing computed. Give hours of the week (e.g. --window 'sat 02:00'), or leave it out for "
        "now."
    ]
