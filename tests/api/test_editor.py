from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.config import Settings
from service_finder.errors import PreconditionFailed
from service_finder.main import create_app
from service_finder.schemas import ServiceRecord
from service_finder.storage import repository
from service_finder.storage.db import write_session
from tests.conftest import json_log
from tests.factories import make_record, service_data

NOW = datetime(2026, 11, 1, tzinfo=UTC)
FRIDAY_EVENING: dict[str, str | int] = {"postcode": "LS1 1UR", "at": "2026-11-27T20:00:00", "age": 30}


def _key(engine: Engine, *scopes: str) -> dict[str, str]:
    with Session(engine) as session:
        key = repository.create_api_key(session, name=f"{'-'.join(scopes)}-editor", scopes=list(scopes), now=NOW)
        session.commit()
    return {"Authorization": f"Bearer {key}"}


def _key_id(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer sf_").split("_", 1)[0]


def _search_ids(client: TestClient) -> list[str]:
    return [r["service"]["id"] for r in client.get("/v1/search", params=FRIDAY_EVENING).json()["results"]]


def test_writing_needs_a_key_with_the_write_scope(client: TestClient, engine: Engine) -> None:
    body = service_data("new-cafe")
    anonymous = client.post("/v1/services", json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    reader = client.post("/v1/services", json=body, headers=_key(engine, "read"))
    assert reader.status_code == 403
    forged = client.post("/v1/services", json=body, headers={"Authorization": "Bearer sf_0123456789ab_" + "x" * 43})
    assert forged.status_code == 401
    assert client.get("/v1/services/new-cafe").status_code == 404


@pytest.mark.parametrize(
    "sent",
    [
        ["Bearer good", "X-API-Key bogus"],
        ["Bearer bogus", "X-API-Key good"],
        ["X-API-Key bogus", "Bearer good"],
        ["Bearer good", "X-API-Key other"],  # two keys that are both valid
        ["X-API-Key good", "X-API-Key bogus"],
        ["Bearer good", "Bearer bogus"],
    ],
)
def test_two_different_keys_in_one_request_are_refused_without_showing_either(
    client: TestClient, engine: Engine, sent: list[str]
) -> None:
    keys = {
        "good": _key(engine, "write")["Authorization"].removeprefix("Bearer "),
        "other": _key(engine, "write")["Authorization"].removeprefix("Bearer "),
        "bogus": "sf_0123456789ab_" + "x" * 43,
    }
    client.post("/v1/services", json=service_data("cafe"), headers={"Authorization": f"Bearer {keys['good']}"})
    headers = [
        ("Authorization", f"Bearer {keys[which]}") if how == "Bearer" else ("X-API-Key", keys[which])
        for how, which in (item.split() for item in sent)
    ]
    with json_log() as log:
        refused = client.delete("/v1/services/cafe", headers=[*headers, ("If-Match", '"cafe-r1"')])
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"] == 'Bearer realm="service-finder"'
    problem = refused.json()
    assert problem["type"].endswith("/unauthorised")
    assert "two different API keys" in problem["detail"]
    for header in {name for name, _ in headers}:
        assert header in problem["detail"]
    for key in keys.values():  # a key is a secret: never in an answer or a log line
        assert key not in refused.text
        assert key not in str(refused.headers)
        assert key not in log.getvalue()
    assert client.get("/v1/services/cafe").status_code == 200  # nothing was deleted
    # The same key in both headers is one key, and one key in one header works as before.
    same = {"Authorization": f"Bearer {keys['good']}", "X-API-Key": keys["good"], "If-Match": '"cafe-r1"'}
    assert client.delete("/v1/services/cafe", headers=same).status_code == 204


def test_a_created_service_is_searchable_at_once(client: TestClient, engine: Engine) -> None:
    response = client.post("/v1/services", json=service_data("new-cafe"), headers=_key(engine, "write"))
    assert response.status_code == 201
    assert response.headers["location"] == "/v1/services/new-cafe"
    assert response.headers["etag"] == '"new-cafe-r1-fresh"'
    # The write's ETag is the one a read sends, so a client that wrote can revalidate its copy at once.
    assert client.get("/v1/services/new-cafe", headers={"If-None-Match": response.headers["etag"]}).status_code == 304
    assert response.json()["locations"][0]["district_code"] == "E08000035"
    assert _search_ids(client) == ["new-cafe"]
    again = client.post("/v1/services", json=service_data("new-cafe"), headers=_key(engine, "write"))
    assert again.status_code == 409


def test_an_update_needs_the_current_etag(client: TestClient, engine: Engine) -> None:
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    changed = service_data("cafe", eligibility={"minimum_age": 16})
    assert client.put("/v1/services/cafe", json=changed, headers=headers).status_code == 428
    ok = client.put("/v1/services/cafe", json=changed, headers={**headers, "If-Match": '"cafe-r1"'})
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"cafe-r2-fresh"'
    stale = client.put("/v1/services/cafe", json=service_data("cafe"), headers={**headers, "If-Match": '"cafe-r1"'})
    assert stale.status_code == 412
    assert client.get("/v1/services/cafe").json()["eligibility"]["minimum_age"] == 16
    history = client.get("/v1/services/cafe/history").json()
    assert [(h["action"], h["field"], h["old_value"], h["new_value"]) for h in history] == [
        ("create", None, None, None),
        ("update", "eligibility.minimum_age", 18, 16),
    ]
    assert {h["actor"] for h in history} == {f"key:{_key_id(headers)} (write-editor)"}


def test_the_history_tells_apart_two_keys_with_one_name(client: TestClient, engine: Engine) -> None:
    # Both were 'key:rev4': once a leaked key was revoked, nobody could tell which changes it had made.
    first, second = _key(engine, "write"), _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=first)
    assert _patch(client, "cafe", {"alert": "Closed today"}, second).status_code == 200
    history = client.get("/v1/services/cafe/history").json()
    assert [h["actor"] for h in history] == [f"key:{_key_id(key)} (write-editor)" for key in (first, second)]


def test_a_merge_patch_is_validated_like_an_import(client: TestClient, engine: Engine) -> None:
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    bad = client.patch(
        "/v1/services/cafe",
        json={"eligibility": {"maximum_age": 10}},
        headers={**headers, "If-Match": '"cafe-r1"', "Content-Type": "application/merge-patch+json"},
    )
    assert bad.status_code == 422
    assert "minimum_age 18 is greater than maximum_age 10" in bad.json()["detail"]
    assert (bad.json()["field"], bad.json()["value"]) == ("eligibility.maximum_age", 10)
    far = client.patch(
        "/v1/services/cafe",
        json={"locations": [{"id": "l", "postcode": "SW1A 2AA", "latitude": 53.8, "longitude": -1.55}]},
        headers={**headers, "If-Match": '"cafe-r1"'},
    )
    assert far.status_code == 422
    assert far.json()["field"] == "locations.0.latitude"
    # The same problem type as every other bad value, and the value as JSON sent it (53.8, not the text '53.8').
    assert (far.json()["type"].rsplit("/", 1)[1], far.json()["value"]) == ("invalid-parameter", 53.8)
    typed = client.patch(
        "/v1/services/cafe",
        json={"eligibility": {"minimum_age": "abc"}},
        headers={**headers, "If-Match": '"cafe-r1"'},
    )
    assert (typed.status_code, typed.json()["field"], typed.json()["value"]) == (422, "eligibility.minimum_age", "abc")
    good = client.patch(
        "/v1/services/cafe",
        json={"eligibility": {"accepts_intoxicated": None}},
        headers={**headers, "If-Match": '"cafe-r1"'},
    )
    assert good.status_code == 200
    assert good.json()["eligibility"]["accepts_intoxicated"] is None
    assert good.json()["eligibility"]["minimum_age"] == 18


def test_a_session_written_twice_with_24_00_and_00_00_is_refused_naming_it(client: TestClient, engine: Engine) -> None:
    # Monday 18:00-24:00 and Monday 18:00-00:00 are one evening: the write answered 500 ("Something went wrong").
    evening = [{"day": "monday", "opens_at": "18:00", "closes_at": close} for close in ("24:00", "00:00")]
    data = service_data("twice-cafe", schedules=[{"id": "twice-cafe-hours", "sessions": evening}])
    response = client.post("/v1/services", json=data, headers=_key(engine, "write"))
    assert response.status_code == 422
    assert "sessions Mo 18:00-24:00 and Mo 18:00-00:00 overlap" in response.json()["detail"]
    assert client.get("/v1/services/twice-cafe").status_code == 404


@pytest.mark.parametrize("field", ["status", "safety_net", "locations", "eligibility.genders"])
def test_a_merge_patch_null_cannot_silently_reset_a_field_that_has_no_unknown(
    client: TestClient, engine: Engine, field: str
) -> None:
    # RFC 7396's null removes a member, which would put the default back: "status": null would reopen a
    # temporarily closed service, "eligibility.genders": null would open a women-only house to everyone.
    headers = _key(engine, "write")
    created = client.post(
        "/v1/services",
        json=service_data("cafe", status="temporarily_closed", eligibility={"genders": ["women"]}),
        headers=headers,
    )
    assert created.status_code == 201
    before = client.get("/v1/services/cafe").json()
    outer, _, inner = field.partition(".")
    refused = client.patch(
        "/v1/services/cafe",
        json={outer: {inner: None}} if inner else {field: None},
        headers={**headers, "If-Match": '"cafe-r1"', "Content-Type": "application/merge-patch+json"},
    )
    assert refused.status_code == 422
    assert (refused.json()["field"], refused.json()["value"]) == (field, None)
    assert "cannot be null" in refused.json()["detail"]
    assert client.get("/v1/services/cafe").json() == before


@pytest.mark.parametrize(
    ("verified_at", "message"),
    [
        ("9999-12-31T00:00:00Z", "outside the years 1900 to 2199"),  # once froze the index (review date overflow)
        ((datetime.now(UTC) + timedelta(days=3)).isoformat(), "is in the future"),  # verified for years to come
    ],
)
def test_a_check_dated_in_the_future_is_refused_and_changes_nothing(
    client: TestClient, engine: Engine, verified_at: str, message: str
) -> None:
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    before = client.get("/v1/services/cafe").json()
    refused = client.patch(
        "/v1/services/cafe",
        json={"provenance": {"verified_at": verified_at, "verify_due": None}},
        headers={**headers, "If-Match": '"cafe-r1"'},
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "provenance.verified_at"
    assert message in refused.json()["detail"]
    # Nothing written: the record and the search index are as they were.
    assert client.get("/v1/services/cafe").json() == before
    assert client.get("/readyz").json()["index_stale"] is False
    assert "cafe" in _search_ids(client)


def test_a_review_date_that_would_keep_an_old_check_verified_is_refused(client: TestClient, engine: Engine) -> None:
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    before = client.get("/v1/services/cafe").json()
    refused = client.patch(
        "/v1/services/cafe",
        json={"provenance": {"verified_at": "1901-01-01T00:00:00Z", "verify_due": "2199-12-31"}},
        headers={**headers, "If-Match": '"cafe-r1"'},
    )
    assert refused.status_code == 422
    assert (refused.json()["field"], refused.json()["value"]) == ("provenance.verify_due", "2199-12-31")
    assert "a check counts until 1903-01-02 at the latest" in refused.json()["detail"]
    assert client.get("/v1/services/cafe").json() == before


def test_a_catchment_district_that_does_not_exist_is_refused(client: TestClient, engine: Engine) -> None:
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    refused = client.patch(
        "/v1/services/cafe",
        json={"eligibility": {"catchment": {"type": "districts", "districts": ["E08000053"]}}},
        headers={**headers, "If-Match": '"cafe-r1"'},
    )
    assert refused.status_code == 422
    assert (refused.json()["field"], refused.json()["value"]) == ("eligibility.catchment.districts.0", "E08000053")
    # Still found by a Leeds search, not left out "only for people living in E08000053".
    assert "cafe" in _search_ids(client)


def test_without_the_gazetteer_a_change_is_refused_not_stored_unchecked(engine: Engine, tmp_path: Path) -> None:
    # Without the gazetteer every postcode and district check was skipped: a site moved to SW1A 1AA (Westminster)
    # at Barrow's coordinates, with Leeds' district, was stored and served as verified. An import refuses it.
    with write_session(engine) as session:
        repository.upsert_services(session, [make_record("cafe")], actor="setup", now=NOW)
        session.commit()
    settings = Settings(database_url=str(engine.url), gazetteer_path=tmp_path / "missing.npz", rate_limit_enabled=False)
    site = {**service_data("cafe")["locations"][0], "postcode": "SW1A 1AA", "latitude": 54.11, "longitude": -3.23}
    with TestClient(create_app(settings, engine=engine), raise_server_exceptions=False) as client:
        headers = _key(engine, "write")
        refused = [
            _patch(client, "cafe", {"locations": [{**site, "district_code": "E08000035"}]}, headers),
            client.put(
                "/v1/services/cafe",
                json=service_data("cafe", locations=[site]),
                headers={**headers, "If-Match": '"cafe-r1"'},
            ),
            client.post("/v1/services", json=service_data("other-cafe"), headers=headers),
        ]
        stored = client.get("/v1/services/cafe").json()
        created = client.get("/v1/services/other-cafe").status_code
    for response in refused:
        assert response.status_code == 503, response.text
        assert response.json()["type"].endswith("/gazetteer-unavailable")
        assert int(response.headers["retry-after"]) > 0
    assert (stored["locations"][0]["postcode"], stored["revision"], created) == ("LS1 1UR", 1, 404)


def test_services_whose_ids_join_the_same_way_at_their_locations_can_both_be_created(
    client: TestClient, engine: Engine
) -> None:
    # 'zaa' at 'zbb--zcc' and 'zaa--zbb' at 'zcc' once shared a link key: the second was a 409 "written by someone
    # else at the same time" that no retry could get past.
    headers = _key(engine, "write")
    site = service_data("x")["locations"][0]
    first = client.post(
        "/v1/services", json=service_data("zaa", locations=[site | {"id": "zbb--zcc"}]), headers=headers
    )
    assert first.status_code == 201
    second = client.post(
        "/v1/services", json=service_data("zaa--zbb", locations=[site | {"id": "zcc"}]), headers=headers
    )
    assert second.status_code == 201
    assert client.get("/v1/services/zaa--zbb").json()["locations"][0]["id"] == "zcc"
    assert client.get("/v1/services/zaa").json()["locations"][0]["id"] == "zbb--zcc"


def test_a_deleted_service_disappears_but_keeps_its_history(client: TestClient, engine: Engine) -> None:
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    assert client.delete("/v1/services/cafe", headers=headers).status_code == 428
    deleted = client.delete("/v1/services/cafe", headers={**headers, "If-Match": '"cafe-r1"'})
    assert deleted.status_code == 204
    assert "content-type" not in deleted.headers  # no body, so nothing to say it is JSON
    gone = client.get("/v1/services/cafe")
    assert gone.status_code == 410
    assert gone.json()["type"].endswith("/gone")
    assert gone.json()["value"] == "cafe"
    assert client.get("/v1/services/never-was").status_code == 404
    assert _search_ids(client) == []
    assert client.get("/v1/services").json()["total_items"] == 0
    assert [h["action"] for h in client.get("/v1/services/cafe/history").json()] == ["create", "delete"]


def _remove(client: TestClient, service_id: str, headers: dict[str, str]) -> None:
    assert client.post("/v1/services", json=service_data(service_id), headers=headers).status_code == 201
    deleted = client.delete(f"/v1/services/{service_id}", headers={**headers, "If-Match": f'"{service_id}-r1"'})
    assert deleted.status_code == 204


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("revision", ["r1", "r2"])  # the ETag last read, and the revision the removal wrote
def test_a_change_to_a_removed_service_is_410_as_a_read_is_and_changes_nothing(
    client: TestClient, engine: Engine, method: str, revision: str
) -> None:
    # They were 404 "not in the directory" while GET said 410 gone: an editor's tool took the id for a typo.
    headers = _key(engine, "write")
    _remove(client, "cafe", headers)
    bodies: dict[str, Any] = {"PUT": service_data("cafe"), "PATCH": {"alert": "Closed today"}, "DELETE": None}
    response = client.request(
        method, "/v1/services/cafe", headers={**headers, "If-Match": f'"cafe-{revision}"'}, json=bodies[method]
    )
    assert response.status_code == 410
    assert response.headers["content-type"] == "application/problem+json"
    read = client.get("/v1/services/cafe").json()
    assert (response.json()["type"], response.json()["field"], response.json()["value"]) == (
        read["type"],
        "service_id",
        "cafe",
    )
    assert "POST" in response.json()["detail"]  # how to bring it back
    assert client.get("/v1/services/cafe").status_code == 410  # not brought back
    assert [h["action"] for h in client.get("/v1/services/cafe/history").json()] == ["create", "delete"]
    never = client.request(
        method,
        "/v1/services/never-was",
        headers={**headers, "If-Match": '"never-was-r1"'},
        json=service_data("never-was") if method == "PUT" else bodies[method],
    )
    assert never.status_code == 404


def test_a_service_removed_while_a_change_is_on_its_way_is_not_brought_back(client: TestClient, engine: Engine) -> None:
    # The route looks before the write; a removal can commit between the two. A PUT whose If-Match is the removal's
    # revision then matched the stored row and brought the service back, with no POST. Simulated by a look that
    # still sees the removed row.
    headers = _key(engine, "write")
    _remove(client, "cafe", headers)
    real_revision = repository.service_revision

    def look_before_the_removal(session: Session, service_id: str, *, include_deleted: bool = False) -> int | None:
        return real_revision(session, service_id, include_deleted=True)

    with patch.object(repository, "service_revision", look_before_the_removal):
        response = client.put(
            "/v1/services/cafe", json=service_data("cafe"), headers={**headers, "If-Match": '"cafe-r2"'}
        )
    assert response.status_code == 410
    assert response.json()["value"] == "cafe"
    assert client.get("/v1/services/cafe").status_code == 410
    assert _search_ids(client) == []
    assert [h["action"] for h in client.get("/v1/services/cafe/history").json()] == ["create", "delete"]


def test_a_poller_learns_of_a_removal_as_well_as_of_changes(client: TestClient, engine: Engine) -> None:
    headers = _key(engine, "write")
    for name in ("cafe", "haven"):
        client.post("/v1/services", json=service_data(name), headers=headers)
    before = datetime.now(UTC)
    assert client.delete("/v1/services/cafe", headers={**headers, "If-Match": '"cafe-r1"'}).status_code == 204
    since = {"modified_after": before.isoformat()}

    page = client.get("/v1/services", params=since).json()
    assert page["items"] == []
    assert [r["id"] for r in page["removed"]] == ["cafe"]
    assert datetime.fromisoformat(page["removed"][0]["removed_at"]) > before
    # Not on a later page, nor without modified_after (a full copy has no removed services in it to drop).
    assert client.get("/v1/services", params={**since, "page": 2}).json()["removed"] == []
    assert client.get("/v1/services").json()["removed"] == []
    # Brought back, it is a change again, not a removal.
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    again = client.get("/v1/services", params=since).json()
    assert ([s["id"] for s in again["items"]], again["removed"]) == (["cafe"], [])


def test_a_poller_of_one_kind_learns_of_a_service_that_moved_to_another(client: TestClient, engine: Engine) -> None:
    # A partner keeping a copy of crisis cafés polls with kind=crisis_cafe: a café that became a peer group is gone
    # from that copy, or it goes on being offered as a café.
    headers = _key(engine, "write")
    for name in ("cafe", "other-cafe"):
        client.post("/v1/services", json=service_data(name, kind="crisis_cafe"), headers=headers)
    before = datetime.now(UTC)
    assert _patch(client, "cafe", {"kind": "peer_support"}, headers).status_code == 200
    since = {"modified_after": before.isoformat(), "kind": "crisis_cafe"}
    page = client.get("/v1/services", params=since).json()
    assert page["items"] == []
    assert [r["id"] for r in page["removed"]] == ["cafe"]
    assert datetime.fromisoformat(page["removed"][0]["removed_at"]) > before
    # Polled for its new kind, it is a change; polled from after the move, nothing left.
    assert [s["id"] for s in client.get("/v1/services", params={**since, "kind": "peer_support"}).json()["items"]] == [
        "cafe"
    ]
    after = {"modified_after": datetime.now(UTC).isoformat(), "kind": "crisis_cafe"}
    assert client.get("/v1/services", params=after).json()["removed"] == []
    # Moved back, it is a café again: a change, not a removal.
    assert _patch(client, "cafe", {"kind": "crisis_cafe"}, headers).status_code == 200
    again = client.get("/v1/services", params=since).json()
    assert ([s["id"] for s in again["items"]], again["removed"]) == (["cafe"], [])


def test_a_deleted_service_can_be_brought_back_by_creating_it_again(client: TestClient, engine: Engine) -> None:
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    assert client.delete("/v1/services/cafe", headers={**headers, "If-Match": '"cafe-r1"'}).status_code == 204
    restored = client.post("/v1/services", json=service_data("cafe", name="Cafe, reopened"), headers=headers)
    assert restored.status_code == 201
    assert client.get("/v1/services/cafe").json()["name"] == "Cafe, reopened"
    assert "cafe" in _search_ids(client)
    assert [h["action"] for h in client.get("/v1/services/cafe/history").json()][:3] == ["create", "delete", "restore"]
    # Once it is back, creating it again is a conflict as for any existing service.
    assert client.post("/v1/services", json=service_data("cafe"), headers=headers).status_code == 409


def test_two_editors_at_once_one_wins_and_the_other_is_refused(engine: Engine) -> None:
    with write_session(engine) as session:
        repository.upsert_services(session, [make_record("cafe")], actor="setup", now=NOW)
        session.commit()
    outcomes: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    def edit(name: str, minimum_age: int) -> None:
        barrier.wait()
        try:
            with write_session(engine) as session:
                repository.upsert_services(
                    session,
                    [make_record("cafe", eligibility={"minimum_age": minimum_age})],
                    actor=name,
                    expected_revision=1,
                )
                session.commit()
            outcomes[name] = "saved"
        except PreconditionFailed:
            outcomes[name] = "refused"

    threads = [threading.Thread(target=edit, args=(f"editor-{age}", age)) for age in (16, 21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["refused", "saved"]
    winner = next(name for name, outcome in outcomes.items() if outcome == "saved")
    with Session(engine) as session:
        stored = repository.get_service(session, "cafe")
        history = repository.service_history(session, "cafe")
    assert stored is not None
    assert stored.revision == 2
    assert stored.record.eligibility.minimum_age == int(winner.split("-")[1])
    assert [h.actor for h in history if h.action == "update"] == [winner]


@pytest.mark.parametrize("if_match", ['"other-r1"', "r1", '"cafe-rX"'])
def test_a_malformed_if_match_is_a_clear_error(client: TestClient, engine: Engine, if_match: str) -> None:
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    response = client.put("/v1/services/cafe", json=service_data("cafe"), headers={**headers, "If-Match": if_match})
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["value"]) == ("If-Match", if_match)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_a_weak_etag_in_if_match_never_matches_and_changes_nothing(
    client: TestClient, engine: Engine, method: str
) -> None:
    # RFC 9110 13.1.1: If-Match compares strongly. W/"cafe-r1" names the current revision, and was taken as it.
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    bodies: dict[str, Any] = {
        "PUT": {"json": service_data("cafe", name="Changed")},
        "PATCH": {"json": {"name": "Changed"}},
    }
    weak = 'W/"cafe-r1"'
    response = client.request(
        method, "/v1/services/cafe", headers={**headers, "If-Match": weak}, **bodies.get(method, {})
    )
    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/precondition-failed")
    assert (problem["field"], problem["value"]) == ("If-Match", weak)
    assert "weak" in problem["detail"]
    assert 'without W/: "cafe-r1"' in problem["detail"]
    current = client.get("/v1/services/cafe")
    assert (current.status_code, current.json()["name"], current.headers["etag"]) == (
        200,
        "Leeds Test Café",
        '"cafe-r1-fresh"',
    )
    # `*` is no ETag of a service, as before: 422 naming it, nothing changed.
    star = client.request(method, "/v1/services/cafe", headers={**headers, "If-Match": "*"}, **bodies.get(method, {}))
    assert (star.status_code, star.json()["field"], star.json()["value"]) == (422, "If-Match", "*")
    # The same ETag sent strong is taken.
    strong = client.request(
        method, "/v1/services/cafe", headers={**headers, "If-Match": '"cafe-r1"'}, **bodies.get(method, {})
    )
    assert strong.status_code == (204 if method == "DELETE" else 200)


def test_two_creations_of_one_id_cannot_both_succeed(client: TestClient, engine: Engine) -> None:
    # The route's early look ("does it exist?") runs before the write; a second creator can pass it before the
    # first commits. Simulated here by a look that always says no: the write itself must refuse the second.
    headers = _key(engine, "write")
    first = client.post("/v1/services", json=service_data("cafe", name="First"), headers=headers)
    assert first.status_code == 201
    real_get = repository.get_service

    def look_before_the_first_commits(session: Session, service_id: str, *, include_deleted: bool = False) -> Any:
        return None if include_deleted else real_get(session, service_id)

    with patch.object(repository, "get_service", look_before_the_first_commits):
        second = client.post("/v1/services", json=service_data("cafe", name="Second"), headers=headers)
    assert second.status_code == 409
    assert (second.json()["field"], second.json()["value"]) == ("id", "cafe")
    assert client.get("/v1/services/cafe").json()["name"] == "First"  # nothing overwritten
    assert [e["action"] for e in client.get("/v1/services/cafe/history").json()] == ["create"]


def test_a_schedule_id_another_service_uses_is_a_conflict_naming_the_field(client: TestClient, engine: Engine) -> None:
    headers = _key(engine, "write")
    assert client.post("/v1/services", json=service_data("cafe"), headers=headers).status_code == 201
    other = service_data("other-cafe")
    other["schedules"][0]["id"] = service_data("cafe")["schedules"][0]["id"]
    refused = client.post("/v1/services", json=other, headers=headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert (refused.json()["field"], refused.json()["value"]) == ("schedules.0.id", "cafe-hours")
    assert client.get("/v1/services/other-cafe").status_code == 404


def test_an_if_match_with_thousands_of_digits_is_a_422_naming_it(client: TestClient, engine: Engine) -> None:
    headers = {"If-Match": '"x-r' + "9" * 4400 + '"', **_key(engine, "write")}
    response = client.delete("/v1/services/x", headers=headers)
    assert response.status_code == 422
    assert response.json()["field"] == "If-Match"


def test_a_body_nested_hundreds_deep_is_refused_not_a_500(client: TestClient, engine: Engine) -> None:
    depth = 500
    body = '{"id": "deep", "name": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    headers = {**_key(engine, "write"), "Content-Type": "application/json"}
    response = client.post("/v1/services", content=body, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def _patch(client: TestClient, service_id: str, patch: dict[str, Any], headers: dict[str, str]) -> Any:
    """A merge patch against the service's current ETag."""
    etag = client.get(f"/v1/services/{service_id}").headers["etag"]
    merge = {**headers, "If-Match": etag, "Content-Type": "application/merge-patch+json"}
    return client.patch(f"/v1/services/{service_id}", json=patch, headers=merge)


def test_a_write_cannot_move_another_services_place_or_rewrite_an_organisation_it_joins(
    client: TestClient, engine: Engine
) -> None:
    # A Bradford editor reusing the Leeds café's location id would move the café to Bradford, still "verified".
    headers = _key(engine, "write")
    assert client.post("/v1/services", json=service_data("cafe"), headers=headers).status_code == 201
    bradford = service_data("brad-cafe", organisation={"id": "brad-org", "name": "Bradford Mind"})
    bradford["locations"] = [
        {**bradford["locations"][0], "id": "cafe-loc", "address": "1 Bradford Road", "city": "Bradford"}
    ]
    refused = client.post("/v1/services", json=bradford, headers=headers)
    assert refused.status_code == 409
    assert (refused.json()["field"], refused.json()["value"]) == ("locations.0.address", "1 Bradford Road")
    assert client.get("/v1/services/cafe").json()["locations"][0]["address"] == "Calverley Street"
    # The same place with the same details is shared, as before.
    same_place = {**bradford, "locations": service_data("cafe")["locations"]}
    assert client.post("/v1/services", json=same_place, headers=headers).status_code == 201
    # Joining another organisation with other details would rewrite it for every service of it.
    joined = _patch(client, "cafe", {"organisation": {"id": "brad-org"}}, headers)
    assert joined.status_code == 409
    assert joined.json()["field"] == "organisation.name"
    assert client.get("/v1/services/brad-cafe").json()["organisation"]["name"] == "Bradford Mind"
    # Its own organisation's details any of its services may correct (and every service of it shows the change).
    renamed = _patch(client, "brad-cafe", {"organisation": {"name": "Bradford Mind (charity)"}}, headers)
    assert renamed.status_code == 200


def test_a_place_only_a_removed_service_also_used_can_be_corrected(client: TestClient, engine: Engine) -> None:
    # The removed service was counted as sharing the site: every correction was a 409 "this would also change
    # service 'zz-b'", a service that answers 410, and nothing an editor could do got past it.
    headers = _key(engine, "write")
    site = {**service_data("zz-a")["locations"][0], "id": "zz-site"}
    for name in ("zz-a", "zz-b"):
        created = client.post("/v1/services", json=service_data(name, locations=[site]), headers=headers)
        assert created.status_code == 201
    assert client.delete("/v1/services/zz-b", headers={**headers, "If-Match": '"zz-b-r1"'}).status_code == 204
    moved = _patch(client, "zz-a", {"locations": [{**site, "address": "2 Park Square"}]}, headers)
    assert moved.status_code == 200, moved.text
    assert client.get("/v1/services/zz-a").json()["locations"][0]["address"] == "2 Park Square"
    assert client.get("/v1/services/zz-b").status_code == 410
    # Brought back, it is the record it is given: at the old address it would move zz-a back, so it is refused.
    old_address = client.post("/v1/services", json=service_data("zz-b", locations=[site]), headers=headers)
    assert (old_address.status_code, old_address.json()["field"]) == (409, "locations.0.address")
    current = service_data("zz-b", locations=[{**site, "address": "2 Park Square"}])
    assert client.post("/v1/services", json=current, headers=headers).status_code == 201


def test_the_conflicts_a_change_can_meet_are_in_its_contract(client: TestClient) -> None:
    # PATCH and PUT answer 409 (above, and a schedule id another service has): a client generated from the
    # OpenAPI document, not told of it, treats it as an unexpected failure rather than "choose another id".
    document = client.get("/openapi.json").json()
    for method in ("put", "patch"):
        responses = document["paths"]["/v1/services/{service_id}"][method]["responses"]
        assert "409" in responses, method


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "Open late\u0000"}, "description"),
        (
            {"phones": [{"number": "0113 496 0001", "display": "0113 496 0001 (ask for the duty worker, please)"}]},
            "phones.0.display",
        ),
        ({"provenance": {"source_name": "x" * 201}}, "provenance.source_name"),
    ],
)
def test_what_the_production_store_cannot_hold_is_a_422_on_every_store(
    client: TestClient, engine: Engine, change: dict[str, Any], field: str
) -> None:
    # Runs on SQLite and on PostgreSQL: PostgreSQL refused these with a 500 (a NUL in text; columns of 40 and 200).
    response = client.post("/v1/services", json=service_data("cafe", **change), headers=_key(engine, "write"))
    assert response.status_code == 422
    assert field in response.text
    assert client.get("/v1/services/cafe").status_code == 404


def test_a_refused_write_names_the_field_and_the_value_it_is_about(client: TestClient, engine: Engine) -> None:
    # These named the field "body" (or none) and gave the whole record as the value: an editor's form could not
    # say which box to correct.
    headers = _key(engine, "write")
    nul = client.post("/v1/services", json=service_data("cafe", name="Caf\u0000e"), headers=headers)
    assert (nul.status_code, nul.json()["field"], nul.json()["value"]) == (422, "name", "Caf\u0000e")
    late = service_data("cafe")
    late["schedules"][0]["sessions"][0]["opens_at"] = "25:00"
    refused = client.post("/v1/services", json=late, headers=headers)
    assert (refused.status_code, refused.json()["field"]) == (422, "schedules.0.sessions.0.opens_at")
    assert refused.json()["value"] == "25:00"
    assert client.post("/v1/services", json=service_data("cafe"), headers=headers).status_code == 201
    site_hours = {**service_data("cafe")["schedules"][0], "location_id": "cafe-loc"}
    assert _patch(client, "cafe", {"schedules": [site_hours]}, headers).status_code == 200
    orphaned = _patch(client, "cafe", {"locations": []}, headers)
    assert (orphaned.status_code, orphaned.json()["field"], orphaned.json()["value"]) == (
        422,
        "schedules.0.location_id",
        "cafe-loc",
    )
    twice = _patch(client, "cafe", {"schedules": [site_hours, site_hours]}, headers)
    assert (twice.status_code, twice.json()["field"], twice.json()["value"]) == (422, "schedules.1.id", "cafe-hours")


def test_a_long_location_id_shared_by_services_is_audited_on_postgresql_too(client: TestClient, engine: Engine) -> None:
    # The audit names a shared location's field as 'locations[<id>].<field>': with an 80-character id that passed
    # the audit column's 120 characters, and PostgreSQL refused the whole import.
    place = {**service_data("a")["locations"][0], "id": "l" * 80}
    first, second = service_data("a", locations=[place]), service_data("b", locations=[place])
    with Session(engine) as session:
        repository.upsert_services(session, [ServiceRecord.model_validate(first)], actor="test", now=NOW)
        repository.upsert_services(session, [ServiceRecord.model_validate(second)], actor="test", now=NOW)
        moved = {**place, "address": "2 Other Street"}
        repository.upsert_services(
            session, [ServiceRecord.model_validate(service_data("b", locations=[moved]))], actor="test", now=NOW
        )
        session.commit()
    fields = [entry["field"] for entry in client.get("/v1/services/a/history").json() if entry["field"]]
    assert any(f.startswith("locations[llll") and len(f) <= 120 for f in fields)


@pytest.mark.parametrize(
    ("display", "kept"),
    [
        ("0800 999 1234", False),  # another number: read aloud, it sends the person elsewhere
        ("Ring us any time", False),  # words: nothing to read aloud, and the tel: link is all there is
        ("0113 4960000", True),  # the same number, grouped as the publisher writes it
        ("0113 496 0000 x2", True),  # an extension, which the tel: link dials
        # An extension written another way is read aloud but not dialled: the link rang the switchboard.
        ("0113 496 0000 ext. 2", False),
        ("0113 496 0000 #2", False),
    ],
)
def test_a_phone_display_must_read_as_the_number_it_dials(
    client: TestClient, engine: Engine, display: str, kept: bool
) -> None:
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    changed = _patch(client, "cafe", {"phones": [{"number": "0113 496 0000", "display": display}]}, headers)
    phones = client.get("/v1/services/cafe").json()["phones"]
    if kept:
        assert changed.status_code == 200
        assert [(p["number"], p["display"]) for p in phones] == [("+441134960000", display)]
    else:
        assert changed.status_code == 422
        assert (changed.json()["field"], changed.json()["value"]) == ("phones.0.display", display)
        assert "0113 496 0000" in changed.json()["detail"]
        assert all(p["display"] != display for p in phones)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,hi", "ftp://example.org/list"])
def test_a_source_url_must_be_a_web_address(client: TestClient, engine: Engine, url: str) -> None:
    # It is published as a link (HSDS attributes, /v1/services): a javascript: link must never be stored.
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    refused = _patch(client, "cafe", {"provenance": {"source_url": url}}, headers)
    assert refused.status_code == 422
    assert (refused.json()["field"], refused.json()["value"]) == ("provenance.source_url", url)
    assert client.get("/v1/services/cafe").json()["provenance"].get("source_url") != url


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"eligibility": {"accepts_intoxicted": None}}, "eligibility.accepts_intoxicted"),
        ({"fooo": None}, "fooo"),
        ({"access": {"accessibility": {"not_a_feature": None}}}, "access.accessibility.not_a_feature"),
        ({"eligibility": {"catchment": {"district": None}}}, "eligibility.catchment.district"),
        ({"phones": [{"number": "116123", "dispaly": "116 123"}]}, "phones.0.dispaly"),
        ({"eligibility": {"accepts_intoxicted": True}}, "eligibility.accepts_intoxicted"),
    ],
)
def test_a_merge_patch_naming_a_field_that_does_not_exist_is_refused_whatever_its_value(
    client: TestClient, engine: Engine, patch: dict[str, Any], field: str
) -> None:
    # A misspelt member sent as null changed nothing and answered 200: the editor believed the policy was now
    # unknown. It is refused as POST and PUT refuse a body field they do not take.
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe", eligibility={"accepts_intoxicated": False}), headers=headers)
    before = client.get("/v1/services/cafe")
    refused = _patch(client, "cafe", patch, headers)
    assert refused.status_code == 400
    assert refused.json()["type"].rsplit("/", 1)[1] == "unknown-parameter"
    assert refused.json()["field"] == field
    assert field in refused.json()["detail"]
    after = client.get("/v1/services/cafe")
    assert (after.json(), after.headers["etag"]) == (before.json(), before.headers["etag"])
    assert [h["action"] for h in client.get("/v1/services/cafe/history").json()] == ["create"]


