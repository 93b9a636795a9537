"""Fixtures for the gazetteer: a small one built from a synthetic Code-Point zip, and the real built file."""

from __future__ import annotations

from pathlib import Path

import pytest

from service_finder.geocoding.build import build_from_codepoint
from service_finder.geocoding.gazetteer import Gazetteer
from tests.geocoding.codepoint import NAMES, ROWS, write_codepoint_zip

REAL_GAZETTEER = Path(__file__).resolve().parents[2] / "data" / "gazetteer" / "england.npz"


@pytest.fixture
def codepoint_zip(tmp_path: Path) -> Path:
    return write_codepoint_zip(tmp_path / "codepo_gb.zip", ROWS, names=NAMES)


@pytest.fixture(scope="module")
def small_gazetteer(tmp_path_factory: pytest.TempPathFactory) -> Gazetteer:
    directory = tmp_path_factory.mktemp("gazetteer")
    source = write_codepoint_zip(directory / "codepo_gb.zip", ROWS, names=NAMES)
    output = directory / "small.npz"
    build_from_codepoint(source, output)
    return Gazetteer.load(output)


@pytest.fixture(scope="session")
def real_gazetteer() -> Gazetteer:
    if not REAL_GAZETTEER.is_file():
        pytest.fail(
            f"the real gazetteer {REAL_GAZETTEER} is missing: run `make gazetteer` (or `make test`, which builds it)",
            pytrace=False,
        )
    return Gazetteer.load(REAL_GAZETTEER)
