"""Coverage of every English postcode (1,489,121) for one instant and for all 168 hours of a week.

Targets (issue 8): one instant and one profile < 10 s; all 168 hours < 5 minutes.

    .venv/bin/python benchmarks/bench_coverage.py [--services 0] [--reach 10] [--skip-week]

Directory: the national lines and the demonstration directory shipped in data/ (590 services), or, with
--services N, N synthetic services from benchmarks/synthetic.py (templates moved to real English postcodes).
Timed: `coverage.analysis.compute` (eligibility, open state per instant, the grid search, aggregation by district
and by postcode), including building the postcode grid for the reach the first time (printed separately too).
Not timed: loading the gazetteer and building the directory index. Ratios are figure / target.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

from service_finder.coverage.analysis import CoverageQuery, Population, Reach, compute, window_instants
from service_finder.geocoding.gazetteer import Gazetteer
from service_finder.schemas import ServiceRecord
from service_finder.search.index import DirectoryIndex

sys.path.insert(0, str(Path(__file__).resolve().parent))  # synthetic.py beside this script
import synthetic

ONE_INSTANT_TARGET_S = 10.0
WEEK_TARGET_S = 300.0
WEEK_OF = date(2026, 10, 5)


def directory(count: int) -> list[ServiceRecord]:
    if count:
        return synthetic.generate(count, seed=7)
    return [
        ServiceRecord.model_validate(item)
        for path in (synthetic.DATA / "national_lines.json", synthetic.DATA / "demo" / "directory.json")
        for item in json.loads(path.read_text())
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=0, help="synthetic services (0: the shipped directory)")
    parser.add_argument("--reach", type=float, default=10.0, help="reach in straight-line km")
    parser.add_argument("--skip-week", action="store_true", help="only the one-instant figure")
    args = parser.parse_args()

    records = directory(args.services)
    index = DirectoryIndex.build(records, version=1, built_at=synthetic.BUILT_AT)
    population = Population.from_gazetteer(Gazetteer.load(synthetic.GAZETTEER))
    query = CoverageQuery(reach=Reach.straight_line(args.reach))
    print(f"{len(index):,} services, {len(population):,} English postcodes, {query.reach.label}")

    started = time.perf_counter()
    population.grid(args.reach)
    grid_s = time.perf_counter() - started
    population.memo.clear()  # the one-instant figure includes building the grid, as a cold request would

    for label in ("sat 02:00", "fri 20:00"):
        instants = window_instants(label, WEEK_OF)
        started = time.perf_counter()
        result = compute(index, population, query, instants)
        elapsed = time.perf_counter() - started
        print(
            f"one instant ({label}): {elapsed:.2f} s (ratio {elapsed / ONE_INSTANT_TARGET_S:.2f}); "
            f"{result.open_services[0]} services open, {result.share()[0]:.1%} of postcodes covered"
        )
        population.memo.clear()
    print(f"  of which building the postcode grid: {grid_s:.2f} s")

    if not args.skip_week:
        instants = window_instants("week", WEEK_OF)
        started = time.perf_counter()
        result = compute(index, population, query, instants)
        elapsed = time.perf_counter() - started
        distinct = len({tuple(row) for row in result.district_covered.tolist()})
        ratio = elapsed / WEEK_TARGET_S
        print(f"168 hours: {elapsed:.1f} s (ratio {ratio:.2f}); mean share {result.share().mean():.1%}")
        print(f"  {distinct} distinct district outcomes (hours with the same open services computed once)")


if __name__ == "__main__":
    main()
