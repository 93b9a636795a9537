"""The API docs pages work on a machine with no internet: every asset comes from this server."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from service_finder.config import Settings
from service_finder.main import create_app

ANY_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")
# Swagger UI's config object (`url: '/openapi.json'`) and ReDoc's element (`spec-url="/openapi.json"`).
SPEC_URL = re.compile(r"""(?:\burl:\s*|spec-url=)['"]([^'"]+)['"]""")


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls + SPEC_URL.findall(html)


@pytest.fixture(scope="module")
def docs_client() -> TestClient:
    # The pages need no store: no lifespan, so the test runs without a database.
    return TestClient(create_app(Settings(database_url="sqlite://")))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_page_names_no_other_host(docs_client: TestClient, page: str) -> None:
    response = docs_client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    external = [url for url in ANY_URL.findall(response.text) if not url.split("//", 1)[1].startswith("testserver")]
    assert external == [], f"{page} loads from other hosts: {external}"
    assert "fonts.googleapis" not in response.text


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (
            "/docs",
            {
                "/docs/static/swagger-ui-bundle.js": "text/javascript",
                "/docs/static/swagger-ui.css": "text/css",
                "/docs/static/favicon.png": "image/png",
                "/openapi.json": "application/json",
            },
        ),
        (
            "/redoc",
            {
                "/docs/static/redoc.standalone.js": "text/javascript",
                "/docs/static/favicon.png": "image/png",
                "/openapi.json": "application/json",
            },
        ),
    ],
)
def test_everything_the_page_loads_is_served_here(docs_client: TestClient, page: str, expected: dict[str, str]) -> None:
    urls = references(docs_client.get(page).text)
    assert set(urls) == set(expected), urls
    for url in urls:
        asset = docs_client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(expected[url]), (url, asset.headers["content-type"])
        assert len(asset.content) > 1000, f"{url} is suspiciously small"


def test_swagger_ui_does_not_send_the_document_to_the_online_validator(docs_client: TestClient) -> None:
    # Swagger UI posts the spec to validator.swagger.io for its badge unless validatorUrl is null.
    assert re.search(r'"validatorUrl":\s*null', docs_client.get("/docs").text)


def test_the_stylesheet_pulls_in_nothing_from_elsewhere(docs_client: TestClient) -> None:
    css = docs_client.get("/docs/static/swagger-ui.css").text
    imports = re.findall(r"@import[^;]*", css)
    remote = [u for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", css) if not u.startswith("data:")]
    assert imports == []
    assert remote == []


def test_behind_a_path_prefix_every_url_carries_it() -> None:
    app = create_app(Settings(database_url="sqlite://"))
    with_prefix = TestClient(app, root_path="/finder")
    for page in ("/docs", "/redoc"):
        urls = references(with_prefix.get(page).text)
        assert urls, page
        assert all(url.startswith("/finder/") for url in urls), (page, urls)


def test_the_docs_pages_are_not_operations_in_the_document(docs_client: TestClient) -> None:
    paths = docs_client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_docs_pages_may_load_nothing_from_another_host(docs_client: TestClient, page: str) -> None:
    # ReDoc's bundle shows its vendor's logo from cdn.redoc.ly: the page's policy keeps that request at home.
    policy = docs_client.get(page).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["img-src"] == "'self' data:"
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"  # no other site may frame them
    assert "http" not in policy


@pytest.mark.parametrize("path", ["/openapi.json", "/healthz", "/no-such-page"])
def test_json_and_text_answers_are_never_documents(docs_client: TestClient, path: str) -> None:
    policy = docs_client.get(path).headers["content-security-policy"]
    assert policy == "default-src 'none'; frame-ancestors 'none'"


# What makes a browser fetch a URL from a script or stylesheet: an element's src (`src:"…"`, `src="…"`, `.src =`),
# a stylesheet's url() or @import, fetch() and dynamic import(). Links (href) are followed only when clicked, and the
# bundles' other URLs are identifiers (JSON Schema ids, XML namespaces) or text in messages.
FETCHED_URL = re.compile(
    r"""(?:\bsrcset|\bsrc)\s*[:=]\s*["'`](?:https?:)?//[^"'`]+"""
    r"""|url\(\s*["']?(?:https?:)?//[^)"']+"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//[^;"')]+"""
    r"""|\b(?:fetch|import)\(\s*["'`](?:https?:)?//[^"'`]+""",
    re.IGNORECASE,
)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_no_served_docs_asset_fetches_from_another_host(docs_client: TestClient, page: str) -> None:
    # ReDoc's bundle showed its vendor's logo from https://cdn.redoc.ly: blocked by the policy, a console error
    # and a broken image; offline, a failed request.
    for url in references(docs_client.get(page).text):
        if url.endswith((".js", ".css")):
            text = docs_client.get(url).text
            assert FETCHED_URL.findall(text) == [], url
            assert "cdn.redoc.ly" not in text, url
