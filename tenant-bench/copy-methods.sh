#!/usr/bin/env bash
# The two ways to copy a moving tenant's rows between servers, timed on the
# same data: COPY streamed from one server into the other (what the mover
# does), and logical replication (a publication of the tenant's tables on
# the source, a subscription on the target, timed until every table has
# finished its initial copy and a row written afterwards has arrived).
#
#   bash tenant-bench/copy-methods.sh [ROWS] [RUNS]
#
# Needs the servers scripts/setup.sh runs on 127.0.0.1:5433 (the source,
# wal_level=logical) and 5434; creates and drops `tenant_copy_bench` on both.
set -euo pipefail
ROWS="${1:-100000}"
RUNS="${2:-3}"
SRC="postgres://postgres@127.0.0.1:5433"
DST="postgres://postgres@127.0.0.1:5434"
DB=tenant_copy_bench
q() { psql "$1" -X -q -A -t -v ON_ERROR_STOP=1 -c "$2"; }
now_ms() { date +%s%3N; }

FORMS=$((ROWS * 2 / 5))
NOTES=$((ROWS - 2 * FORMS))
SCHEMA="
CREATE TABLE forms (tenant_id text NOT NULL, id bigint NOT NULL, title text NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE TABLE submissions (tenant_id text NOT NULL, id bigint NOT NULL, form_id bigint NOT NULL, payload text NOT NULL,
    PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, form_id) REFERENCES forms (tenant_id, id));
CREATE TABLE notes (tenant_id text NOT NULL, id bigint NOT NULL, submission_id bigint NOT NULL, body text NOT NULL,
    PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, submission_id) REFERENCES submissions (tenant_id, id));"

reset() {
    for server in "$SRC" "$DST"; do
        q "$server/postgres" "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
        q "$server/postgres" "CREATE DATABASE $DB"
        psql "$server/$DB" -X -q -v ON_ERROR_STOP=1 -c "$SCHEMA"
    done
    q "$SRC/$DB" "INSERT INTO forms SELECT 't', g, 'form ' || g FROM generate_series(1, $FORMS) g;
                  INSERT INTO submissions SELECT 't', g, g, repeat('x', 64) FROM generate_series(1, $FORMS) g;
                  INSERT INTO notes SELECT 't', g, g, 'note ' || g FROM generate_series(1, $NOTES) g"
}
cleanup() {
    q "$DST/$DB" "DROP SUBSCRIPTION IF EXISTS move_sub" 2>/dev/null || true
    for server in "$SRC" "$DST"; do
        q "$server/postgres" "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
    done
}
trap cleanup EXIT

echo "rows=$ROWS (forms $FORMS, submissions $FORMS, notes $NOTES), runs=$RUNS"
for run in $(seq 1 "$RUNS"); do
    reset
    start=$(now_ms)
    for table in forms submissions notes; do
        psql "$SRC/$DB" -X -q -c "COPY (SELECT * FROM $table) TO STDOUT" |
            psql "$DST/$DB" -X -q -v ON_ERROR_STOP=1 -c "COPY $table FROM STDIN"
    done
    copy_ms=$(($(now_ms) - start))

    reset
    start=$(now_ms)
    q "$SRC/$DB" "CREATE PUBLICATION move_pub FOR TABLE forms, submissions, notes"
    q "$DST/$DB" "CREATE SUBSCRIPTION move_sub CONNECTION 'host=127.0.0.1 port=5433 user=postgres dbname=$DB' PUBLICATION move_pub"
    until [ "$(q "$DST/$DB" "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ]; do
        sleep 0.05
    done
    synced_ms=$(($(now_ms) - start))
    q "$SRC/$DB" "INSERT INTO notes VALUES ('t', $NOTES + 1, 1, 'after the sync')"
    until [ "$(q "$DST/$DB" "SELECT count(*) FROM notes WHERE id = $NOTES + 1")" = 1 ]; do
        sleep 0.01
    done
    caught_ms=$(($(now_ms) - start))
    q "$DST/$DB" "DROP SUBSCRIPTION move_sub"
    echo "run $run: COPY streamed ${copy_ms} ms; logical replication: initial sync ${synced_ms} ms, a later write arrived at ${caught_ms} ms"
done
