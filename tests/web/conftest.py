"""A live server over the shipped demonstration directory, and Debian's Chromium driven by Playwright.

The browser is the system's `/usr/bin/chromium` (Debian package `chromium`), never a Playwright download; axe-core
comes from the npm registry into var/npm. `scripts/ensure-browser-deps.sh` (run by `make test`) installs both.
"""

from __future__ import annotations

import html
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service_finder.config import Settings
from service_finder.main import create_app
from service_finder.storage import repository
from tests.conftest import GAZETTEER
from tests.factories import make_record

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SERVICE_FINDER_CHROMIUM", "/usr/bin/chromium"))
AXE = REPO / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A Friday evening (GMT) when the demonstration directory has crisis cafés and safe havens open in Leeds.
FRIDAY_EVENING = "2026-11-27T20:00:00+00:00"
SETUP_HINT = "run scripts/ensure-browser-deps.sh (make test runs it)"


def copyable_snippet(page: str) -> str:
    """The text of the snippet page's code box, as a person selects and copies it (the HTML unescaped once)."""
    code = page.split('aria-label="Snippet to copy"><code>', 1)[1].split("</code>", 1)[0]
    return html.unescape(code)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app in its own process, on a loopback port, over the national lines and the demo directory."""
    database = tmp_path_factory.mktemp("web") / "store.sqlite3"
    env = {
        **os.environ,
        "SERVICE_FINDER_DATABASE_URL": f"sqlite:///{database}",
        "SERVICE_FINDER_RATE_LIMIT_ENABLED": "false",
        "SERVICE_FINDER_LOG_LEVEL": "WARNING",
    }
    cli = Path(sys.executable).parent / "service-finder"
    subprocess.run([str(cli), "demo", "load"], cwd=REPO, env=env, check=True, capture_output=True)
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "service_finder.main:create_app", "--factory"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                error = server.stderr.read().decode() if server.stderr and server.poll() is not None else ""
                pytest.fail(f"the server at {base} did not start: {error[-2000:]}", pytrace=False)
            time.sleep(0.1)  # waiting for a process to listen, not for the code under test
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr:
            server.stderr.close()


@pytest.fixture(scope="session")
def integrator(live_server: str) -> Iterator[str]:
    """An integrator's page on another origin (another loopback port), with the snippet the service hands out."""
    from urllib.parse import quote

    page = (
        "<!DOCTYPE html><html lang='en'><head><title>A charity</title></head><body><h1>Get help</h1>"
        f"<iframe data-service-finder src='{live_server}/embed?at={quote(FRIDAY_EVENING)}' "
        "title='Find crisis support near you' width='100%' height='300' style='border:0;width:100%'></iframe>"
        f"<script src='{live_server}/embed.js' async></script></body></html>"
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/help"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: {SETUP_HINT}", pytrace=False)
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="Europe/London")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed at {AXE}: {SETUP_HINT}", pytrace=False)
    return AXE.read_text()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def web(sqlite_engine: Engine) -> Iterator[TestClient]:
    """The pages in a test client, over one café in Leeds (no browser)."""
    settings = Settings(database_url=str(sqlite_engine.url), gazetteer_path=GAZETTEER)
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        with Session(sqlite_engine) as session:
            repository.upsert_services(
                session, [make_record("leeds-cafe")], actor="test", now=datetime(2026, 11, 1, tzinfo=UTC)
            )
            session.commit()
        client.app.state.service_finder.catalogue.refresh()  # type: ignore[attr-defined]
        yield client
