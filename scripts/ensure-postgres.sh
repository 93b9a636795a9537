#!/usr/bin/env bash
# Make sure a PostgreSQL server answers at 127.0.0.1:5432 with trust auth and a database `test`, as the test
# suite needs: start it when it is installed but stopped, install it from Debian's packages when it is missing.
set -euo pipefail
HOST=127.0.0.1
PORT=5432

ready() { command -v pg_isready >/dev/null && pg_isready -q -h "$HOST" -p "$PORT" -t 2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "ensure-postgres: need root to run: $*" >&2; exit 1
  fi
}

if ! ready; then
  if ! ls /etc/postgresql/*/main/postgresql.conf >/dev/null 2>&1; then
    echo "ensure-postgres: installing PostgreSQL from Debian's packages" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    # Tests connect as postgres over loopback without a password, as on the project's machines.
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do ready && break; pg_isready -q -h "$HOST" -p "$PORT" -t 1 || true; done
  ready || { echo "ensure-postgres: PostgreSQL did not start on $HOST:$PORT" >&2; exit 1; }
fi

if ! psql -h "$HOST" -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
  createdb -h "$HOST" -p "$PORT" -U postgres test
fi
echo "PostgreSQL ready at $HOST:$PORT"
