"""The search page's weight and first render, in Debian's Chromium with a throttled profile.

Targets (issue 6): page plus assets < 150 KB transferred; first render (first contentful paint) < 1 s on loopback
in a throttled browser profile.

    .venv/bin/python benchmarks/bench_page.py [--runs 5]

What it does: loads the demonstration directory into a temporary SQLite file, starts `service-finder serve` on a
free loopback port, and opens the results page for LS1 1UR (a Friday evening) and the empty search page in a fresh
browser context per run (cold cache), with Chrome DevTools throttling a cheap phone on a slow mobile connection:
CPU 4x slower, 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up (Lighthouse's "slow 4G" mobile profile).
Bytes are what the network layer reports (headers + bodies, compressed as sent). Prints the median and worst run.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, sync_playwright

REPO = Path(__file__).resolve().parent.parent
CLI = REPO / ".venv" / "bin" / "service-finder"
CHROMIUM = "/usr/bin/chromium"
TARGET_BYTES = 150 * 1024
TARGET_FIRST_RENDER_MS = 1000.0
PROFILE = {"cpu_rate": 4, "latency_ms": 150, "down_bps": 1_600_000 / 8, "up_bps": 750_000 / 8}
PAGES = {
    "results": "/embed?postcode=LS1+1UR&at=2026-11-27T20%3A00%3A00%2B00%3A00",
    "search": "/embed",
}


@contextmanager
def live_server() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SERVICE_FINDER_DATABASE_URL": f"sqlite:///{tmp}/store.sqlite3"}
        subprocess.run([str(CLI), "demo", "load"], cwd=REPO, env=env, check=True, capture_output=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen(
            [str(CLI), "serve", "--port", str(port)], cwd=REPO, env=env, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)


def measure(browser: Browser, url: str) -> tuple[float, int]:
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": PROFILE["cpu_rate"]})
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": PROFILE["latency_ms"],
            "downloadThroughput": PROFILE["down_bps"],
            "uploadThroughput": PROFILE["up_bps"],
        },
    )
    transferred: list[int] = []

    def finished(event: dict[str, Any]) -> None:
        transferred.append(int(event["encodedDataLength"]))

    cdp.on("Network.loadingFinished", finished)
    page.goto(url, wait_until="load")
    first_paint: float = page.evaluate(
        """() => new Promise(resolve => {
            const entry = performance.getEntriesByName("first-contentful-paint")[0];
            if (entry) return resolve(entry.startTime);
            new PerformanceObserver(list => resolve(list.getEntries()[0].startTime))
                .observe({type: "paint", buffered: true});
        })"""
    )
    context.close()
    return first_paint, sum(transferred)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with live_server() as base, sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        print(
            f"profile: CPU x{PROFILE['cpu_rate']}, {PROFILE['latency_ms']} ms RTT, "
            f"{PROFILE['down_bps'] * 8 / 1e6:.1f} Mbit/s down; {args.runs} cold runs per page"
        )
        for name, path in PAGES.items():
            check = httpx.get(base + path)
            if check.status_code != 200 or (name == "results" and "sf-card" not in check.text):
                sys.exit(f"{name} page {path} answered {check.status_code} without results: not measuring it")
            measure(browser, base + path)  # warm the server (first search builds per-snapshot memos)
            runs = [measure(browser, base + path) for _ in range(args.runs)]
            paints = sorted(r[0] for r in runs)
            weight = max(r[1] for r in runs)
            median = statistics.median(paints)
            print(
                f"{name:8} first render median {median:6.0f} ms, worst {paints[-1]:6.0f} ms "
                f"(target {TARGET_FIRST_RENDER_MS:.0f} ms, ratio {median / TARGET_FIRST_RENDER_MS:.2f}); "
                f"transferred {weight / 1024:6.1f} KB (target {TARGET_BYTES / 1024:.0f} KB, "
                f"ratio {weight / TARGET_BYTES:.2f})"
            )
        browser.close()


if __name__ == "__main__":
    main()
