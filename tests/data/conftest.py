"""Fixtures for the shipped data files: the committed JSON, the real gazetteer and the demo generator."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Protocol, cast

import pytest

from service_finder.geocoding.gazetteer import Gazetteer
from service_finder.schemas import ServiceRecord
from tests.conftest import GAZETTEER, REPO

DEMO_FILE = REPO / "data" / "demo" / "directory.json"
NATIONAL_FILE = REPO / "data" / "national_lines.json"
GENERATOR_FILE = REPO / "scripts" / "generate_demo.py"


class Generator(Protocol):
    """What the tests use of scripts/generate_demo.py (a script, not a package module)."""

    REFERENCE_DATE: date

    def generate(self, gazetteer: Gazetteer, *, seed: int = ...) -> list[ServiceRecord]: ...
    def render(self, records: Sequence[ServiceRecord]) -> str: ...


def _load(path: Path) -> list[ServiceRecord]:
    return [ServiceRecord.model_validate(item) for item in json.loads(path.read_text(encoding="utf-8"))]


@pytest.fixture(scope="session")
def gazetteer() -> Gazetteer:
    if not GAZETTEER.exists():
        pytest.fail(f"the gazetteer {GAZETTEER} is missing: run `make gazetteer` to build it", pytrace=False)
    return Gazetteer.load(GAZETTEER)


@pytest.fixture(scope="session")
def generator() -> Generator:
    spec = importlib.util.spec_from_file_location("generate_demo", GENERATOR_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is being built
    spec.loader.exec_module(module)
    return cast(Generator, module)


@pytest.fixture(scope="session")
def demo_records() -> list[ServiceRecord]:
    return _load(DEMO_FILE)


@pytest.fixture(scope="session")
def national_records() -> list[ServiceRecord]:
    return _load(NATIONAL_FILE)
