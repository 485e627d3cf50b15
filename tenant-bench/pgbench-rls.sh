#!/usr/bin/env bash
# What the verified tenant transaction costs per query (issue 25): the same
# routed point query run by pgbench as an application role under three
# walls, on a data set of its own (database tenant_bench_rls):
#
#   none     row-level security off; the transaction sets app.tenant_id
#   setting  the earlier policy: tenant_id = current_setting('app.tenant_id')
#            (forgeable by any SQL in the transaction)
#   verified the policy the runtime installs: tenant_id =
#            (SELECT tenancy.current_tenant()), the transaction entered with
#            tenancy.enter(tenant, key) (an HMAC checked once per query)
#
#   bash tenant-bench/pgbench-rls.sh [SECONDS] [CLIENTS] [TENANTS] [ROWS]
#
# Each transaction runs 1 or 10 point queries, so the per-query cost and the
# per-transaction cost (enter) are told apart. The tenancy is installed and
# the tenants onboarded by the `tenant` command (target/release/tenant, or
# TENANT_BIN), so enter() and current_tenant() are the ones the runtime
# installs; the policies are the one line the runtime generates.
set -euo pipefail

seconds="${1:-10}"
clients="${2:-2}"
tenants="${3:-20}"
rows="${4:-1000}"
url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
database="tenant_bench_rls"
db_url="${url%/*}/${database}"
role="tenant_bench_app"
root="$(cd "$(dirname "$0")/.." && pwd)"
tenant_bin="${TENANT_BIN:-$root/target/release/tenant}"

command -v pgbench >/dev/null || { echo "pgbench-rls: pgbench is not installed (Debian: postgresql-client)" >&2; exit 1; }
[ -x "$tenant_bin" ] || { echo "pgbench-rls: $tenant_bin is missing; run cargo build --release -p tenant-cli" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

psql "$url" -qX -v ON_ERROR_STOP=1 <<SQL
DROP DATABASE IF EXISTS $database WITH (FORCE);
CREATE DATABASE $database;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE $role LOGIN NOBYPASSRLS;
  END IF;
END \$\$;
SQL
psql "$db_url" -qX -v ON_ERROR_STOP=1 -c "
    CREATE TABLE items (tenant_id text NOT NULL, id bigint NOT NULL, payload text NOT NULL,
        PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id)"
for i in $(seq 1 "$tenants"); do
    "$tenant_bin" --database-url "$db_url" onboard "tenant-$i" >/dev/null
done
psql "$db_url" -qX -v ON_ERROR_STOP=1 <<SQL
INSERT INTO items SELECT 'tenant-' || t, i, md5(t || '/' || i)
  FROM generate_series(1, $tenants) t, generate_series(1, $rows) i;
ANALYZE items;
GRANT USAGE ON SCHEMA tenancy TO $role;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO $role;
SQL
key="$(psql "$db_url" -qAtX -c "SELECT encode(app_key, 'hex') FROM tenancy.tenant_key")"
psql "$db_url" -qAtX -F ' ' -c "SELECT id, partition_suffix FROM tenancy.tenants ORDER BY id" >"$work/tenants"

# One script per tenant and mode, its partition named as routing names it.
for queries in 1 10; do
    for mode in none setting verified; do
        mkdir -p "$work/$mode-$queries"
        while read -r id suffix; do
            {
                printf '\\set id random(1, %s)\nBEGIN;\n' "$rows"
                if [ "$mode" = verified ]; then
                    printf "SELECT tenancy.enter('%s', '\\\\x%s');\n" "$id" "$key"
                else
                    printf "SELECT set_config('app.tenant_id', '%s', true);\n" "$id"
                fi
                for _ in $(seq 1 "$queries"); do
                    printf "SELECT payload FROM public.items_%s WHERE tenant_id = '%s' AND id = :id;\n" "$suffix" "$id"
                done
                printf 'COMMIT;\n'
            } >"$work/$mode-$queries/$id.sql"
        done <"$work/tenants"
    done
done

policies() { # mode
    local sql=""
    while read -r _ suffix; do
        local table="public.items_$suffix"
        case "$1" in
            none) sql+="ALTER TABLE $table DISABLE ROW LEVEL SECURITY; ALTER TABLE $table NO FORCE ROW LEVEL SECURITY;" ;;
            *)
                local predicate="tenant_id = (SELECT tenancy.current_tenant())"
                [ "$1" = setting ] && predicate="tenant_id = current_setting('app.tenant_id', true)"
                sql+="ALTER TABLE $table ENABLE ROW LEVEL SECURITY; ALTER TABLE $table FORCE ROW LEVEL SECURITY;
                      DROP POLICY IF EXISTS tenant_isolation ON $table;
                      CREATE POLICY tenant_isolation ON $table USING ($predicate) WITH CHECK ($predicate);" ;;
        esac
    done <"$work/tenants"
    psql "$db_url" -qX -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning; $sql"
}

role_url="postgres://$role@${db_url#*@}"
echo "pgbench on $database as $role: $clients clients, ${seconds}s per mode, $tenants tenants x $rows rows, prepared statements"
printf '%-10s %8s %12s %12s\n' "policy" "queries" "tps" "µs/txn"
for queries in 1 10; do
    for mode in none setting verified; do
        policies "$mode"
        # A check that the wall is up: a partition read without the tenant
        # shows nothing (the policies are the partitions', not the parent's).
        if [ "$mode" != none ]; then
            first="$(head -n1 "$work/tenants" | cut -d' ' -f2)"
            seen="$(psql "$role_url" -qAtX -c "SELECT count(*) FROM public.items_$first")"
            [ "$seen" = 0 ] || { echo "pgbench-rls: $mode policy let $seen rows through" >&2; exit 1; }
        fi
        scripts=()
        for file in "$work/$mode-$queries"/*.sql; do scripts+=(-f "$file@1"); done
        tps="$(pgbench -n -M prepared -c "$clients" -j "$clients" -T "$seconds" "${scripts[@]}" "$role_url" 2>&1 |
            sed -n 's/^tps = \([0-9.]*\).*/\1/p')"
        [ -n "$tps" ] || { echo "pgbench-rls: pgbench failed in mode $mode" >&2; exit 1; }
        awk -v m="$mode" -v q="$queries" -v t="$tps" -v c="$clients" \
            'BEGIN { printf "%-10s %8d %12.0f %12.1f\n", m, q, t, c * 1e6 / t }'
    done
done
psql "$url" -qX -c "DROP DATABASE IF EXISTS $database WITH (FORCE)"
