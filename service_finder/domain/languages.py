"""Language codes, as HSDS 3.0 allows them: ISO 639-1 (two letters) or ISO 639-3 (three letters).

One language has one code here, so that a search for `pan` finds a service that lists `pa` (both Panjabi): the
two-letter code where the language has one, as BCP 47 (and so FHIR's `urn:ietf:bcp:47`) writes it, else the
three-letter one. Several languages spoken in England have only a three-letter code: Sylheti (`syl`), Pahari-Potwari
(`phr`), British Sign Language (`bfi`).
"""

from __future__ import annotations

import pycountry


class LanguageCodeError(ValueError):
    """A code that names no language; the message names the value."""


def canonical_language(code: str) -> str:
    """`code` (lower-case letters, as the schemas' pattern has checked) as this service stores and compares it, or
    LanguageCodeError when no language has it."""
    if len(code) == 2:
        found = pycountry.languages.get(alpha_2=code)
    elif len(code) == 3:
        found = pycountry.languages.get(alpha_3=code)
    else:
        found = None
    # Undetermined (und), no linguistic content (zxx), multiple (mul) and uncoded (mis) name no language staff speak.
    if found is None or getattr(found, "scope", "") == "S":
        raise LanguageCodeError(
            "no language has this code in ISO 639-1 (two letters) or ISO 639-3 (three letters), such as ur or syl"
        )
    return str(getattr(found, "alpha_2", found.alpha_3))


def stored_language(code: str) -> str:
    """A language code in a service record: as `canonical_language`, except that a two-letter code is kept as
    given. Records were taken with any two lower-case letters before three-letter codes were, and refusing them
    now would make stored records unreadable, which leaves their services out of search."""
    return code if len(code) == 2 else canonical_language(code)


def language_name(code: str) -> str | None:
    """The language's English name ('Panjabi', 'Sylheti'), or None for a code that names no language."""
    try:
        canonical = canonical_language(code)
    except LanguageCodeError:
        return None
    found = pycountry.languages.get(**{"alpha_2" if len(canonical) == 2 else "alpha_3": canonical})
    return None if found is None else str(found.name)
