from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service_finder.cli import app
from service_finder.config import Settings, get_settings
from service_finder.main import DrainingServer
from service_finder.storage import migrate
from tests.factories import service_data

runner = CliRunner()
BIN = Path(sys.executable).parent  # the virtual environment's scripts


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("SERVICE_FINDER_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_import_then_export_native_round_trips(database: str, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps([service_data("a"), service_data("b", name="B")]), encoding="utf-8")
    imported = runner.invoke(app, ["import", str(source)])
    assert imported.exit_code == 0, imported.output
    assert "2 record(s) were imported (2 created, 0 updated, 0 unchanged)" in imported.output
    out = tmp_path / "out.json"
    exported = runner.invoke(app, ["export", "--format", "native", "--output", str(out)])
    assert exported.exit_code == 0, exported.output
    assert [r["id"] for r in json.loads(out.read_text(encoding="utf-8"))] == ["a", "b"]
    again = runner.invoke(app, ["import", str(out)])
    assert "0 created, 0 updated, 2 unchanged" in again.output


def test_a_rejected_import_exits_non_zero_and_names_the_problem(database: str, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps([service_data("a", eligibility={"minimum_age": -3})]), encoding="utf-8")
    result = runner.invoke(app, ["import", str(source)])
    assert result.exit_code == 1
    assert "record 1 (id 'a'), field eligibility.minimum_age, value -3" in result.output
    assert "nothing written" in result.output


def test_dry_run_writes_nothing(database: str, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps([service_data("a")]), encoding="utf-8")
    result = runner.invoke(app, ["import", "--dry-run", str(source)])
    assert "1 record(s) would be imported (1 created" in result.output
    exported = runner.invoke(app, ["export", "--format", "native"])
    assert json.loads(exported.stdout) == []


def test_db_upgrade_reports_the_head_revision(database: str) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0
    assert f"database at revision {migrate.head_revision()}" in result.output


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed entry point (service_finder.cli:main), whose error handling is what a user meets."""
    return subprocess.run(
        [str(BIN / "service-finder"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ordinary_mistakes_get_one_line_not_a_traceback(tmp_path: Path) -> None:
    store = {"SERVICE_FINDER_DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}"}
    assert _cli("db", "upgrade", env=store).returncode == 0
    cases = [
        (["export", "--format", "native", "--output", str(tmp_path)], store, "Is a directory"),
        (["db", "upgrade"], {"SERVICE_FINDER_DATABASE_URL": str(tmp_path / "x.db")}, "database URL cannot be used"),
        (["db", "upgrade"], {"SERVICE_FINDER_DATABASE_URL": "mysql://x/y"}, "driver 'MySQLdb' is not installed"),
        (["quality"], {"SERVICE_FINDER_DATABASE_URL": "mysql://x/y"}, "driver 'MySQLdb' is not installed"),
    ]
    not_a_database = tmp_path / "x.json"
    not_a_database.write_text('{"a": 1}', encoding="utf-8")
    cases.append(
        (["db", "upgrade"], {"SERVICE_FINDER_DATABASE_URL": f"sqlite:///{not_a_database}"}, "file is not a database")
    )
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    source = tmp_path / "in.json"
    source.write_text(json.dumps([service_data("a")]), encoding="utf-8")
    cases.append((["import", str(source)], {**store, "SERVICE_FINDER_GAZETTEER_PATH": str(empty)}, "cannot be read"))
    for args, env, words in cases:
        result = _cli(*args, env=env)
        assert result.returncode != 0, args
        assert words in result.stdout + result.stderr, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr, args


def test_settings_that_cannot_be_used_stop_the_server_with_one_line_each(tmp_path: Path) -> None:
    secret = "postgresql://editor:hunter2@127.0.0.1:1/x"  # a password in the URL must never be printed
    unsafe = {"SERVICE_FINDER_ENVIRONMENT": "production", "SERVICE_FINDER_DEBUG": "true"}
    for env, words in (
        (unsafe, "error: SERVICE_FINDER_DEBUG must be off when SERVICE_FINDER_ENVIRONMENT=production; not started"),
        ({"SERVICE_FINDER_MAX_BODY_BYTES": "-1"}, "error: SERVICE_FINDER_MAX_BODY_BYTES: Input should be greater"),
        ({"SERVICE_FINDER_TRUSTED_PROXIES": "10.0.0.1"}, "error: SERVICE_FINDER_TRUSTED_PROXIES: not valid JSON"),
    ):
        result = _cli("serve", "--port", "1", env={**env, "SERVICE_FINDER_DATABASE_URL": secret})
        assert result.returncode == 2
        assert words in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert "hunter2" not in result.stdout + result.stderr
    # Production with no admin key: refused before serving, in one line, not a start-up traceback in the logs.
    production = {
        "SERVICE_FINDER_ENVIRONMENT": "production",
        "SERVICE_FINDER_PUBLIC_BASE_URL": "https://finder.example.org",
        "SERVICE_FINDER_DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
    }
    result = _cli("serve", "--port", "1", env=production)
    assert result.returncode == 2
    assert "error: refusing to start in production with no admin API key" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_log_level_that_is_none_stops_the_server_with_one_line(tmp_path: Path) -> None:
    # It ended in a ValueError traceback from logging.
    store = {"SERVICE_FINDER_DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}"}
    for level in ("bogus", "trace"):  # TRACE would log every connection's client address
        result = _cli("serve", "--port", "1", env={**store, "SERVICE_FINDER_LOG_LEVEL": level})
        assert result.returncode == 2
        assert f"error: SERVICE_FINDER_LOG_LEVEL: '{level}' is not a log level" in result.stderr
        assert "DEBUG, INFO, WARNING, ERROR, CRITICAL; not started" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    assert Settings(log_level="warning").log_level == "WARNING"


def test_coverage_refuses_a_reach_of_nothing(database: str) -> None:
    result = runner.invoke(app, ["coverage", "--km", "0"])
    assert result.exit_code == 2
    assert "--km" in result.output


def test_a_csv_export_that_would_lose_hours_dates_is_refused_unless_allowed(database: str, tmp_path: Path) -> None:
    schedule = {**service_data()["schedules"][0], "valid_to": "2027-06-30"}
    source = tmp_path / "in.json"
    source.write_text(json.dumps([service_data("a", schedules=[schedule])]), encoding="utf-8")
    assert runner.invoke(app, ["import", "--no-postcode-check", str(source)]).exit_code == 0
    out = tmp_path / "out.csv"
    refused = runner.invoke(app, ["export", "--format", "csv", "--output", str(out)])
    assert refused.exit_code == 1
    assert "applies only between dates" in refused.output
    assert not out.exists()
    allowed = runner.invoke(app, ["export", "--format", "csv", "--output", str(out), "--allow-loss"])
    assert allowed.exit_code == 0
    assert out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["coverage", "--at", "0001-01-01T00:00+05:00"],
        ["coverage", "--at", "9999-12-31T23:30-05:00"],
        ["coverage", "--window", "sun 22:00-02:00", "--week-of", "9999-12-31"],
    ],
)
def test_coverage_dates_at_the_ends_of_the_calendar_are_one_line_not_a_traceback(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "between 1900 and 2199" in result.output
    assert not isinstance(result.exception, OverflowError)


def test_data_that_looks_like_rich_markup_is_printed_as_written(database: str, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "service_id,name,organisation_id,organisation_name,kind,source_name\nsvc-a,A,org,Org,[/x],test\n",
        encoding="utf-8",
    )
    imported = runner.invoke(app, ["import", "--no-postcode-check", str(source)])
    assert imported.exit_code == 1, imported.output
    assert "field kind, value '[/x]'" in imported.output

    upper = tmp_path / "upper.csv"
    upper.write_text(
        "service_id,name,organisation_id,organisation_name,kind,source_name\nSVC-A,A,org,Org,crisis_cafe,test\n",
        encoding="utf-8",
    )
    refused = runner.invoke(app, ["import", "--no-postcode-check", str(upper)])
    # What an id must be, in words (no regular expression for Rich to eat the brackets of, nor for a publisher to read).
    assert "field service_id, value 'SVC-A': must be lower-case letters, digits and hyphens" in refused.output
    assert "[a-z0-9]" not in refused.output


def test_a_service_name_that_looks_like_rich_markup_is_shown_in_the_quality_report(
    database: str, tmp_path: Path
) -> None:
    source = tmp_path / "in.json"
    record = service_data("old-line", name="Old line [/closed]", provenance={"verified_at": None, "verify_due": None})
    source.write_text(json.dumps([record]), encoding="utf-8")
    assert runner.invoke(app, ["import", "--no-postcode-check", str(source)]).exit_code == 0
    result = runner.invoke(app, ["quality", "--output", str(tmp_path / "quality.json")])
    assert result.exit_code == 0, result.output
    assert "Old line [/closed] (old-line)" in result.output


def test_key_names_and_ids_that_look_like_rich_markup_are_shown_as_written(database: str) -> None:
    created = runner.invoke(app, ["keys", "create", "team [/old]"])
    assert created.exit_code == 0, created.output
    assert "created key for 'team [/old]'" in created.output
    assert created.stdout.strip().startswith("sf_")  # the secret, shown the only time it can be
    revoked = runner.invoke(app, ["keys", "revoke", "[/x]"])
    assert revoked.exit_code == 1
    assert "no active key '[/x]'" in revoked.output


def test_a_key_name_too_long_for_the_audit_is_refused_before_any_key_exists(database: str) -> None:
    # Every write is audited as 'key:<id> (<name>)' in a column of 120 characters: PostgreSQL refused each write of
    # such a key with a 500, so it is refused at creation instead.
    refused = runner.invoke(app, ["keys", "create", "k" * 101])
    assert refused.exit_code == 1
    assert "1 to 100 characters" in refused.output
    assert "k" * 101 not in runner.invoke(app, ["keys", "list"]).output


def test_a_file_changing_a_place_another_service_uses_is_refused_unless_update_shared(
    database: str, tmp_path: Path
) -> None:
    # Two publishers both number their location "1": the second file would move the first one's café.
    def publisher(service_id: str, city: str) -> list[dict[str, object]]:
        place = {**service_data(service_id)["locations"][0], "id": "1", "city": city}
        return [service_data(service_id, organisation={"id": service_id, "name": service_id}, locations=[place])]

    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(publisher("pub-a-cafe", "Leeds")), encoding="utf-8")
    second.write_text(json.dumps(publisher("pub-b-cafe", "Leeds city centre")), encoding="utf-8")
    assert runner.invoke(app, ["import", str(first)]).exit_code == 0
    refused = runner.invoke(app, ["import", str(second)])
    assert refused.exit_code == 1
    assert "pub-a-cafe" in refused.output
    allowed = runner.invoke(app, ["import", "--update-shared", str(second)])
    assert allowed.exit_code == 0, allowed.output
    assert "1 created" in allowed.output


@pytest.mark.parametrize("port", ["99999", "0"])
def test_serve_refuses_a_port_it_cannot_listen_on(database: str, monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    # It said "serving on http://127.0.0.1:99999" and listened on another port.
    started: list[int] = []
    monkeypatch.setattr(DrainingServer, "run", lambda server, *args, **kwargs: started.append(server.config.port))
    monkeypatch.setenv("SERVICE_FINDER_GC_FREEZE", "false")  # serve sets it for itself when it is not set
    result = runner.invoke(app, ["serve", "--port", port])
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.output
    assert "serving on" not in result.output
    assert started == []
