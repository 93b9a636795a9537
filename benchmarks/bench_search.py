"""In-process search, the full request, at 1k / 10k / 100k (and, with --million, 1M) services.

Targets (issue 4): p99 <= 1 ms over 100,000 services and <= 3 ms over 1,000,000; index memory < 1 GB at 1,000,000.

    .venv/bin/python benchmarks/bench_search.py [--million] [--sizes 1000,10000,100000] [--queries 2000]

Each size runs in a fresh child process, so the resident-memory delta is that size's alone. Per size: generate N
services (benchmarks/synthetic.py: validated templates copied with model_copy, moved to real English postcodes),
build the DirectoryIndex, then time `engine.search` for the same few thousand mixed queries (postcodes drawn from
data/gazetteer/england.npz; ages, needs, drinking, open now / within / any, explain) one by one. What is timed is
the whole of `search()`: candidates, hard filters, eligibility verdicts per criterion, open state and next opening,
score, travel estimate, reasons, exclusions (explain), safety net, and the pydantic response objects. Not timed:
postcode lookup (bench_gazetteer.py), request validation, JSON encoding (printed separately) and HTTP
(bench_http.py). Ratios are figure / target: below 1.0 is within target.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from service_finder.catalogue import release_freed_memory
from service_finder.schemas import ServiceRecord
from service_finder.search.engine import search
from service_finder.search.index import DirectoryIndex
from service_finder.search.packed import PACK_ABOVE, PackedRecords

sys.path.insert(0, str(Path(__file__).resolve().parent))  # synthetic.py beside this script
import synthetic

TARGET_P99_MS = {100_000: 1.0, 1_000_000: 3.0}
TARGET_MEMORY_MB = {1_000_000: 1000.0}
WARM_UP = 50


def array_bytes(holder: Any) -> int:
    values = [getattr(holder, f.name) for f in dataclasses.fields(holder)]
    return sum(v.nbytes for v in values if isinstance(v, np.ndarray))


def index_bytes(index: DirectoryIndex) -> int:
    members = sum(a.nbytes for a in index.district_members.values())
    return array_bytes(index) + array_bytes(index.hours) + members


def measure(size: int, count: int, seed: int, budget_s: float) -> dict[str, Any]:
    templates = synthetic.load_templates()
    queries = synthetic.queries(count, seed=seed + 4)
    gc.collect()
    before = synthetic.resident_mb()
    started = time.perf_counter()
    if size > PACK_ABOVE:
        # Streamed, as the index takes them: the records never all exist as objects, so the resident memory after
        # the build is the index's (packed records, arrays, hours), not a list of records the build has let go.
        generated = 0.0
        records: Iterable[ServiceRecord] = synthetic.iter_generate(size, seed=seed, templates=templates)
    else:
        records = synthetic.generate(size, seed=seed, templates=templates)
        generated = time.perf_counter() - started
        started = time.perf_counter()
    # Packed or not decided up front, as the server decides it from the store's count (catalogue.load_index).
    index = DirectoryIndex.build(records, version=1, built_at=synthetic.BUILT_AT, packed=size > PACK_ABOVE)
    built = time.perf_counter() - started
    del records
    gc.collect()
    release_freed_memory()  # as the server does after each build (catalogue.load_index)
    memory = synthetic.resident_mb() - before
    packed = index.services.packed_bytes if isinstance(index.services, PackedRecords) else None

    for query in queries[:WARM_UP]:
        search(index, query.request, location=query.location, at=query.at, today=query.at.date())
    search_ns, encode_ns, results = [], [], []
    deadline = time.perf_counter() + budget_s
    for timed, query in enumerate(queries):
        if timed and time.perf_counter() > deadline:  # bounded: a slow engine gets fewer queries, not hours
            queries = queries[:timed]
            break
        started_ns = time.perf_counter_ns()
        response = search(index, query.request, location=query.location, at=query.at, today=query.at.date())
        searched_ns = time.perf_counter_ns()
        response.model_dump_json()
        encode_ns.append(time.perf_counter_ns() - searched_ns)
        search_ns.append(searched_ns - started_ns)
        results.append(len(response.results))
    # Which kinds of query are slow: by open mode, and with explain (which writes a sentence per exclusion).
    groups: dict[str, list[float]] = {}
    for query, ns in zip(queries, search_ns, strict=True):
        mode = query.request.open.split(":")[0]
        groups.setdefault(f"open={mode}", []).append(ns / 1e6)
        groups.setdefault(f"explain={str(query.request.explain).lower()}", []).append(ns / 1e6)
        groups.setdefault("no location" if query.location is None else "located", []).append(ns / 1e6)
    gc.collect()
    # After the queries: what searches kept (open states, per-snapshot memos, decoded records of a packed index).
    memory_after = synthetic.resident_mb() - before
    latency = sorted(ns / 1e6 for ns in search_ns)
    encoding = sorted(ns / 1e6 for ns in encode_ns)
    return {
        "size": len(index),
        "queries": len(queries),
        "generate_s": generated,
        "build_s": built,
        "memory_mb": memory,
        "memory_after_mb": memory_after,
        "array_mb": index_bytes(index) / 1e6,
        "packed_mb": None if packed is None else packed / 1e6,
        "p50": synthetic.percentile(latency, 0.50),
        "p95": synthetic.percentile(latency, 0.95),
        "p99": synthetic.percentile(latency, 0.99),
        "max": latency[-1],
        "mean": sum(latency) / len(latency),
        "encode_p50": synthetic.percentile(encoding, 0.50),
        "encode_p99": synthetic.percentile(encoding, 0.99),
        "results_mean": sum(results) / len(results),
        "empty_share": sum(1 for r in results if r == 0) / len(results),
        "groups": {
            name: [len(values), synthetic.percentile(sorted(values), 0.5), synthetic.percentile(sorted(values), 0.99)]
            for name, values in sorted(groups.items())
        },
    }


def ratio(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"target {target:g}, ratio {value / target:.2f}{'' if value <= target else '  OVER TARGET'}"


def report(row: dict[str, Any]) -> None:
    size = row["size"]
    print(
        f"\n== {size:,} services, {row['queries']:,} queries timed (the same queries, in the same order, at every size)"
    )
    if row["packed_mb"] is None:
        print(
            f"generate {row['generate_s']:.2f} s (model_copy of validated templates), "
            f"index build {row['build_s']:.2f} s"
        )
        records = "records as objects"
    else:
        print(f"generate and index build {row['build_s']:.2f} s (streamed: records packed as they come)")
        records = f"records packed, {row['packed_mb']:.0f} MB of them deflated JSON"
    print(
        f"index memory (RSS delta: {records}, arrays, hours) {row['memory_mb']:.0f} MB  "
        f"(numpy arrays alone {row['array_mb']:.1f} MB)  {ratio(row['memory_mb'], TARGET_MEMORY_MB.get(size))}"
    )
    print(f"resident after the timed queries (memos, decoded records kept): {row['memory_after_mb']:.0f} MB")
    print(
        f"search  p50 {row['p50']:.3f} ms  p95 {row['p95']:.3f} ms  p99 {row['p99']:.3f} ms  "
        f"max {row['max']:.2f} ms  mean {row['mean']:.3f} ms  {ratio(row['p99'], TARGET_P99_MS.get(size))}"
    )
    print(
        f"JSON encoding of the response (not in the figures above): p50 {row['encode_p50']:.3f} ms  "
        f"p99 {row['encode_p99']:.3f} ms"
    )
    print(f"results per query: mean {row['results_mean']:.1f}, {row['empty_share']:.0%} with none (safety net only)")
    for name, (count, p50, p99) in row["groups"].items():
        print(f"  {name:<16} {count:5d} queries  p50 {p50:8.3f} ms  p99 {p99:8.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated service counts")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 services (about 2 GB, minutes)")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--budget", type=float, default=45.0, help="seconds of timed queries per size, at most")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process: one size, JSON out
    parser.add_argument("--distinct-sample", type=int, default=5000, help="records for the no-sharing memory probe")
    args = parser.parse_args()

    if args.one is not None:
        print(json.dumps(measure(args.one, args.queries, args.seed, args.budget)))
        return
    if args.distinct_sample < 0:
        raise SystemExit(f"--distinct-sample {args.distinct_sample} is negative")
    sizes = [int(s) for s in args.sizes.split(",") if s] + ([1_000_000] if args.million else [])
    print(f"in-process search benchmark: {args.queries:,} mixed queries per size, sizes {sizes}")
    rows = []
    for size in sizes:
        options = ["--queries", str(args.queries), "--seed", str(args.seed), "--budget", str(args.budget)]
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(size), *options],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        report(rows[-1])

    if args.distinct_sample:
        per_record = synthetic.distinct_record_bytes(args.distinct_sample, args.seed)
        print(
            f"\nmemory caveat: copies share nested parts with their template. A record validated from its own JSON, "
            f"sharing nothing, holds about {per_record / 1000:.1f} KB resident (measured over "
            f"{args.distinct_sample:,}): {per_record * 1e6 / 1e9:.2f} GB of records alone at 1,000,000 as objects"
        )
        packed = synthetic.distinct_packed_bytes()
        print(
            f"packed (directories over {PACK_ABOVE:,} services), {packed.count} distinct records shipped in data/ take "
            f"{packed.mean:.0f} bytes each (zstd, dictionary learnt from the other {packed.count}), "
            f"{packed.mean * 1e6 / 1e9:.2f} GB at 1,000,000"
        )
    print("\nsummary (p99 ms / memory MB):")
    for row in rows:
        print(
            f"  {row['size']:>9,}  p50 {row['p50']:7.3f}  p95 {row['p95']:7.3f}  p99 {row['p99']:7.3f}  "
            f"build {row['build_s']:6.2f} s  memory {row['memory_mb']:7.0f} MB"
        )
    if len(rows) > 1:
        growth = rows[-1]["p50"] / rows[0]["p50"]
        print(f"  p50 grows {growth:.1f}x from {rows[0]['size']:,} to {rows[-1]['size']:,} services")


if __name__ == "__main__":
    main()
