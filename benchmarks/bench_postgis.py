"""Our in-process search against the peer a user would otherwise build: PostgreSQL + PostGIS, same data, same run.

Target (issue 4): ours at least 3x faster per query.

    .venv/bin/python benchmarks/bench_postgis.py [--count 100000] [--queries 1000]
        [--dsn postgresql://postgres@127.0.0.1:5432/postgres]

Needs PostGIS on the PostgreSQL server (Debian: `apt-get install -y postgresql-15-postgis-3`); the script checks
and says so. It creates a throwaway database, loads the same N services (benchmarks/synthetic.py) with a
geography point column and a GiST index, and drops the database at the end.

What each side does, per query (the same queries, interleaved one by one so both see the same machine noise):
- PostGIS: one prepared statement over loopback, `ORDER BY geog <-> point LIMIT k` with the hard filters as
  columns: kind, active, not a safety-net line, age range (unknown passes), referral route bit-field (unknown
  passes), `ST_DWithin(geog, point, radius)`. It returns ids and distances only: no opening hours, no open-now or
  next-opening, no eligibility verdicts or sentences, no score, no reasons, no exclusions, no safety net. (Server
  time alone is not printed: EXPLAIN ANALYZE with literal values gets a custom plan that sorts every row in the
  radius, 30x slower than the prepared KNN plan timed here, so it would misrepresent PostGIS.)
- Ours: the whole `engine.search` (see bench_search.py): all of the above plus hours, verdicts, score, reasons,
  exclusions with explain, safety net, and the pydantic response. Searches without a location are left out, as
  PostGIS has no point to order by.
"""

from __future__ import annotations

import argparse
import gc
import io
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from service_finder.domain.taxonomy import ServiceStatus
from service_finder.schemas import Referral
from service_finder.search.engine import PROFESSIONAL_MASK, SELF_MASK, search
from service_finder.search.index import KIND_CODES, DirectoryIndex, bit_mask

sys.path.insert(0, str(Path(__file__).resolve().parent))  # synthetic.py beside this script
import synthetic

TARGET_SPEEDUP = 3.0
INSTALL_HINT = (
    "PostGIS is not installed on this PostgreSQL server. On Debian/Ubuntu with PostgreSQL 15:\n"
    "    sudo apt-get update && sudo apt-get install -y postgresql-15-postgis-3\n"
    "(for another major version, install postgresql-<version>-postgis-3), then run this again."
)
ALL_KINDS = sorted(KIND_CODES.values())

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE service (
    id text PRIMARY KEY,
    kind smallint NOT NULL,
    active boolean NOT NULL,
    safety_net boolean NOT NULL,
    min_age smallint,
    max_age smallint,
    referral integer NOT NULL,
    referral_known boolean NOT NULL,
    geog geography(Point, 4326) NOT NULL
);
"""
INDEX = "CREATE INDEX service_geog ON service USING gist (geog); ANALYZE service;"
# The same hard filters as the engine's, as far as columns can carry them; `check` (unknown) passes, as ours does.
NEAREST = """
SELECT id, ST_Distance(geog, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography) AS metres
FROM service
WHERE active AND NOT safety_net
  AND kind = ANY(%(kinds)s::smallint[])
  AND (%(age)s::smallint IS NULL
       OR ((min_age IS NULL OR min_age <= %(age)s) AND (max_age IS NULL OR max_age >= %(age)s)))
  AND (NOT referral_known OR (referral & %(routes)s) <> 0)
  AND ST_DWithin(geog, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography, %(metres)s)
