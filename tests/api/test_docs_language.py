"""The API docs pages name their language, so a screen reader reads them in an English voice (axe: html-has-lang)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service_finder.config import Settings
from service_finder.main import create_app


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_say_they_are_in_english(page: str) -> None:
    # The pages need no store: no lifespan, so the test runs without a database.
    response = TestClient(create_app(Settings(database_url="sqlite://"))).get(page)
    assert response.status_code == 200
    assert '<html lang="en">' in response.text
    assert "<html>" not in response.text
    assert "'unsafe-inline'" in response.headers["content-security-policy"]  # still the docs pages' own policy
