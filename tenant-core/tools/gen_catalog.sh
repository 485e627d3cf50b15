#!/usr/bin/env bash
# Regenerates tenant-core/src/analyzer/catalog_list.rs from a PostgreSQL
# server's catalog, by running tenant-core/tools/catalog.sql through psql.
#
#     bash tenant-core/tools/gen_catalog.sh [OUTPUT]
#
# The server is DATABASE_URL when set, else whatever the libpq environment
# (PGHOST, PGPORT, PGUSER, PGDATABASE..) selects. OUTPUT defaults to the
# committed catalog_list.rs; the drift test (tenant-cli/tests/catalog_drift.rs)
# writes to a temporary file and compares. The output depends only on the
# server's major version: the lists are sorted in byte order, and objects made
# after initdb or by extensions are left out.
set -euo pipefail

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
output="${1:-$tools_dir/../src/analyzer/catalog_list.rs}"

if ! command -v psql >/dev/null 2>&1; then
    echo "gen_catalog.sh: psql is not installed; install the PostgreSQL client" \
        "(Debian/Ubuntu: apt-get install postgresql-client; macOS: brew install libpq)" >&2
    exit 127
fi

connection=()
if [[ -n "${DATABASE_URL:-}" ]]; then
    connection=(--dbname="$DATABASE_URL")
fi

# Written next to the output and renamed, so a failure leaves the old file.
tmp="$(mktemp "$output.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
    psql "${connection[@]}" --no-psqlrc --quiet --tuples-only --no-align \
    --set=ON_ERROR_STOP=1 --file="$tools_dir/catalog.sql" >"$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$output"
trap - EXIT
