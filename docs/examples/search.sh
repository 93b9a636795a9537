#!/usr/bin/env bash
# Find crisis support open now near a postcode, with curl.
#
#   docs/examples/search.sh "LS1 1UR"                      # against http://127.0.0.1:8000
#   SERVICE_FINDER_URL=https://finder.example.nhs.uk docs/examples/search.sh "M1 1AE"
#
# Prints each result (flagging demonstration data, which must never be shown as a real service) and then the
# safety net, which every answer carries and which must always be shown.
set -euo pipefail
BASE_URL=${SERVICE_FINDER_URL:-http://127.0.0.1:8000}
POSTCODE=${1:?usage: search.sh POSTCODE}

# -G sends the --data-urlencode pairs as the query string; lists repeat: --data-urlencode needs=self_harm ...
# --fail-with-body: a 4xx or 5xx exits non-zero but still prints the problem+json saying what was wrong.
failed=0
body=$(curl -sS --fail-with-body -G "$BASE_URL/v1/search" \
  -H 'Accept: application/json' \
  --data-urlencode "postcode=$POSTCODE" \
  --data-urlencode "open=now" \
  --data-urlencode "limit=5") || failed=1

if ! command -v jq >/dev/null; then
  # No jq: show the JSON as it is (a refused search's problem+json carries the safety net too).
  printf '%s\n' "$body" | python3 -m json.tool || printf '%s\n' "$body"
  exit "$failed"
fi

if [ "$failed" = 1 ]; then
  # A refused search still carries the safety net: show it. An answer that is not ours (a proxy's page) gets the
  # national numbers, never nothing.
  echo "search failed: $(printf '%s' "$body" | jq -r '"(\(.status)): \(.detail)"' 2>/dev/null || printf '%s' "$body")" >&2
  printf '%s\n' "$body" | jq -r '"", "Always available:", (.safety_net[] |
    "  \(.name): \(.phones | map(.display) | join(" or ")) (\(.hours))")' 2>/dev/null || printf '%s\n' "" \
    "Always available:" "  Emergency services: 999" "  NHS 111, option 2 (mental health): 111" \
    "  Samaritans: 116 123" "  Shout (text SHOUT): 85258"
  exit 1
fi

printf '%s\n' "$body" | jq -r '
  "Open now near \(.query.location.postcode // "you"):",
  (if (.results | length) == 0 then "  nothing nearby matches right now" else empty end),
  (.results[] |
    "  \(.rank). \(.service.name)\(if .service.demo then " [DEMONSTRATION DATA, not a real service]" else "" end)",
    "     \(.hours_today); eligibility: \(.eligibility.verdict)\(if .distance_km then "; \(.distance_km) km (straight line)" else "" end)",
    (.service.phones[] | "     call \(.display)")),
  "",
  "Always available:",
  (.safety_net[] | "  \(.name): \(.phones | map(.display) | join(" or ")) (\(.hours))")'