ORDER BY geog <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography
LIMIT %(limit)s
"""


def parameters(query: synthetic.Query) -> dict[str, Any]:
    request, where = query.request, query.location
    assert where is not None
    return {
        "lon": where.longitude,
        "lat": where.latitude,
        "kinds": [KIND_CODES[k] for k in request.kinds] or ALL_KINDS,
        "age": request.age,
        "routes": SELF_MASK if request.referral is Referral.self else PROFESSIONAL_MASK,
        "metres": request.radius_km * 1000,
        "limit": request.limit,
    }


def rows_tsv(index: DirectoryIndex) -> str:
    out = io.StringIO()
    for record in index.services:
        if not record.locations:
            continue
        place = record.locations[0]
        eligibility = record.eligibility
        fields = [
            record.id,
            str(KIND_CODES[record.kind]),
            "t" if record.status is ServiceStatus.active else "f",
            "t" if record.safety_net else "f",
            "\\N" if eligibility.minimum_age is None else str(eligibility.minimum_age),
            "\\N" if eligibility.maximum_age is None else str(eligibility.maximum_age),
            str(bit_mask(eligibility.referral_routes)),
            "f" if eligibility.referral_routes is None else "t",
            f"SRID=4326;POINT({place.longitude} {place.latitude})",
        ]
        out.write("\t".join(fields) + "\n")
    return out.getvalue()


def summary(name: str, values_ms: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values_ms)
    p50, p95, p99 = (synthetic.percentile(ordered, f) for f in (0.50, 0.95, 0.99))
    print(f"{name:<44} p50 {p50:8.3f} ms  p95 {p95:8.3f} ms  p99 {p99:8.3f} ms  mean {sum(ordered) / len(ordered):.3f}")
    return p50, p95, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="services (default 100,000)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the throwaway database (to inspect plans)")
    args = parser.parse_args()

    try:
        admin = psycopg.connect(args.dsn, autocommit=True)
    except psycopg.OperationalError as error:
        raise SystemExit(f"cannot connect to PostgreSQL at {args.dsn}: {error}") from None
    with admin:
        available = admin.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'")
        found = available.fetchone()
        if found is None:
            raise SystemExit(INSTALL_HINT)
        server = admin.execute("SHOW server_version").fetchone()
        print(f"PostgreSQL {server[0] if server else '?'}, PostGIS {found[0]} available")
        database = f"bench_postgis_{uuid.uuid4().hex[:8]}"
        admin.execute(f'CREATE DATABASE "{database}"')
        try:
            run(args, psycopg.conninfo.make_conninfo(args.dsn, dbname=database))
        finally:
            if args.keep:
                print(f"kept database {database}")
            else:
                admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def run(args: argparse.Namespace, dsn: str) -> None:
    started = time.perf_counter()
    records = synthetic.generate(args.count, seed=args.seed)
    index = DirectoryIndex.build(records, version=1, built_at=synthetic.BUILT_AT)
    del records
    gc.collect()
    print(f"{len(index):,} services generated and indexed in {time.perf_counter() - started:.1f} s")
    queries = [q for q in synthetic.queries(args.queries, seed=args.seed + 4) if q.location is not None]

    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(SCHEMA)
        with conn.cursor() as cursor, cursor.copy("COPY service FROM STDIN") as copy:
            copy.write(rows_tsv(index))
        conn.execute(INDEX)
        loaded = conn.execute("SELECT count(*) FROM service").fetchone()
        print(
            f"PostGIS: {loaded[0] if loaded else 0:,} located services loaded, GiST built in "
            f"{time.perf_counter() - started:.1f} s"
        )

        warm = queries[:50]
        for query in warm:  # both sides warm: plans prepared, pages cached, numpy paths hot
            conn.execute(NEAREST, parameters(query), prepare=True).fetchall()
            search(index, query.request, location=query.location, at=query.at, today=query.at.date())

        ours_ms, postgis_ms, found_ours, found_postgis = [], [], 0, 0
        for query in queries:
            values = parameters(query)
            t0 = time.perf_counter_ns()
            rows = conn.execute(NEAREST, values, prepare=True).fetchall()
            t1 = time.perf_counter_ns()
            response = search(index, query.request, location=query.location, at=query.at, today=query.at.date())
            t2 = time.perf_counter_ns()
            postgis_ms.append((t1 - t0) / 1e6)
            ours_ms.append((t2 - t1) / 1e6)
            found_postgis += len(rows)
            found_ours += len(response.results)

        uses_gist = conn.execute("EXPLAIN " + NEAREST, parameters(queries[0])).fetchall()

    print(f"\n{len(queries):,} located queries, {len(index):,} services, one by one, interleaved")
    ours = summary("ours: full search (hours, verdicts, reasons)", ours_ms)
    peer = summary("PostGIS: nearest-k with filters, round trip", postgis_ms)
    print(
        f"results: ours {found_ours / len(queries):.1f} per query (open, eligible), "
        f"PostGIS {found_postgis / len(queries):.1f} (not filtered by hours)"
    )
    plan_text = " ".join(str(row[0]) for row in uses_gist)
    print(f"PostGIS plan uses the GiST index: {'service_geog' in plan_text}")
    for label, mine, theirs in zip(("p50", "p95", "p99"), ours, peer, strict=True):
        speedup = theirs / mine
        verdict = "ok" if speedup >= TARGET_SPEEDUP else "BELOW TARGET"
        print(f"speed-up {label}: PostGIS / ours = {speedup:.2f}x (target >= {TARGET_SPEEDUP:g}x)  {verdict}")


if __name__ == "__main__":
    main()
