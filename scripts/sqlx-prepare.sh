#!/usr/bin/env bash
# Rewrites the offline query data of the crates built with check_types, as
# `cargo sqlx prepare` would: the type-checked ui cases
# (ui-tests/tests/checked/.sqlx) and examples/forms-api (.sqlx). For each,
# loads its schema.sql into a scratch database, compiles it online against
# that database (sqlx's macros save each query they describe into
# SQLX_OFFLINE_DIR), and drops the database. Run it after changing a query
# or a schema there; the builds then run offline from the new data.
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

# examples/forms-api: its own scratch database with its schema.sql.
api_db="tenant_sqlx_prepare_api_$$"
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "CREATE DATABASE $api_db"
trap 'psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"; psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $api_db WITH (FORCE)"' EXIT
psql -q -v ON_ERROR_STOP=1 "$base/$api_db" -f examples/forms-api/schema.sql
api_data="$PWD/examples/forms-api/.sqlx"
rm -f "$api_data"/query-*.json
mkdir -p "$api_data"
touch examples/forms-api/src/lib.rs
SQLX_OFFLINE=false DATABASE_URL="$base/$api_db" SQLX_OFFLINE_DIR="$api_data" \
    cargo build -q -p forms-api --lib --tests
count=$(ls "$api_data"/query-*.json 2>/dev/null | wc -l)
echo "sqlx-prepare: wrote $count query files into examples/forms-api/.sqlx"
[ "$count" -gt 0 ]
