"""UK postcode normalisation (pure): 'sw1a2aa' -> 'SW1A 2AA', 'sw1a' -> 'SW1A'."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Royal Mail's shapes: outward code A9, A99, AA9, AA99, A9A, AA9A; inward code 9AA.
_OUTWARD = r"[A-Z]{1,2}[0-9][0-9A-Z]?"
_FULL = re.compile(rf"^({_OUTWARD})([0-9][A-Z]{{2}})$")
_DISTRICT = re.compile(rf"^({_OUTWARD})$")
_SPACED_FULL = re.compile(rf"^{_OUTWARD} [0-9][A-Z]{{2}}$")
_SECTOR = re.compile(rf"^({_OUTWARD}) [0-9]$")  # a postcode sector, which the gazetteer does not hold


class PostcodeError(ValueError):
    """Text that is not shaped like a UK postcode; the message names it."""

    def __init__(self, message: str, *, district: str | None = None) -> None:
        super().__init__(message)
        self.district = district  # for a postcode sector ('CA1 5'): its district ('CA1'), which can be searched


@dataclass(frozen=True, slots=True)
class Postcode:
    outward: str
    inward: str | None  # None for a postcode district such as 'LS1'

    @property
    def is_district(self) -> bool:
        return self.inward is None

    def __str__(self) -> str:
        return self.outward if self.inward is None else f"{self.outward} {self.inward}"


# The spaces people type or paste between and around a postcode's halves: any Unicode white space (a web page's
# non-breaking space, an input method's ideographic space, a thin space) but the ASCII separator controls
# U+001C-U+001F, which Python also counts as white space and nobody types.
_SPACES = re.compile(r"[^\S\x1c-\x1f]+")


def parse_postcode(text: str) -> Postcode:
    parts = [part for part in _SPACES.split(text) if part]
    compact = "".join(parts)
    # Letters A-Z and digits only: str.upper() would make a long s an S and a dotless i an I, and control characters
    # would pass as spaces, so text that merely looks like a postcode would be searched as one.
    if not (compact.isascii() and compact.isalnum()):
        raise PostcodeError(f"postcode {text!r} is not a UK postcode or postcode district: use letters and digits")
    compact = compact.upper()
    # A space may only part the outward code from a whole inward code. Dropped anywhere else it joins unrelated
    # characters: the postcode sector 'CA1 5' read as 'CA15' was searched as a district 40 km away, and 'TD1 5'
    # (Scotland) as TD15 (England).
    spaced = " ".join(parts).upper()
    if " " in spaced and not _SPACED_FULL.match(spaced):
        if sector := _SECTOR.match(spaced):
            raise PostcodeError(
                f"postcode {text!r} is not a UK postcode or postcode district: give the whole postcode or its "
                f"district {sector.group(1)!r}",
                district=sector.group(1),
            )
        raise PostcodeError(f"postcode {text!r} is not a UK postcode or postcode district")
    if match := _FULL.match(compact):
        return Postcode(match.group(1), match.group(2))
    if match := _DISTRICT.match(compact):
        return Postcode(match.group(1), None)
    raise PostcodeError(f"postcode {text!r} is not a UK postcode or postcode district")


def normalise_postcode(text: str) -> str:
    """Canonical spelling of a full postcode; raises PostcodeError for anything else."""
    postcode = parse_postcode(text)
    if postcode.is_district:
        raise PostcodeError(f"postcode {text!r} is a postcode district, not a full postcode")
    return str(postcode)
