#!/usr/bin/env bash
# Rewrites the offline query data of the type-checked ui cases
# (ui-tests/tests/checked/.sqlx), as `cargo sqlx prepare` would: loads
# ui-tests/tests/checked/schema.sql into a scratch database, compiles the
# cases online against it (sqlx's macros save each query they describe into
# SQLX_OFFLINE_DIR), and drops the database. Run it after changing a query
# or the schema there; the ui test then builds offline from the new data.
set -euo pipefail
cd "$(dirname "$0")/.."

DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
base="${DATABASE_URL%/*}"
db="tenant_sqlx_prepare_$$"
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "CREATE DATABASE $db"
trap 'psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
psql -q -v ON_ERROR_STOP=1 "$base/$db" -f ui-tests/tests/checked/schema.sql

data=ui-tests/tests/checked/.sqlx
rm -f "$data"/query-*.json
mkdir -p "$data"
TENANT_SQLX_PREPARE="$base/$db" cargo test -q -p ui-tests --test ui >/dev/null 2>&1 || true
count=$(ls "$data"/query-*.json 2>/dev/null | wc -l)
echo "sqlx-prepare: wrote $count query files into $data"
[ "$count" -gt 0 ]