@pytest.mark.parametrize("display", ["0113 496 0000 x3", "0113 496 0000"])
def test_a_phone_display_must_show_the_extension_its_number_has(
    client: TestClient, engine: Engine, display: str
) -> None:
    # The stored number has no extension: the display's is what the link dials. Another one rang another desk; none,
    # the switchboard.
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)
    before = client.get("/v1/services/cafe").json()
    changed = _patch(client, "cafe", {"phones": [{"number": "0113 496 0000 x2", "display": display}]}, headers)
    assert changed.status_code == 422
    assert (changed.json()["field"], changed.json()["value"]) == ("phones.0.display", display)
    assert "extension 2" in changed.json()["detail"]
    assert client.get("/v1/services/cafe").json() == before
    shown = _patch(client, "cafe", {"phones": [{"number": "0113 496 0000 x2"}]}, headers)
    assert shown.json()["phones"][0]["display"] == "0113 496 0000 x2"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("url", "javascript:alert(1)", "must be a web address beginning http:// or https://, with no spaces"),
        ("email", "help-at-example.org", "must be an email address, such as info@example.org"),
    ],
)
def test_a_patch_says_what_a_value_must_be_as_put_does_never_the_regular_expression(
    client: TestClient, engine: Engine, field: str, value: str, words: str
) -> None:
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe"), headers=headers)

    patched = _patch(client, "cafe", {field: value}, headers)
    put = client.put(
        "/v1/services/cafe", json=service_data("cafe", **{field: value}), headers={**headers, "If-Match": '"cafe-r1"'}
    )

    assert patched.status_code == put.status_code == 422
    assert patched.json()["detail"] == put.json()["detail"] == f"{field} '{value}': {words}"
    assert patched.json()["errors"] == put.json()["errors"] == [{"field": field, "value": value, "message": words}]
    assert client.get("/v1/services/cafe").json()["revision"] == 1


def test_a_text_longer_than_a_csv_cell_is_refused_and_nothing_is_written(client: TestClient, engine: Engine) -> None:
    headers = _key(engine, "write")
    client.post("/v1/services", json=service_data("cafe", alert="Closed on Monday"), headers=headers)
    huge = "Closed " * 20_000  # 140,000 characters: under the body limit, over what a CSV cell holds

    put = client.put(
        "/v1/services/cafe", json=service_data("cafe", alert=huge), headers={**headers, "If-Match": '"cafe-r1"'}
    )
    patched = _patch(client, "cafe", {"description": huge}, headers)

    assert (put.status_code, put.json()["field"]) == (422, "alert")
    assert (patched.status_code, patched.json()["field"]) == (422, "description")
    assert "at most 131,072 characters" in put.json()["detail"]
    stored = client.get("/v1/services/cafe").json()
    assert (stored["revision"], stored["alert"], stored["description"]) == (
        1,
        "Closed on Monday",
        "An evening crisis café.",
    )
