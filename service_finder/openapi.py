"""The committed OpenAPI document, written deterministically from the app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from service_finder.config import Settings
from service_finder.main import create_app


def openapi_document() -> dict[str, Any]:
    # Built from default settings so the document never depends on the machine's environment.
    return create_app(Settings(database_url="sqlite://")).openapi()


def render_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


def write_openapi(output_dir: Path) -> list[Path]:
    document = openapi_document()
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("openapi.json", render_json(document)), ("openapi.yaml", render_yaml(document))):
        path = output_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
