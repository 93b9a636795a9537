"""The last-resort safety net, used only if the directory holds no active safety-net lines (an empty store).

These are the same real, published numbers as data/national_lines.json (a test keeps the two in step), so an
answer to someone in crisis is never empty even before any data has been loaded.
"""

from __future__ import annotations

from service_finder.domain.taxonomy import PhoneType
from service_finder.schemas import PhoneRecord, SafetyNetEntry

ALWAYS = "Open 24 hours"

FALLBACK_SAFETY_NET: tuple[SafetyNetEntry, ...] = (
    SafetyNetEntry(
        id="emergency-999",
        name="999 emergency services",
        phones=[PhoneRecord(number="999", description="Immediate danger to life")],
        description="Call 999 if someone's life is in immediate danger.",
        hours=ALWAYS,
        local=False,
    ),
    SafetyNetEntry(
        id="nhs-111-mental-health",
        name="NHS 111, option 2: urgent mental health",
        phones=[PhoneRecord(number="111", description="Choose option 2 for mental health")],
        description="The NHS 24/7 urgent mental health line for England: call 111 and choose option 2.",
        hours=ALWAYS,
        local=False,
    ),
    SafetyNetEntry(
        id="samaritans",
        name="Samaritans",
        phones=[PhoneRecord(number="116 123", description="Free, 24/7")],
        description="Samaritans: call 116 123, free, any time, day or night.",
        hours=ALWAYS,
        local=False,
    ),
    SafetyNetEntry(
        id="shout",
        name="Shout",
        phones=[PhoneRecord(number="85258", type=PhoneType.text, description="Text SHOUT to 85258")],
        description="Shout: text SHOUT to 85258, free, 24/7.",
        hours=ALWAYS,
        local=False,
    ),
)
