#!/bin/sh
# Temporal's databases and their schema by the server's own SQL tool, as `cluster up` does:
# create each database, version tables once, then every versioned step newer than the stored one.
set -eu
: "${POSTGRES_PWD:?set POSTGRES_PWD}"
tool() { temporal-sql-tool --plugin postgres12 --endpoint 127.0.0.1 --port "${PGPORT:-5433}" --user temporal --password "$POSTGRES_PWD" "$@"; }
for pair in temporal:temporal temporal_visibility:visibility; do
  db=${pair%%:*}
  dir=${pair##*:}
  tool --database "$db" create-database 2>/dev/null || true
  tool --database "$db" setup-schema -v 0.0 2>/dev/null || true
  tool --database "$db" update-schema -d "/etc/temporal/schema/postgresql/v12/$dir/versioned"
  echo "temporal-schema: $db up to date"
done
