#!/bin/sh
# First start on an empty volume: the cluster, the superuser's password and the `temporal` role
# (CREATEDB: Temporal's SQL tool creates its databases), from the environment; then the server,
# on loopback at PGPORT (the local cluster's port).
set -eu
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" "${TEMPORAL_PASSWORD:?set TEMPORAL_PASSWORD}"
PGPORT=${PGPORT:-5433}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pw=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" >"$pw"
  initdb -D "$PGDATA" -U postgres --pwfile="$pw" --auth=scram-sha-256 >/dev/null
  rm -f "$pw"
  pg_ctl -D "$PGDATA" -o "-p $PGPORT -c listen_addresses= -k /run/postgresql" -w start >/dev/null
  PGPASSWORD=$POSTGRES_PASSWORD psql -h /run/postgresql -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE temporal LOGIN CREATEDB PASSWORD '$TEMPORAL_PASSWORD'"
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgresql: initialised $PGDATA"
fi
exec postgres -D "$PGDATA" -p "$PGPORT" -c listen_addresses=127.0.0.1 -k /run/postgresql
