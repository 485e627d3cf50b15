#!/usr/bin/env bash
# The point query of tenant-bench, driven by pgbench (a light C client that
# can send Parse/Bind/Execute/Sync in one round trip), on a data set that
# tenant-bench built. It shows what the routed statement costs PostgreSQL
# without sqlx's per-query overhead, and what an uncached routed query costs
# when its miss takes one round trip instead of sqlx's two.
#
#   bash tenant-bench/pgbench-routing.sh N [SECONDS] [CLIENTS] [RANDOM_PAGE_COST]
#
# N: the data set (database tenant_bench_N; build it with
# `cargo run --release -p tenant-bench -- --tenants N --rows-per-tenant R --prepare-only`).
# pgbench takes at most 128 scripts, so the routed modes draw from 100
# tenants (one script per tenant, its partition named in the SQL); the
# parent modes query the whole parent with the same 100 tenants.
set -euo pipefail

tenants="${1:?usage: pgbench-routing.sh N [SECONDS] [CLIENTS] [RANDOM_PAGE_COST]}"
seconds="${2:-10}"
clients="${3:-2}"
random_page_cost="${4:-1.1}"
url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
database="tenant_bench_${tenants}"
db_url="${url%/*}/${database}"

command -v pgbench >/dev/null || { echo "pgbench-routing: pgbench is not installed (Debian: postgresql-client)" >&2; exit 1; }
psql "$db_url" -qAtc "SELECT complete FROM bench_meta" 2>/dev/null | grep -qx t ||
    { echo "pgbench-routing: $database is missing or incomplete; build it with tenant-bench --prepare-only" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rows="$(psql "$db_url" -qAtc "SELECT rows_per_tenant FROM bench_meta")"

# 100 tenants spread over the data set, with their partition suffixes.
psql "$db_url" -qAt -F ' ' -c "
    SELECT id, partition_suffix FROM tenancy.tenants
    WHERE state = 'active' AND id LIKE 'tenant-%'
    ORDER BY md5(id) LIMIT 100" >"$work/tenants"

mkdir -p "$work/flat" "$work/parent" "$work/routed"
while read -r id suffix; do
    for table in flat parent routed; do
        case "$table" in
            flat) relation=flat_items ;;
            parent) relation=items ;;
            routed) relation="items_${suffix}" ;;
        esac
        printf '\\set id random(1, %s)\nSELECT payload FROM %s WHERE tenant_id = '"'"'%s'"'"' AND id = :id;\n' \
            "$rows" "$relation" "$id" >"$work/$table/$id.sql"
    done
done <"$work/tenants"

run() { # label, mode, script dir, extra PGOPTIONS
    local label="$1" mode="$2" dir="$3" options="-c random_page_cost=${random_page_cost} ${4:-}"
    local scripts=()
    for file in "$dir"/*.sql; do scripts+=(-f "$file@1"); done
    local tps
    tps="$(PGOPTIONS="$options" pgbench -n -M "$mode" -c "$clients" -j "$clients" -T "$seconds" \
        "${scripts[@]}" "$db_url" 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p')"
    printf '%s\t%s\n' "$label" "${tps:-FAILED}" >>"$work/results"
}

echo "pgbench on $database: $clients clients, ${seconds}s per mode, random_page_cost $random_page_cost, 100 tenants"
run "flat, prepared" prepared "$work/flat"
run "parent, prepared, force_custom_plan" prepared "$work/parent" "-c plan_cache_mode=force_custom_plan"
run "routed, prepared (a statement per tenant)" prepared "$work/routed"
run "routed, unnamed, one round trip (extended)" extended "$work/routed"
run "parent, unnamed, one round trip (extended)" extended "$work/parent"
awk -F '\t' 'BEGIN { printf "%-44s %10s %8s\n", "mode", "qps", "vs flat" }
    NR == 1 { flat = $2 }
    { printf "%-44s %10.0f %8.3f\n", $1, $2, (flat > 0 ? $2 / flat : 0) }' "$work/results"
