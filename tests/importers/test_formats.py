from __future__ import annotations

import json
from pathlib import Path

import pytest

from service_finder.importers.formats import detect_format
from service_finder.importers.hsds import to_hsds_document
from service_finder.schemas import ServiceRecord
from tests.factories import service_data

RECORD = ServiceRecord.model_validate(service_data())


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("services.csv", b"service_id,name,kind\r\n", "csv"),
        ("services.CSV", b"\xef\xbb\xbfservice_id,name\n", "csv"),
        ("export", b"service_id,name,kind\n", "csv"),
        ("services.json", json.dumps([RECORD.model_dump(mode="json")]).encode(), "native"),
        (
            "services.json",
            b"\xef\xbb\xbf  " + json.dumps([RECORD.model_dump(mode="json")], indent=2).encode(),
            "native",
        ),
        ("services.json", json.dumps(to_hsds_document([RECORD])).encode(), "hsds"),
        ("page.json", b'{"total_items": 1, "contents": [{"id": "x", "name": "y", "status": "active"}]}', "hsds"),
        ("services.json", b"[]", "hsds"),
    ],
)
def test_detects_the_format_from_name_and_first_bytes(name: str, head: bytes, expected: str) -> None:
    assert detect_format(Path(name), head[:4096]) == expected


def test_native_dump_is_recognised_from_a_truncated_head() -> None:
    dump = json.dumps([RECORD.model_dump(mode="json")] * 50).encode()

    assert detect_format(Path("dump.json"), dump[:4096]) == "native"


def test_a_large_native_record_is_recognised_before_its_provenance() -> None:
    long = ServiceRecord.model_validate(service_data(description="x" * 5000))

    assert detect_format(Path("dump.json"), json.dumps([long.model_dump(mode="json")]).encode()[:4096]) == "native"
