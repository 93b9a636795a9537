from __future__ import annotations

import gzip
import ipaddress
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.api import limits
from service_finder.api.docs import problem_example
from service_finder.api.limits import Tier, TokenBuckets, acceptable, client_address
from service_finder.config import Settings
from service_finder.errors import Unauthorised
from service_finder.main import create_app
from service_finder.storage import repository
from tests.conftest import GAZETTEER


@pytest.fixture
def limited(sqlite_engine: Engine) -> Iterator[TestClient]:
    settings = Settings(
        database_url=str(sqlite_engine.url),
        gazetteer_path=GAZETTEER,
        rate_limit_anonymous_per_minute=60,
        rate_limit_anonymous_burst=3,
        rate_limit_partner_per_minute=600,
        rate_limit_partner_burst=10,
        trusted_proxies=["10.0.0.0/8"],
        max_body_bytes=2048,
    )
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        yield client


def test_anonymous_callers_get_429_with_retry_after_past_their_burst(limited: TestClient) -> None:
    statuses = [limited.get("/v1/search").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = limited.get("/v1/search")
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["type"] == problem_example(429, detail="", instance="/")["type"]  # as documented
    assert [e["id"] for e in refused.json()["safety_net"]][:1] == ["emergency-999"]  # still numbers to call
    assert limited.get("/healthz").status_code == 200


def test_a_person_limited_on_the_search_page_still_gets_the_urgent_numbers_and_its_assets(limited: TestClient) -> None:
    page = limited.get("/")
    css = next(part.split('"')[0] for part in page.text.split('href="')[1:] if ".css" in part.split('"')[0])
    for _ in range(3):
        limited.get("/", params={"postcode": "LS1"})
    refused = limited.get("/", params={"postcode": "LS1"})
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert int(refused.headers["retry-after"]) >= 1
    for number in ("tel:999", "tel:111", "tel:116123", "sms:85258"):
        assert number in refused.text
    assert "LS1" not in refused.text  # nothing the person typed
    # The page's own styles and script do not use up its budget, so a page that was let through renders whole.
    assert [limited.get(path).status_code for path in (css, "/embed.js")] == [200, 200]
    api = limited.get("/v1/search")
    assert api.status_code == 429
    assert "999" in api.json()["detail"]


def test_a_partner_key_has_its_own_higher_limit(limited: TestClient, sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        key = repository.create_api_key(session, name="nhs-111-partner", scopes=["read"], now=datetime.now(UTC))
        session.commit()
    for _ in range(3):
        limited.get("/v1/search")
    assert limited.get("/v1/search").status_code == 429
    partner = [limited.get("/v1/search", headers={"X-API-Key": key}).status_code for _ in range(10)]
    assert partner == [200] * 10
    # A key that is not valid earns no tier: it counts against the address, which is over its limit.
    assert limited.get("/v1/search", headers={"X-API-Key": "sf_000000000000_" + "a" * 43}).status_code == 429


def test_a_fhir_client_refused_by_the_limits_gets_an_operation_outcome(limited: TestClient) -> None:
    # A FHIR client reads only FHIR: the limits' own answers (here a made-up key) are OperationOutcomes under /fhir.
    refused = limited.get("/fhir/HealthcareService", headers={"Authorization": "Bearer nonsense"})
    assert (refused.status_code, refused.headers["content-type"]) == (401, "application/fhir+json")
    [issue] = refused.json()["issue"]
    assert (refused.json()["resourceType"], issue["code"]) == ("OperationOutcome", "login")


def test_a_made_up_key_is_401_saying_how_to_authenticate(limited: TestClient) -> None:
    made_up = limited.get("/v1/search", headers={"Authorization": "Bearer nonsense"})
    assert made_up.status_code == 401
    assert made_up.headers["www-authenticate"].startswith("Bearer")
    assert limited.get("/v1/search", headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 200


def test_a_made_up_key_is_401_with_limits_turned_off_too(sqlite_engine: Engine) -> None:
    # Limits may be left to a gateway; a key that is not valid (a revoked partner key) must still hear so, not be
    # served as anonymous.
    settings = Settings(database_url=str(sqlite_engine.url), gazetteer_path=GAZETTEER, rate_limit_enabled=False)
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        assert client.get("/v1/search", headers={"Authorization": "Bearer nonsense"}).status_code == 401
        assert client.get("/v1/search").status_code == 200


def test_made_up_keys_count_against_the_address_and_are_not_remembered_without_end(limited: TestClient) -> None:
    made_up = [{"X-API-Key": f"sf_{n:012d}_" + "a" * 43} for n in range(5)]
    statuses = [limited.get("/v1/search", headers=headers).status_code for headers in made_up]
    assert statuses == [401, 401, 401, 429, 429]  # the anonymous burst is 3
    keys = limited.app.state.service_finder.keys  # type: ignore[attr-defined]
    keys.max_keys = 2
    for n in range(10):
        with pytest.raises(Unauthorised):
            keys.identify(f"sf_{100 + n:012d}_" + "a" * 43, lambda: Session(limited.app.state.service_finder.engine))  # type: ignore[attr-defined]
    assert len(keys._cache) == 2


def test_a_spoofed_forwarded_for_does_not_dodge_the_limit() -> None:
    trusted = [ipaddress.ip_network("10.0.0.0/8")]
    direct = {"client": ("203.0.113.9", 1), "headers": [(b"x-forwarded-for", b"198.51.100.1")]}
    assert client_address(direct, trusted) == "203.0.113.9"
    via_proxy = {"client": ("10.1.2.3", 1), "headers": [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.9, 10.0.0.5")]}
    assert client_address(via_proxy, trusted) == "203.0.113.9"


def test_addresses_in_one_ipv6_64_share_one_bucket(sqlite_engine: Engine) -> None:
    # Any IPv6 host has a /64 to itself: a bucket per address let one client rotate past the limit.
    settings = Settings(
        database_url=str(sqlite_engine.url),
        gazetteer_path=GAZETTEER,
        rate_limit_anonymous_per_minute=60,
        rate_limit_anonymous_burst=3,
        trusted_proxies=["10.0.0.0/8"],
    )
    with TestClient(create_app(settings, engine=sqlite_engine), client=("10.0.0.1", 50000)) as proxied:

        def search_from(address: str) -> int:
            return proxied.get("/v1/search", headers={"X-Forwarded-For": address}).status_code

        assert [search_from(f"2001:db8:1:3::{n}") for n in range(1, 6)] == [200, 200, 200, 429, 429]
        assert search_from("2001:db8:1:4::1") == 200  # another /64, another client
        assert [search_from("203.0.113.9") for _ in range(4)] == [200, 200, 200, 429]  # IPv4: per address


def test_token_buckets_refill_at_the_tier_rate() -> None:
    buckets, tier = TokenBuckets(), Tier(per_minute=60, burst=2)
    assert [buckets.take("a", tier, 0.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]
    assert buckets.take("a", tier, 2.0) == 0.0
    assert buckets.take("b", tier, 2.0) == 0.0


def test_a_body_over_the_limit_is_413(limited: TestClient) -> None:
    response = limited.post(
        "/v1/search", content=b'{"postcode": "' + b"x" * 4000 + b'"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_a_chunked_body_over_the_limit_is_413_too(limited: TestClient) -> None:
    # No Content-Length to refuse it by: counted as it arrives, and the framework's own 400 is not what goes out.
    chunks = iter([b'{"postcode": "', b"x" * 4000, b'"}'])
    response = limited.post("/v1/search", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload-too-large")


@pytest.mark.parametrize("path", ["/v1/services", "/healthz", "/hsds/services"])
def test_a_body_over_the_limit_on_a_get_is_413_and_the_operation_says_so(limited: TestClient, path: str) -> None:
    # These operations read no body, but the limit holds for every request: a client that sends one is told what
    # the contract says it may be told.
    response = limited.request("GET", path, content=b"x" * 4000)
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload-too-large")
    documented = limited.get("/openapi.json").json()["paths"][path]["get"]["responses"]
    assert "413" in documented


@pytest.mark.parametrize(
    ("method", "headers", "body", "status"),
    [
        ("POST", {"content-type": "application/json"}, b'{"postcode": "' + b"x" * 4000 + b'"}', 413),
        ("POST", {"content-type": "application/x-www-form-urlencoded"}, b"postcode=LS1", 415),
        ("GET", {"accept": "application/xml"}, None, 406),
    ],
)
def test_every_refusal_of_a_search_still_gives_numbers_to_call(
    limited: TestClient, method: str, headers: dict[str, str], body: bytes | None, status: int
) -> None:
    response = limited.request(method, "/v1/search", content=body, headers=headers)
    assert response.status_code == status
    assert "samaritans" in {entry["id"] for entry in response.json()["safety_net"]}


def test_a_key_given_twice_in_a_json_body_is_refused_naming_both_values(limited: TestClient) -> None:
    # As `age=3&age=40` in the query string: a JSON parser would keep 40 and answer for someone else.
    response = limited.post(
        "/v1/search", content=b'{"postcode": "LS1", "age": 3, "age": 40}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["value"]) == ("age", [3, 40])
    assert response.json()["safety_net"]
    once = limited.post("/v1/search", content=b'{"age": 40}', headers={"content-type": "application/json"})
    assert once.status_code == 200


def test_an_unsupported_accept_is_406(limited: TestClient) -> None:
    response = limited.get("/v1/search", headers={"Accept": "text/csv"})
    assert response.status_code == 406
    assert "application/json" in response.json()["detail"]
    assert limited.get("/v1/search", headers={"Accept": "application/*"}).status_code == 200


@pytest.mark.parametrize(
    ("accept", "ok"),
    [("*/*", True), ("application/json;q=0.9, text/html", True), ("text/html", False), ("application/json;q=0", False)],
)
def test_accept_header_matching(accept: str, ok: bool) -> None:
    assert acceptable(accept, ("application/json", "application/problem+json")) is ok


def test_geojson_is_served_where_it_is_offered(limited: TestClient) -> None:
    assert limited.get("/v1/services.geojson", headers={"Accept": "application/geo+json"}).status_code == 200
    refused = limited.get("/v1/services", headers={"Accept": "application/geo+json"})
    assert refused.status_code == 406
    assert "application/json" in refused.json()["detail"]


def test_a_client_over_its_limit_gets_429_before_its_body_is_read(limited: TestClient) -> None:
    # The body was read and parsed first: every one of a flood of bad bodies got its 422, and none a 429.
    duplicated = b'{"age": 3, "age": 4}'
    statuses = [
        limited.post("/v1/search", content=duplicated, headers={"content-type": "application/json"}).status_code
        for _ in range(5)
    ]
    assert statuses == [422, 422, 422, 429, 429]


def test_a_write_without_a_key_is_refused_before_its_body_is_read(limited: TestClient) -> None:
    refused = limited.post(
        "/v1/services", content=b'{"id": "a", "id": "b"}', headers={"content-type": "application/json"}
    )
    assert refused.status_code == 401  # it was 422, naming `id`: the body had been read and parsed
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert "'write' scope" in refused.json()["detail"]
    assert limited.delete("/v1/services/samaritans").status_code == 401
    assert limited.post("/v1/services/samaritans").status_code == 405  # no such operation, key or no key


def test_a_large_body_is_read_while_the_process_answers_other_requests(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading a 1 MiB body key by key took half a second on the event loop: /readyz and every search waited.
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    check = limits._body_problem

    def held_check(body: bytes) -> dict[str, object] | None:
        entered.set()
        release.wait(timeout=10)  # a guard: on the event loop this holds every request until it runs out
        finished.set()
        return check(body)

    monkeypatch.setattr(limits, "_body_problem", held_check)
    settings = Settings(database_url=str(sqlite_engine.url), gazetteer_path=GAZETTEER, rate_limit_enabled=False)
    body = json.dumps({"postcode": "LS1 1UR", "pad": "x" * 100_000}).encode()
    with TestClient(create_app(settings, engine=sqlite_engine)) as client, ThreadPoolExecutor(1) as pool:
        big = pool.submit(client.post, "/v1/search", content=body, headers={"content-type": "application/json"})
        assert entered.wait(timeout=10)
        ready = client.get("/readyz")
        answered_while_reading = not finished.is_set()
        release.set()
        assert ready.status_code == 200
        assert answered_while_reading
        assert big.result().json()["field"] == "pad"  # then read whole, and answered as before


def test_a_forwarded_client_is_one_client_however_the_proxy_writes_its_address(sqlite_engine: Engine) -> None:
    settings = Settings(
        database_url=str(sqlite_engine.url),
        gazetteer_path=GAZETTEER,
        rate_limit_anonymous_per_minute=60,
        rate_limit_anonymous_burst=3,
        trusted_proxies=["10.0.0.0/8"],
    )
    with TestClient(create_app(settings, engine=sqlite_engine), client=("10.0.0.1", 50000)) as proxied:

        def search_from(address: str) -> int:
            return proxied.get("/v1/search", headers={"X-Forwarded-For": address}).status_code

        # A dual-stack proxy writes IPv4 clients as IPv6: each is its own client (they all shared one ::/64).
        assert [search_from("::ffff:198.51.100.7") for _ in range(4)] == [200, 200, 200, 429]
        assert [search_from(a) for a in ("::ffff:203.0.113.9", *["203.0.113.9"] * 3)] == [200, 200, 200, 429]
        # A port is not part of the client (a new port was a new bucket, so never limited).
        assert [search_from(f"198.51.100.8:{port}") for port in range(40000, 40004)] == [200, 200, 200, 429]
        assert [search_from(f"[2001:db8:1:3::{n}]:443") for n in range(1, 5)] == [200, 200, 200, 429]
        # Not an address at all: counted as the proxy's own, not a fresh bucket each time.
        assert [search_from(f"client-{n}") for n in range(4)] == [200, 200, 200, 429]


def test_a_proxy_is_trusted_however_its_address_is_written() -> None:
    # An IPv4 proxy seen on a dual-stack socket (::ffff:10.1.2.3), listed as IPv4 or as IPv6.
    for listed in ("10.0.0.0/8", "::ffff:10.0.0.0/104"):
        trusted = [ipaddress.ip_network(listed)]
        via_proxy = {"client": ("::ffff:10.1.2.3", 1), "headers": [(b"x-forwarded-for", b"198.51.100.1, 10.0.0.5:80")]}
        assert client_address(via_proxy, trusted) == "198.51.100.1"


def test_an_accept_header_sent_as_several_lines_is_read_as_one_list(limited: TestClient) -> None:
    # RFC 9110 5.3: the lines of a list-valued field are one list. Only the last line was read, so a client whose
    # first line offered JSON was refused 406, and the same lines in the other order served.
    both = limited.get("/v1/search", headers=[("Accept", "application/json"), ("Accept", "text/html")])
    assert both.status_code == 200
    neither = limited.get("/v1/search", headers=[("Accept", "text/html"), ("Accept", "text/csv")])
    assert neither.status_code == 406


def test_a_body_is_judged_by_the_content_type_the_app_reads(limited: TestClient) -> None:
    # The app reads the first Content-Type line; the check read the last, and passed a body the app then could not
    # read as JSON (422 "must be a JSON object", for a body that is one).
    lines = [("Content-Type", "text/plain"), ("Content-Type", "application/json")]
    refused = limited.post("/v1/search", content=b'{"age": 30}', headers=lines)
    assert refused.status_code == 415
    assert refused.json()["value"] == "text/plain"


def test_a_forwarded_for_sent_as_several_lines_is_read_as_one_list() -> None:
    # Each proxy may add its own line: the right-most address that is not a proxy is on an earlier one.
    trusted = [ipaddress.ip_network("10.0.0.0/8")]
    lines = [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.9"), (b"x-forwarded-for", b"10.0.0.5")]
    assert client_address({"client": ("10.1.2.3", 1), "headers": lines}, trusted) == "203.0.113.9"


def test_a_compressed_body_is_415_naming_its_content_encoding(limited: TestClient) -> None:
    # Starlette never decompresses a request body: a gzipped search was answered 400 "the body is not UTF-8 (byte 0x8b
    # at position 1)", sending the integrator to look at their JSON's encoding rather than at their HTTP client.
    response = limited.post(
        "/v1/search",
        content=gzip.compress(b'{"postcode": "LS1"}'),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )

    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["accept-encoding"] == "identity"  # RFC 9110 15.5.16: the codings that are taken
    problem = response.json()
    assert (problem["field"], problem["value"]) == ("Content-Encoding", "gzip")
    assert problem["detail"] == "Content-Encoding 'gzip' is not taken: send the body uncompressed"
    assert "samaritans" in {entry["id"] for entry in problem["safety_net"]}
    plain = limited.post(
        "/v1/search",
        content=b'{"postcode": "LS1"}',
        headers={"content-type": "application/json", "content-encoding": "identity"},
    )
    assert plain.status_code == 200
