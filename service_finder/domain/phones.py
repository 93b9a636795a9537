"""Phone numbers: UK numbers normalised with libphonenumber, plus the short codes crisis lines use."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

# Short codes are not in libphonenumber's GB numbering plan as dialable numbers we can format, so the ones a
# crisis directory needs are listed: emergency (999, 112), NHS 111, the 116 harmonised European numbers
# (116 123 Samaritans, 116 117 non-emergency medical), and five-digit SMS short codes (Shout's 85258).
_SHORT_CODE = re.compile(r"(999|112|111|116[0-9]{3}|[6-8][0-9]{4})")


class PhoneError(ValueError):
    """A number that cannot be dialled in the UK; the message names it."""


# The one way a display writes an extension, the way tel_uri reads it: ' x2' at the end.
_EXTENSION = re.compile(r" x(\d+)$")


@dataclass(frozen=True, slots=True)
class Phone:
    number: str  # E.164 ('+448000684141') or the bare short code ('116123')
    display: str  # how people read it: '0800 068 4141', '116 123', '0113 496 0500 x2'
    extension: str = ""  # the extension the text asked for, in whatever form it was written ('ext. 2', '#2')

    @property
    def tel_uri(self) -> str:
        return tel_uri(self.number, self.display)


def tel_uri(number: str, display: str) -> str:
    """An RFC 3966 tel: link, with the extension the display shows ('0113 496 0500 x2' -> ';ext=2'), so a tap
    reaches the desk and not only the switchboard."""
    extension = display_extension(display)
    return f"tel:{number}" + (f";ext={extension}" if extension else "")


def display_extension(display: str) -> str:
    """The extension a display's link dials ('0113 496 0500 x2' -> '2'), or ''."""
    found = _EXTENSION.search(display)
    return found.group(1) if found else ""


# libphonenumber takes ~300 µs a number; directories repeat numbers (switchboards, national lines), and a
# re-import sees every number again. Results are immutable, so caching them is safe.
@lru_cache(maxsize=65_536)
def normalise_phone(text: str) -> Phone:
    # Digits of any script (full-width digits pasted from a word processor) are read as ASCII, as libphonenumber reads
    # them in long numbers: a short code is stored as it is dialled, or its tel: link would dial nothing.
    digits = "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in re.sub(r"[\s\-().]", "", text))
    if _SHORT_CODE.fullmatch(digits):
        display = f"{digits[:3]} {digits[3:]}" if digits.startswith("116") else digits
        return Phone(digits, display)
    try:
        parsed = phonenumbers.parse(text, "GB")
    except phonenumbers.NumberParseException as error:
        raise PhoneError(f"phone number {text!r} is not a phone number ({error})") from error
    if not phonenumbers.is_valid_number(parsed):
        raise PhoneError(f"phone number {text!r} is not a valid UK or international number")
    number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    national = parsed.country_code == 44
    extension = parsed.extension or ""
    # Formatted without its extension, which is added as ' x2': libphonenumber writes ' ext. 2' for most
    # countries, which tel_uri does not read, so the link would ring the switchboard.
    parsed.extension = None
    display = phonenumbers.format_number(
        parsed,
        phonenumbers.PhoneNumberFormat.NATIONAL if national else phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    )
    # Keep a publisher's own grouping ('0800 58 58 58') when it is the same national number.
    written = " ".join(text.split())
    if national and re.fullmatch(r"[\d ]+", written) and written.replace(" ", "") == display.replace(" ", ""):
        display = written
    return Phone(number, f"{display} x{extension}" if extension else display, extension)
