"""Find crisis support open now near a postcode, with httpx.

    python docs/examples/search.py "LS1 1UR"
    SERVICE_FINDER_URL=https://finder.example.nhs.uk python docs/examples/search.py "M1 1AE"

Prints each result (flagging demonstration data, which must never be shown as a real service) and then the
safety net, which every answer carries and which must always be shown.
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
        # Every error is RFC 9457 problem+json; `detail` names the field and the value at fault.
        problem = response.json()
        raise SystemExit(f"search failed ({problem['status']}): {problem['detail']}")
    answer: dict[str, Any] = response.json()
    return answer


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
    print()
    print("Always available:")
    for line in answer["safety_net"]:
        numbers = " or ".join(phone["display"] for phone in line["phones"])
        print(f"  {line['name']}: {numbers} ({line['hours']})")


if __name__ == "__main__":
    main()
