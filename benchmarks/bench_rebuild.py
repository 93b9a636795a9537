"""Searches while the index is rebuilt: how long the cyclic garbage collector stalls them.

No target in the issues; issue 4 wants answers in milliseconds while data changes (every edit rebuilds the index).

    .venv/bin/python benchmarks/bench_rebuild.py [--size 100000] [--rebuilds 3]

A thread searches back to back (the mixed queries of synthetic.py) on the current index, as request threads do,
while the main thread rebuilds the index `--rebuilds` times per way and swaps it in, as the catalogue's poller does.
Two ways, interleaved, in the same run:
- `collected`: the build as it was before collector_paused, with the collector left to run during and after it;
- `paused+frozen`: the server's way (service_finder/catalogue.py): no collection during the build, and what it
  built frozen before the collector resumes (`collector_paused(freeze=True)`: Settings.gc_freeze, on under
  `service-finder serve`).
Both start from an index frozen as start-up leaves it. A watchdog thread waking every millisecond measures the
longest the GIL was held against it (its longest gap) while rebuilding. Printed per way: full collections
(generation 2) and their total and longest pause, the longest GIL hold, and the searches' p50 / p99 / max while
rebuilding and for two seconds after each swap.
A full collection holds the GIL, so its pause is a stall of every search in flight. Each rebuild makes new record
objects (synthetic.generate), as a build from the store does.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import sys
import threading
import time
from pathlib import Path

from service_finder.catalogue import collector_paused
from service_finder.search.engine import search
from service_finder.search.index import DirectoryIndex

sys.path.insert(0, str(Path(__file__).resolve().parent))  # synthetic.py beside this script
import synthetic

SETTLE_SECONDS = 2.0


class Pauses:
    """Full collections, timed by the collector's own callbacks."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.ms.append((time.perf_counter() - self._started) * 1000)


class Watchdog(threading.Thread):
    """Wakes every millisecond: its longest gap is the longest the GIL was held against it (a C call, a collection,
    the freeing of an index), whatever thread held it."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.longest_ms = 0.0
        self.stopped = threading.Event()

    def run(self) -> None:
        last = time.perf_counter()
        while not self.stopped.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            self.longest_ms = max(self.longest_ms, (now - last - 0.001) * 1000)
            last = now


class Searcher(threading.Thread):
    def __init__(self, index: DirectoryIndex, queries: list[synthetic.Query]) -> None:
        super().__init__(daemon=True)
        self.index = index
        self.queries = queries
        self.latencies_ms: list[float] = []
        self.recording = False
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for query in self.queries:
                if self.stopped.is_set():
                    return
                index = self.index  # one index per search, as a request takes one snapshot
                started = time.perf_counter()
                search(index, query.request, location=query.location, at=query.at, today=query.at.date())
                if self.recording:
                    self.latencies_ms.append((time.perf_counter() - started) * 1000)


def build(size: int, seed: int) -> DirectoryIndex:
    return DirectoryIndex.build(synthetic.generate(size, seed=seed), version=seed, built_at=synthetic.BUILT_AT)


def rebuild(searcher: Searcher, size: int, seed: int, *, server_way: bool) -> float:
    """Rebuild and swap the index in; returns how long freeing the index replaced held the GIL (ms)."""
    # Generated within the pause, as the server reads the store within the build; synthetic.generate pauses the
    # collector itself, so the collected way's full collection comes when it resumes, as a read's would come.
    with collector_paused(freeze=True) if server_way else contextlib.nullcontext():
        records = synthetic.generate(size, seed=seed)
        index = DirectoryIndex.build(records, version=seed, built_at=synthetic.BUILT_AT)
        del records
    replaced = searcher.index
    searcher.index = index
    del index
    time.sleep(0.1)  # the search in flight lets go of the index replaced
    started = time.perf_counter()
    del replaced  # the last reference: freed here, holding the GIL, as the last reader of a snapshot frees it
    freed_ms = (time.perf_counter() - started) * 1000
    time.sleep(SETTLE_SECONDS)  # searches go on with the new index; a collection it sets off falls in here
    return freed_ms


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rebuilds", type=int, default=3)
    args = parser.parse_args()

    queries = synthetic.queries(500, seed=4)
    index = build(args.size, seed=1)
    gc.collect()
    gc.freeze()  # as start-up leaves the first index (main.py)
    searcher = Searcher(index, queries)
    del index
    searcher.start()
    pauses = Pauses()
    gc.callbacks.append(pauses)
    results: dict[str, tuple[list[float], list[float]]] = {"collected": ([], []), "paused+frozen": ([], [])}
    held = dict.fromkeys(results, 0.0)
    freed = dict.fromkeys(results, 0.0)
    watchdog = Watchdog()
    watchdog.start()
    seed = 2
    for _ in range(args.rebuilds):
        for way, (latencies, full) in results.items():
            pauses.ms.clear()
            searcher.latencies_ms = []
            searcher.recording = True
            watchdog.longest_ms = 0.0
            freed[way] = max(freed[way], rebuild(searcher, args.size, seed, server_way=way == "paused+frozen"))
            searcher.recording = False
            held[way] = max(held[way], watchdog.longest_ms)
            latencies.extend(searcher.latencies_ms)
            full.extend(pauses.ms)
            seed += 1
    watchdog.stopped.set()
    searcher.stopped.set()
    searcher.join()
    gc.callbacks.remove(pauses)

    print(f"{args.size:,} services, {args.rebuilds} rebuilds per way, searches on a thread meanwhile")
    for way, (latencies, full) in results.items():
        print(
            f"  {way:14} full collections {len(full):2}  pause total {sum(full):7.0f} ms  longest "
            f"{max(full, default=0):5.0f} ms | GIL held at most {held[way]:5.0f} ms | searches {len(latencies):5}  "
            f"p50 {statistics.median(latencies):6.2f} "
            f"p99 {percentile(latencies, 0.99):7.2f}  max {max(latencies):7.1f} ms"
        )
    collected, paused = (max(latencies) for latencies, _ in results.values())
    print(f"longest search, paused+frozen / collected: {paused / collected:.2f}")
    print(f"longest GIL hold, paused+frozen / collected: {held['paused+frozen'] / held['collected']:.2f}")
    print(
        "freeing the index replaced held the GIL for at most "
        + ", ".join(f"{ms:.0f} ms ({way})" for way, ms in freed.items())
        + " (counted in the GIL holds above; a reader lets it go, so no collector setting avoids it)"
    )


if __name__ == "__main__":
    main()
