"""The ranking weights, in one place. A result's score is the sum of the terms that apply to it; ties break by id.

The order of magnitude is deliberate: being open now outweighs everything else, because a closed door at 2am is
the failure that matters most; then whether the person can get in (no referral needed) and is known to be
eligible; then fit to needs and access; distance only orders otherwise similar options.
"""

from __future__ import annotations

from typing import Final

# Open at the instant searched for. Larger than any sum of the other terms a closed service can earn, so an open
# service never ranks below an otherwise-equal closed one. One deliberate exception, with open=within:N: an open
# service the person would probably reach after it closes (OPEN_NOW + MAY_CLOSE_BEFORE_ARRIVAL = 55) can rank below
# one opening within the next 20 minutes (OPENS_SOON less 0.25 a minute: above 55), which will be open when they
# get there.
OPEN_NOW: Final = 100.0
# Not open now but opening within the window asked for (open=within:N): worth less the longer the wait.
OPENS_SOON: Final = 60.0
OPENS_SOON_PER_MINUTE: Final = -0.25
# Open now, but (by the straight-line estimate) the person would probably arrive after it closes.
MAY_CLOSE_BEFORE_ARRIVAL: Final = -45.0
# The person is looking for themselves and can walk in or refer themselves: no gatekeeper between them and help.
SELF_ACCESS: Final = 25.0
# Every criterion known to pass, rather than some unknown ("check with the service").
KNOWN_ELIGIBLE: Final = 20.0
# Each of the person's needs the service says it is set up for.
NEED_MATCH: Final = 8.0
# A service built for exactly this person: dual diagnosis for someone who uses substances and is in distress,
# or a service that accepts people who have been drinking when they have.
SPECIALIST_FIT: Final = 20.0
# Each requested access feature confirmed (they are required, so this only orders among several that have them).
ACCESS_MATCH: Final = 3.0
# Checked by a person and within its review date; stale records are shown, labelled, and ranked lower.
VERIFIED: Final = 10.0
STALE: Final = -10.0
# Per straight-line kilometre.
DISTANCE_PER_KM: Final = -1.5
# A phone, text or online service is reachable from anywhere; treat it as this far away when ordering.
REMOTE_EQUIVALENT_KM: Final = 8.0

# Assumed speeds for the travel estimate (straight-line distance, so real journeys are longer): walking up to
# WALK_LIMIT_KM, otherwise public transport or car, averaged with waiting.
WALK_KMH: Final = 4.5
WALK_LIMIT_KM: Final = 2.0
TRAVEL_KMH: Final = 20.0
# A margin so "arrives before close" is not claimed for an arrival with minutes to spare.
ARRIVAL_MARGIN_MIN: Final = 15


def travel_minutes(distance_km: float) -> tuple[str, int]:
    # Judged on the distance as the answer shows it (to 10 m), so "2.0 km" is never estimated as a drive.
    distance_km = round(distance_km, 2)
    if distance_km <= WALK_LIMIT_KM:
        return "walking", max(1, round(distance_km / WALK_KMH * 60))
    return "public transport or car", max(1, round(distance_km / TRAVEL_KMH * 60))
