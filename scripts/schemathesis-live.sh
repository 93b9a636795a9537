#!/usr/bin/env bash
# Schemathesis against a real server process: uvicorn on a free loopback port, a throwaway SQLite store with the
# national lines and the demonstration directory, every check, every phase, a fixed seed so a failure reproduces.
# tests/api/test_schemathesis.py does the same in-process on every `make test`; this one goes over real HTTP.
#
#   scripts/schemathesis-live.sh [extra schemathesis run options, e.g. --max-examples 50]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_BIN=${VENV_BIN:-$PWD/.venv/bin}
SEED=${SCHEMATHESIS_SEED:-20261127}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-25}

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export SERVICE_FINDER_DATABASE_URL="sqlite:///$work/store.sqlite3"
# A fuzzing run is a burst from one client: the rate limiter would answer most of it with 429.
export SERVICE_FINDER_RATE_LIMIT_ENABLED=false
"$VENV_BIN/service-finder" demo load >"$work/load.log" 2>&1 || { cat "$work/load.log" >&2; exit 1; }

port=$("$VENV_BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$VENV_BIN/service-finder" serve --host 127.0.0.1 --port "$port" >"$work/server.log" 2>&1 &
server_pid=$!
if ! curl -fsS --retry 60 --retry-all-errors --retry-delay 1 --retry-max-time 90 "$base/healthz" >/dev/null; then
  echo "schemathesis-live: the server did not come up on $base" >&2
  cat "$work/server.log" >&2
  exit 1
fi

# The same exception as the in-process test: /v1/search answers 422 for what OpenAPI cannot state (a well-formed
# postcode not in the gazetteer, lat without lon, postcode and coordinates together).
cat >"$work/schemathesis.toml" <<'TOML'
[[operations]]
include-path-regex = "^/(v1/search|hsds/service_at_locations|v1/coverage)$"
checks.positive_data_acceptance.expected-statuses = ["2XX", 401, 403, 404, 409, 422, 429]
TOML

# Run from the scratch directory: schemathesis keeps a .schemathesis/ cache in its working directory.
cd "$work"
"$VENV_BIN/schemathesis" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
  --checks all \
  --phases examples,coverage,fuzzing,stateful \
  --seed "$SEED" \
  --generation-deterministic \
  --max-examples "$MAX_EXAMPLES" \
  --suppress-health-check all \
  "$@"
