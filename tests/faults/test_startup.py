"""A server process that starts while its PostgreSQL is down: alive, not ready, answering with the safety net,
and ready without a restart once the store answers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import GAZETTEER, seeded_store
from tests.factories import make_record
from tests.faults.conftest import PrivatePostgres, start_server, stop_server

LEEDS_FRIDAY = {"postcode": "LS1 1UR", "at": "2026-11-27T20:00:00"}


def _metrics(url: str) -> dict[str, float]:
    lines = httpx.get(f"{url}/metrics").text.splitlines()
    return {line.split()[0]: float(line.split()[-1]) for line in lines if line and not line.startswith("#")}


def test_a_server_started_while_the_store_is_down_answers_with_the_safety_net_and_becomes_ready_when_it_is_up(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    seeded_store(private_postgres.url, [make_record("leeds-cafe")])
    private_postgres.stop()

    log = tmp_path / "server.log"
    server = start_server(private_postgres.url, log)  # returns once /healthz answers 200
    try:
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503
        body = ready.json()
        # The reason, in the probe's own fields: the store has never answered, so there is no index yet.
        assert (body["status"], body["store_reachable"], body["index_built"]) == ("not_ready", False, False)
        assert body["gazetteer_loaded"] is True

        answer = httpx.get(f"{server.url}/v1/search", params=LEEDS_FRIDAY)
        assert answer.status_code == 200
        assert answer.json()["results"] == []
        assert answer.json()["stale_index"] is True
        safety_net = {line["id"] for line in answer.json()["safety_net"]}
        assert {"emergency-999", "nhs-111-mental-health", "samaritans"} <= safety_net
        # No index and no answer yet: no age to alert on, rather than the placeholder's age reading as fresh.
        assert (
            _metrics(server.url)["service_finder_index_age_seconds"]
            != _metrics(server.url)["service_finder_index_age_seconds"]
        )  # NaN
        assert _metrics(server.url)["service_finder_store_up"] == 0

        private_postgres.start()
        server.wait_until("readyz to turn ready", lambda: httpx.get(f"{server.url}/readyz").status_code == 200)
        assert server.process.poll() is None, "the process restarted instead of recovering"
        assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"
        after = httpx.get(f"{server.url}/v1/search", params=LEEDS_FRIDAY).json()
        assert after["stale_index"] is False
        assert [r["service"]["id"] for r in after["results"]] == ["leeds-cafe"]
        metrics = _metrics(server.url)
        assert 0 <= metrics["service_finder_index_age_seconds"] < 60
        assert 0 <= metrics["service_finder_store_checked_age_seconds"] < 60
    finally:
        stop_server(server)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any("store unreachable at start" in line["message"] for line in lines)
    assert "Traceback" not in log.read_text()


def test_a_server_whose_gazetteer_is_damaged_starts_and_answers_with_the_safety_net(tmp_path: Path) -> None:
    # A gazetteer cut short stopped start-up with a BadZipFile traceback: a restart loop that answered nobody, where
    # a missing one starts, not ready, and answers.
    damaged = tmp_path / "england.npz"
    damaged.write_bytes(GAZETTEER.read_bytes()[:100_000])
    log = tmp_path / "server.log"
    server = start_server(f"sqlite:///{tmp_path / 'store.db'}", log, SERVICE_FINDER_GAZETTEER_PATH=str(damaged))
    try:
        ready = httpx.get(f"{server.url}/readyz")
        by_postcode = httpx.get(f"{server.url}/v1/search", params=LEEDS_FRIDAY)
        by_place = httpx.get(f"{server.url}/v1/search", params={"lat": 53.8, "lon": -1.55})
    finally:
        stop_server(server)
    assert (ready.status_code, ready.json()["status"], ready.json()["gazetteer_loaded"]) == (503, "not_ready", False)
    assert by_postcode.status_code == 503
    assert {"emergency-999", "samaritans"} <= {line["id"] for line in by_postcode.json()["safety_net"]}
    assert by_place.status_code == 200
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    [named] = [line for line in lines if str(damaged) in line["message"]]
    assert named["level"] == "error"
    assert "cannot be read" in named["message"]
    assert "Traceback" not in log.read_text()
