"""Import N generated services into SQLite and PostgreSQL through the real import pipeline.

Targets (issue 2): 100,000 services into SQLite in under 60 s and into PostgreSQL in under 120 s.
Baseline measured in the same run: a bare executemany of the service rows alone, so the ratio shows what the
full pipeline (validation, audit trail, child rows) costs on top of the database's own insert speed.

    .venv/bin/python benchmarks/bench_import.py [--count 100000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from service_finder.importers.pipeline import import_records
from service_finder.importers.report import validate_record
from service_finder.storage import migrate
from service_finder.storage.db import create_db_engine, normalise_url

KINDS = ["crisis_cafe", "crisis_house", "dual_diagnosis", "substance_use", "psychological_therapy", "peer_support"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def generated(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    services = []
    for i in range(count):
        sid = f"bench-{i:07d}"
        opens = rng.choice([9, 10, 17, 18])
        services.append(
            {
                "id": sid,
                "name": f"Benchmark service {i} (demo)",
                "organisation": {"id": f"bench-org-{i % 500}", "name": f"Benchmark organisation {i % 500}"},
                "kind": rng.choice(KINDS),
                "needs": ["self_harm", "suicidal_thoughts"],
                "eligibility": {
                    "minimum_age": rng.choice([None, 16, 18]),
                    "referral_routes": ["walk_in", "self_referral"],
                    "catchment": {"type": "england"},
                },
                "access": {"contact_modes": ["in_person", "phone"], "accessibility": {"step_free": True}},
                "locations": [
                    {
                        "id": f"{sid}-loc",
                        "postcode": "LS1 1UR",
                        "latitude": 50.5 + rng.random() * 4.5,
                        "longitude": -4.5 + rng.random() * 5.5,
                    }
                ],
                "phones": [{"number": f"0113 496 0{i % 1000:03d}"}],
                "schedules": [
                    {
                        "id": f"{sid}-hours",
                        "sessions": [
                            {"day": day, "opens_at": f"{opens:02d}:00", "closes_at": f"{opens + 5:02d}:00"}
                            for day in rng.sample(DAYS, 3)
                        ],
                    }
                ],
                "provenance": {"source_name": "demo"},
            }
        )
    return services


def run(url: str, raw: list[dict[str, Any]]) -> tuple[float, float]:
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    start = time.perf_counter()
    parsed = [validate_record(f"record {i}", item) for i, item in enumerate(raw, start=1)]
    report = import_records(engine, parsed, source="bench", fmt="native", gazetteer=None, actor="bench")
    elapsed = time.perf_counter() - start
    assert report.accepted, report.problems[:3]
    # Baseline: the same number of bare rows into a scratch table, one executemany, one transaction.
    rows = [{"id": item["id"], "name": item["name"], "kind": item["kind"]} for item in raw]
    scratch = sa.Table(
        "bench_baseline",
        sa.MetaData(),
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("name", sa.String),
        sa.Column("kind", sa.String),
    )
    scratch.drop(engine, checkfirst=True)
    scratch.create(engine)
    start = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(scratch.insert(), rows)
    baseline = time.perf_counter() - start
    scratch.drop(engine)
    engine.dispose()
    return elapsed, baseline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    raw = generated(args.count)
    with tempfile.TemporaryDirectory() as directory:
        seconds, baseline = run(f"sqlite:///{Path(directory) / 'bench.sqlite3'}", raw)
    print(
        f"sqlite     import {args.count:>7} services: {seconds:6.1f} s  (target 60 s: {seconds / 60:.2f}x of budget; "
        f"bare-row baseline {baseline:.2f} s, pipeline/baseline {seconds / baseline:.0f}x)"
    )
    admin = sa.create_engine(normalise_url(args.postgres), isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.make_url(normalise_url(args.postgres)).set(database=name).render_as_string(hide_password=False)
        seconds, baseline = run(url, raw)
        print(
            f"postgresql import {args.count:>7} services: {seconds:6.1f} s  (target 120 s: {seconds / 120:.2f}x of "
            f"budget; bare-row baseline {baseline:.2f} s, pipeline/baseline {seconds / baseline:.0f}x)"
        )
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
