"""Which import format a file is in, from its name and first bytes (for the CLI's `import` command)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

Format = Literal["csv", "hsds", "native"]

# Native dumps have "kind" and "provenance" keys, and "organisation" third; HSDS 3.0 has none of them anywhere
# (it spells "organization"; our kind is an attribute there). A head cut at a few kilobytes inside a long
# description may show only "organisation".
_NATIVE_KEYS = tuple(re.compile(rf'"{key}"\s*:'.encode()) for key in ("kind", "provenance", "organisation"))


def detect_format(path: Path, head: bytes) -> Format:
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if path.suffix.lower() in {".csv", ".tsv", ".txt"} or text[:1] not in (b"[", b"{"):
        return "csv"
    if any(key.search(text) for key in _NATIVE_KEYS):
        return "native"
    return "hsds"
