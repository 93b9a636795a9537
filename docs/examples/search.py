"""Find crisis support open now near a postcode, with httpx.

    python docs/examples/search.py "LS1 1UR"
    SERVICE_FINDER_URL=https://finder.example.nhs.uk python docs/examples/search.py "M1 1AE"

Prints each result (flagging demonstration data, which must never be shown as a real service) and then the
safety net, which every answer carries (a refused search too) and which must always be shown.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import httpx


def search(base_url: str, postcode: str) -> dict[str, Any]:
    # Lists repeat in the query string: params=[("needs", "self_harm"), ("needs", "alcohol")].
    response = httpx.get(
        f"{base_url}/v1/search",
        params={"postcode": postcode, "open": "now", "limit": 5},
        headers={"Accept": "application/json"},
        timeout=10,
    )
    if response.is_error:
        # Every error from the service is RFC 9457 problem+json: `detail` names the field and the value at fault,
        # and `safety_net` still gives numbers to call, which must be shown. (A proxy in between may answer with
        # something else: say so, and still give the national numbers.)
        try:
            problem = response.json()
        except ValueError:
            problem = {"status": response.status_code, "detail": response.text[:200]}
        print(f"search failed ({problem.get('status')}): {problem.get('detail')}", file=sys.stderr)
        print_safety_net(problem.get("safety_net") or NATIONAL_LINES)
        raise SystemExit(1)
    answer: dict[str, Any] = response.json()
    return answer


# For an answer that did not come from the service: the national lines, never nothing.
NATIONAL_LINES = [
    {"name": "Emergency services", "phones": [{"display": "999"}], "hours": "24/7"},
    {"name": "NHS 111, option 2 (mental health)", "phones": [{"display": "111"}], "hours": "24/7"},
    {"name": "Samaritans", "phones": [{"display": "116 123"}], "hours": "24/7"},
    {"name": "Shout (text SHOUT)", "phones": [{"display": "85258"}], "hours": "24/7"},
]


def print_safety_net(lines: list[dict[str, Any]]) -> None:
    print()
    print("Always available:")
    for line in lines:
        numbers = " or ".join(phone["display"] for phone in line["phones"])
        print(f"  {line['name']}: {numbers} ({line['hours']})")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: search.py POSTCODE")
    answer = search(os.environ.get("SERVICE_FINDER_URL", "http://127.0.0.1:8000"), sys.argv[1])
    location = answer["query"]["location"] or {}
    print(f"Open now near {location.get('postcode') or 'you'}:")
    if not answer["results"]:
        print("  nothing nearby matches right now")
    for result in answer["results"]:
        service = result["service"]
        label = " [DEMONSTRATION DATA, not a real service]" if service["demo"] else ""
        print(f"  {result['rank']}. {service['name']}{label}")
        distance = f"; {result['distance_km']} km (straight line)" if result["distance_km"] is not None else ""
        print(f"     {result['hours_today']}; eligibility: {result['eligibility']['verdict']}{distance}")
        for phone in service["phones"]:
            print(f"     call {phone['display']}")
    print_safety_net(answer["safety_net"])


if __name__ == "__main__":
    main()
