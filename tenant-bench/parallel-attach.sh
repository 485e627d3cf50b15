#!/usr/bin/env bash
# How much of onboarding's ATTACH work could overlap: the three parents'
# ATTACH PARTITIONs run one after another in one transaction (as onboarding
# runs them) against the same three on three connections at once (each
# parent's ATTACH takes its own parent's lock, so they do not wait on each
# other). Run on a data set that tenant-bench built; nothing is left behind.
#
#   bash tenant-bench/parallel-attach.sh N [ROUNDS]
#
# Each round prepares three empty tables shaped like the parents, with a
# CHECK implying the partition bound (so ATTACH skips its scan, as
# onboarding does), attaches them serially, detaches and drops them, then
# prepares them again and attaches them in parallel. Every session first
# reads its parents once (as a pooled connection would have), and the
# parallel sessions start their ATTACH at the same instant
# (`pg_sleep_until`). Times are psql's `\timing` of each statement; the
# parallel figure is the slowest of the three ATTACHes.
set -euo pipefail

tenants="${1:?usage: parallel-attach.sh N [ROUNDS]}"
rounds="${2:-5}"
url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
database="tenant_bench_${tenants}"
db_url="${url%/*}/${database}"

psql "$db_url" -qAtc "SELECT complete FROM bench_meta" 2>/dev/null | grep -qx t ||
    { echo "parallel-attach: $database is missing or incomplete; build it with tenant-bench --prepare-only" >&2; exit 1; }

mapfile -t parents < <(psql "$db_url" -qAtc "
    SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
    WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1")
[ "${#parents[@]}" -gt 0 ] || { echo "parallel-attach: no partitioned tables in $database" >&2; exit 1; }

work="$(mktemp -d)"
cleanup() {
    for parent in "${parents[@]}"; do
        psql "$db_url" -qAtc "DROP TABLE IF EXISTS attach_probe_${parent}" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# The probe's tenant id is a literal in the SQL below: a fixed, quote-free value.
probe="attach-probe"

prepare() {
    for parent in "${parents[@]}"; do
        psql "$db_url" -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS attach_probe_${parent};
CREATE TABLE attach_probe_${parent} (LIKE ${parent} INCLUDING ALL);
ALTER TABLE attach_probe_${parent} ADD CONSTRAINT attach_probe_bound
    CHECK (tenant_id IS NOT NULL AND tenant_id = '${probe}');
SQL
    done
}

detach_and_drop() {
    for parent in "${parents[@]}"; do
        psql "$db_url" -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
ALTER TABLE ${parent} DETACH PARTITION attach_probe_${parent};
DROP TABLE attach_probe_${parent};
SQL
    done
}

# Milliseconds of every `\timing` line in a psql output file, one per line.
timings() { sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$1"; }

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for round in $(seq 1 "$rounds"); do
    prepare
    {
        # A new backend builds each parent's partition descriptor on first
        # use (tens of ms at 10,000 partitions); onboarding's pooled
        # connections usually have it, so build it before the timing.
        for parent in "${parents[@]}"; do
            echo "SELECT count(*) FROM ${parent} WHERE tenant_id = '${probe}';"
        done
        echo '\timing on'
        echo 'BEGIN;'
        for parent in "${parents[@]}"; do
            echo "ALTER TABLE ${parent} ATTACH PARTITION attach_probe_${parent} FOR VALUES IN ('${probe}');"
        done
        echo 'COMMIT;'
    } >"$work/serial.sql"
    psql "$db_url" -qAt -v ON_ERROR_STOP=1 -f "$work/serial.sql" >"$work/serial.out"
    # BEGIN, one line per ATTACH, COMMIT: their sum is the transaction.
    timings "$work/serial.out" | awk '{ s += $1 } END { printf "%.2f\n", s }' >>"$work/serial.ms"
    detach_and_drop

    prepare
    pids=()
    # Every session warms its parent, then all start their ATTACH together.
    start="$(psql "$db_url" -qAtc "SELECT clock_timestamp() + interval '1.5 s'")"
    for parent in "${parents[@]}"; do
        printf '%s\n' \
            "SELECT count(*) FROM ${parent} WHERE tenant_id = '${probe}';" \
            "SELECT pg_sleep_until('${start}');" \
            '\timing on' \
            "ALTER TABLE ${parent} ATTACH PARTITION attach_probe_${parent} FOR VALUES IN ('${probe}');" \
            >"$work/parallel_${parent}.sql"
    done
    for parent in "${parents[@]}"; do
        psql "$db_url" -qAt -v ON_ERROR_STOP=1 -f "$work/parallel_${parent}.sql" >"$work/parallel_${parent}.out" &
        pids+=("$!")
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    for parent in "${parents[@]}"; do timings "$work/parallel_${parent}.out"; done |
        sort -n | tail -1 >>"$work/parallel.ms"
    detach_and_drop
done

serial="$(median <"$work/serial.ms")"
parallel="$(median <"$work/parallel.ms")"
echo "${#parents[@]} parents (${parents[*]}), $tenants tenants, $rounds rounds, medians:"
echo "  serial, one transaction: $serial ms   (rounds: $(paste -sd' ' "$work/serial.ms"))"
echo "  parallel, slowest of ${#parents[@]}: $parallel ms   (rounds: $(paste -sd' ' "$work/parallel.ms"))"
awk -v s="$serial" -v p="$parallel" 'BEGIN { printf "  parallel / serial: %.2f\n", p / s }'
