"""Interleaved A/B of one of the search engine's tuning constants in one process.

    .venv/bin/python benchmarks/ab_engine.py [--size 100000] [--constant FIRST_RING_SITES] [--values 0,150,500]
        [--queries 2000]

Constants tuned with it: FIRST_RING_SITES (0 is the fixed 4 km ring, FIRST_RING_KM) and EVALUATE_ALL (below how
many candidates a search evaluates them all rather than working out score ceilings first). One index per setting
is built from the same records, so the open states one setting computes never speed up another; each query runs
once per setting, in alternating order, so the host's drifting speed falls on every setting alike. Prints
p50/p95/p99/mean per setting. No assertions.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # synthetic.py beside this script
import synthetic

from service_finder.search import engine
from service_finder.search.index import DirectoryIndex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--constant", default="FIRST_RING_SITES", choices=("FIRST_RING_SITES", "EVALUATE_ALL"))
    parser.add_argument("--values", default="0,150,500", help="the constant's values to compare")
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    settings = [int(value) for value in args.values.split(",")]
    shipped = getattr(engine, args.constant)
    queries = synthetic.queries(args.queries, seed=11)
    records = synthetic.generate(args.size, seed=7, templates=synthetic.load_templates())
    indexes = {k: DirectoryIndex.build(records, version=1, built_at=synthetic.BUILT_AT) for k in settings}
    del records
    gc.collect()

    def run(setting: int, query: synthetic.Query) -> float:
        setattr(engine, args.constant, setting)
        started = time.perf_counter_ns()
        engine.search(indexes[setting], query.request, location=query.location, at=query.at, today=query.at.date())
        return (time.perf_counter_ns() - started) / 1e6

    for query in queries[:200]:  # warm-up, untimed
        for setting in settings:
            run(setting, query)
    timings: dict[int, list[float]] = {k: [] for k in settings}
    for number, query in enumerate(queries):
        for setting in settings if number % 2 else settings[::-1]:
            timings[setting].append(run(setting, query))
    sites = next(iter(indexes.values())).entry_unit.size
    print(f"{args.size:,} services ({sites:,} located sites), {len(queries):,} queries, interleaved")
    setattr(engine, args.constant, shipped)
    print(f"first ring as shipped: {engine.first_ring_km(sites):.1f} km")
    for setting, values in timings.items():
        values.sort()
        print(
            f"  {args.constant}={setting:<6} p50 {synthetic.percentile(values, 0.5):6.3f} ms  "
            f"p95 {synthetic.percentile(values, 0.95):6.3f}  p99 {synthetic.percentile(values, 0.99):6.3f}  "
            f"mean {sum(values) / len(values):6.3f}"
        )


if __name__ == "__main__":
    main()
