#!/usr/bin/env bash
# Prepares a Debian-like machine to build and test this workspace:
#   1. libclang-dev, which pg_query's build (bindgen) needs;
#   2. a PostgreSQL server reachable at DATABASE_URL
#      (default postgres://postgres@127.0.0.1:5432/postgres);
#   3. Debian's PgBouncer in transaction pool mode on 127.0.0.1:6432 in front
#      of that server, with password authentication (user postgres, password
#      tenant-test), for the tests that run through a pooler
#      (tenant-runtime/tests/pgbouncer.rs, the wrong-password tests);
#   4. two more PostgreSQL servers of the same version on 127.0.0.1:5433 and
#      127.0.0.1:5434 (trust authentication on loopback, wal_level=logical),
#      for the fleet tests: tenants spread over several servers
#      (tenant-runtime/tests/fleet.rs). Their data lives in
#      /var/lib/tenant-fleet/PORT; they run as the postgres user.
# When PostgreSQL is not reachable it starts the local cluster if one is
# installed, installs and starts Debian's `postgresql` when run as root, and
# otherwise says exactly what to do and exits non-zero.
#
# Idempotent, and quick (well under a second) when everything is in place.
set -euo pipefail

DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export DEBIAN_FRONTEND=noninteractive

say() { printf 'setup: %s\n' "$*"; }
fail() {
    printf 'setup: error: %s\n' "$*" >&2
    exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }
have() { command -v "$1" >/dev/null 2>&1; }

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        apt-get update -qq
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

package_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# --- 1. libclang ---------------------------------------------------------
libclang_present() {
    package_installed libclang-dev && return 0
    # Any libclang the toolchain can find (LIBCLANG_PATH or the linker cache).
    [ -n "${LIBCLANG_PATH:-}" ] && ls "$LIBCLANG_PATH"/libclang*.so* >/dev/null 2>&1 && return 0
    ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so'
}

if libclang_present; then
    say "libclang: present"
elif is_root && have apt-get; then
    apt_install libclang-dev
else
    fail "libclang-dev is missing (pg_query's build needs it). Run: sudo apt-get install -y libclang-dev"
fi

if ! have cc; then
    if is_root && have apt-get; then
        apt_install build-essential
    else
        fail "no C compiler (pg_query compiles libpg_query). Run: sudo apt-get install -y build-essential"
    fi
fi

# --- 2. PostgreSQL -------------------------------------------------------
# Host and port from the URL (postgres://user[:password]@host[:port]/db).
url_rest="${DATABASE_URL#*://}"
url_rest="${url_rest#*@}"
url_hostport="${url_rest%%/*}"
url_hostport="${url_hostport%%\?*}"
PG_HOST="${url_hostport%%:*}"
PG_PORT=5432
if [ "$url_hostport" != "$PG_HOST" ]; then
    PG_PORT="${url_hostport##*:}"
fi
PG_HOST="${PG_HOST:-127.0.0.1}"

postgres_ready() {
    if have pg_isready; then
        pg_isready -q -d "$DATABASE_URL" -t 2 >/dev/null 2>&1
    else
        # No client tools: a TCP connect is the best we can do.
        timeout 2 bash -c "exec 3<>/dev/tcp/$PG_HOST/$PG_PORT" 2>/dev/null
    fi
}

wait_for_postgres() {
    for _ in $(seq 1 30); do
        postgres_ready && return 0
        sleep 1
    done
    return 1
}

is_local_host() {
    case "$PG_HOST" in
    127.* | localhost | ::1 | "[::1]") return 0 ;;
    *) return 1 ;;
    esac
}

# The first cluster of the newest installed PostgreSQL, as "VERSION NAME".
local_cluster() {
    have pg_lsclusters || return 1
    pg_lsclusters --no-header 2>/dev/null | awk -v port="$PG_PORT" '$3 == port { print $1, $2; exit }'
}

start_cluster() {
    local version="$1" name="$2"
    say "starting PostgreSQL cluster $version/$name"
    if is_root || [ "$(id -un)" = postgres ]; then
        pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
    else
        fail "PostgreSQL $version/$name is installed but not running. Run: sudo pg_ctlcluster --skip-systemctl-redirect $version $name start"
    fi
}

# A cluster this script installed gets trust authentication on loopback, so
# the default URL (no password) works, as it does on the CI machines.
trust_loopback() {
    local version="$1" name="$2"
    local hba="/etc/postgresql/$version/$name/pg_hba.conf"
    [ -f "$hba" ] || return 0
    if ! grep -q '^# tenant setup: trust loopback' "$hba"; then
        say "allowing passwordless connections from this machine in $hba"
        {
            echo '# tenant setup: trust loopback (development/CI cluster)'
            echo 'host all all 127.0.0.1/32 trust'
            echo 'host all all ::1/128 trust'
            cat "$hba"
        } >"$hba.new"
        chown --reference="$hba" "$hba.new"
        chmod --reference="$hba" "$hba.new"
        mv "$hba.new" "$hba"
        pg_ctlcluster --skip-systemctl-redirect "$version" "$name" reload || true
    fi
}

if postgres_ready; then
    say "PostgreSQL: reachable at $PG_HOST:$PG_PORT"
elif ! is_local_host; then
    fail "PostgreSQL at $PG_HOST:$PG_PORT (from DATABASE_URL) is not reachable. Start it, or set DATABASE_URL to a reachable server."
else
    cluster="$(local_cluster || true)"
    if [ -n "$cluster" ]; then
        # shellcheck disable=SC2086
        start_cluster $cluster
    elif have pg_lsclusters; then
        fail "PostgreSQL is installed but no cluster listens on port $PG_PORT (clusters: $(pg_lsclusters --no-header | awk '{ printf "%s/%s on %s (%s) ", $1, $2, $3, $4 }')). Start one with: sudo pg_ctlcluster --skip-systemctl-redirect VERSION NAME start, or set DATABASE_URL to its port."
    elif is_root && have apt-get; then
        apt_install postgresql postgresql-client
        cluster="$(local_cluster || true)"
        if [ -z "$cluster" ]; then
            version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
            say "creating PostgreSQL cluster $version/main on port $PG_PORT"
            pg_createcluster --port "$PG_PORT" "$version" main >/dev/null
            cluster="$version main"
        fi
        # shellcheck disable=SC2086
        trust_loopback $cluster
        # shellcheck disable=SC2086
        start_cluster $cluster
    else
        fail "no PostgreSQL is reachable at $PG_HOST:$PG_PORT and none is installed. Run: sudo apt-get install -y postgresql && sudo pg_ctlcluster --skip-systemctl-redirect \$(ls /usr/lib/postgresql | sort -V | tail -n 1) main start   (or set DATABASE_URL to a reachable server)"
    fi
    wait_for_postgres || fail "PostgreSQL did not become ready at $PG_HOST:$PG_PORT within 30 s (see /var/log/postgresql/)"
    say "PostgreSQL: reachable at $PG_HOST:$PG_PORT"
fi

# Reachable is not enough: the tests connect as DATABASE_URL's user and
# create databases.
if have psql; then
    if ! err="$(psql "$DATABASE_URL" -w -X -Atq -c 'SELECT 1' 2>&1 >/dev/null)"; then
        fail "PostgreSQL is up but DATABASE_URL does not connect: ${err//$'\n'/ } (put the password in DATABASE_URL, or allow 'trust' for 127.0.0.1/32 in pg_hba.conf on a development machine)"
    fi
    if [ "$(psql "$DATABASE_URL" -w -X -Atq -c 'SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user')" != t ]; then
        fail "the DATABASE_URL user cannot create databases, which the tests need (use a superuser, e.g. postgres)"
    fi
fi
say "ready: PostgreSQL at $PG_HOST:$PG_PORT accepts DATABASE_URL"

# --- 3. PgBouncer in transaction pool mode ---------------------------------
# Its own directory (config, user list, pid file, log), run as the postgres
# user (pgbouncer refuses to run as root), daemonized. PostgreSQL keeps its
# trust authentication; PgBouncer asks the client for a password, so a wrong
# password can be tested through it. Other roles log in with the password
# PostgreSQL stores for them (auth_user looks it up), so a test can connect a
# non-owner application role through the pooler. Debian's own pgbouncer service (which
# would also listen on 6432) is not used.
PGBOUNCER_DIR=/var/lib/tenant-pgbouncer
PGBOUNCER_PORT=6432
PGBOUNCER_USER=postgres
PGBOUNCER_PASSWORD=tenant-test
PGBOUNCER_URL="postgres://$PGBOUNCER_USER:$PGBOUNCER_PASSWORD@127.0.0.1:$PGBOUNCER_PORT/postgres"

pgbouncer_answers() {
    have psql || return 1
    PGPASSWORD="$PGBOUNCER_PASSWORD" PGCONNECT_TIMEOUT=3 psql -w -X -Atq \
        "host=127.0.0.1 port=$PGBOUNCER_PORT user=$PGBOUNCER_USER dbname=postgres" \
        -c 'SELECT 1' >/dev/null 2>&1
}

pgbouncer_pid() {
    local pid
    pid="$(cat "$PGBOUNCER_DIR/pgbouncer.pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
}

pgbouncer_config() {
    cat <<INI
;; Written by scripts/setup.sh: a transaction-pooling PgBouncer for the
;; tenant tests. Edits are overwritten on the next run.
[databases]
;; Every database name goes to the same server (tests create their own).
* = host=$PG_HOST port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
pool_mode = transaction
auth_type = scram-sha-256
auth_file = $PGBOUNCER_DIR/userlist.txt
admin_users = $PGBOUNCER_USER
;; Roles other than those of auth_file log in with their own PostgreSQL
;; password, looked up by this user (pg_shadow): a test's application role.
auth_user = $PGBOUNCER_USER
logfile = $PGBOUNCER_DIR/pgbouncer.log
pidfile = $PGBOUNCER_DIR/pgbouncer.pid
max_client_conn = 200
default_pool_size = 20
;; sqlx sends it at startup; PgBouncer 1.18 refuses unknown parameters.
ignore_startup_parameters = extra_float_digits
INI
}

if pgbouncer_answers && [ -n "$(pgbouncer_pid || true)" ] &&
    [ "$(pgbouncer_config)" = "$(cat "$PGBOUNCER_DIR/pgbouncer.ini" 2>/dev/null)" ]; then
    say "PgBouncer: transaction pooling at 127.0.0.1:$PGBOUNCER_PORT"
else
    if ! have pgbouncer && [ ! -x /usr/sbin/pgbouncer ]; then
        if is_root && have apt-get; then
            # Debian's package would start its own service on 6432 where an
            # init system runs; it is stopped below if it did.
            apt_install pgbouncer
        else
            fail "PgBouncer is missing (the pooler tests need it). Run: sudo apt-get install -y pgbouncer && sudo bash scripts/setup.sh"
        fi
    fi
    PGBOUNCER_BIN="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
    if ! is_root && [ "$(id -un)" != "$PGBOUNCER_USER" ]; then
        fail "PgBouncer is not running at 127.0.0.1:$PGBOUNCER_PORT and starting it needs root (it runs as $PGBOUNCER_USER). Run: sudo bash scripts/setup.sh"
    fi
    as_pgbouncer_user() {
        if [ "$(id -un)" = "$PGBOUNCER_USER" ]; then "$@"; else runuser -u "$PGBOUNCER_USER" -- "$@"; fi
    }
    # Debian's own service, started by the package's install where systemd
    # runs, holds the port: stop it (and keep it from starting at boot).
    if [ -f /run/postgresql/pgbouncer.pid ] && kill -0 "$(cat /run/postgresql/pgbouncer.pid)" 2>/dev/null && is_root; then
        say "stopping Debian's own pgbouncer service (it holds port $PGBOUNCER_PORT)"
        if have systemctl && systemctl is-active --quiet pgbouncer 2>/dev/null; then
            systemctl disable --now pgbouncer >/dev/null 2>&1 || true
        else
            /etc/init.d/pgbouncer stop >/dev/null 2>&1 || true
        fi
    fi
    mkdir -p "$PGBOUNCER_DIR"
    chown "$PGBOUNCER_USER:" "$PGBOUNCER_DIR"
    chmod 700 "$PGBOUNCER_DIR"
    umask_before="$(umask)"
    umask 077
    printf '"%s" "%s"\n' "$PGBOUNCER_USER" "$PGBOUNCER_PASSWORD" >"$PGBOUNCER_DIR/userlist.txt"
    pgbouncer_config >"$PGBOUNCER_DIR/pgbouncer.ini"
    umask "$umask_before"
    chown "$PGBOUNCER_USER:" "$PGBOUNCER_DIR/userlist.txt" "$PGBOUNCER_DIR/pgbouncer.ini"
    # A pgbouncer of ours with another configuration: stop it first.
    if old_pid="$(pgbouncer_pid)"; then
        say "restarting PgBouncer (pid $old_pid) with the current configuration"
        kill "$old_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$old_pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PGBOUNCER_PORT" 2>/dev/null; then
        holder="$(ss -ltnp "sport = :$PGBOUNCER_PORT" 2>/dev/null | awk 'NR > 1 { print $NF; exit }')"
        fail "port $PGBOUNCER_PORT on 127.0.0.1 is taken by another process (${holder:-unknown}); stop it so that the tests' PgBouncer can listen there"
    fi
    say "starting PgBouncer $("$PGBOUNCER_BIN" --version | head -n 1 | awk '{ print $2 }') at 127.0.0.1:$PGBOUNCER_PORT (transaction pooling; $PGBOUNCER_DIR)"
    as_pgbouncer_user "$PGBOUNCER_BIN" -d -q "$PGBOUNCER_DIR/pgbouncer.ini" ||
        fail "PgBouncer did not start; see $PGBOUNCER_DIR/pgbouncer.log"
    for _ in $(seq 1 50); do
        pgbouncer_answers && break
        sleep 0.1
    done
    pgbouncer_answers ||
        fail "PgBouncer started but $PGBOUNCER_URL does not answer within 5 s; see $PGBOUNCER_DIR/pgbouncer.log"
    say "PgBouncer: transaction pooling at 127.0.0.1:$PGBOUNCER_PORT"
fi
say "ready: PgBouncer at 127.0.0.1:$PGBOUNCER_PORT (user $PGBOUNCER_USER, password $PGBOUNCER_PASSWORD) pools for $PG_HOST:$PG_PORT"

# --- 4. Two more PostgreSQL servers for the fleet tests ---------------------
# Plain initdb clusters (not Debian's pg_createcluster, so they stay out of
# the system's service list), started with pg_ctl as the postgres user. Each
# listens on loopback only, with its socket in its own directory.
FLEET_DIR=/var/lib/tenant-fleet
FLEET_PORTS="${TENANT_FLEET_PORTS:-5433 5434}"
pg_bin_dir() {
    local version
    version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$version" ] && printf '/usr/lib/postgresql/%s/bin\n' "$version"
}
fleet_server_ready() {
    pg_isready -q -h 127.0.0.1 -p "$1" -t 2 >/dev/null 2>&1
}
as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}
for port in $FLEET_PORTS; do
    if fleet_server_ready "$port"; then
        say "PostgreSQL: fleet server reachable at 127.0.0.1:$port"
        continue
    fi
    bin="$(pg_bin_dir || true)"
    [ -n "$bin" ] && [ -x "$bin/initdb" ] ||
        fail "no PostgreSQL server binaries under /usr/lib/postgresql (the fleet tests need servers on 127.0.0.1:$port). Run: sudo apt-get install -y postgresql && sudo bash scripts/setup.sh"
    if ! is_root && [ "$(id -un)" != postgres ]; then
        fail "the fleet server at 127.0.0.1:$port is not running and starting it needs root (it runs as postgres). Run: sudo bash scripts/setup.sh"
    fi
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
        fail "port $port on 127.0.0.1 is taken by something that is not a PostgreSQL server; stop it so that the fleet server can listen there"
    fi
    data="$FLEET_DIR/$port"
    mkdir -p "$FLEET_DIR"
    chown postgres: "$FLEET_DIR"
    if [ ! -f "$data/PG_VERSION" ]; then
        say "creating the fleet server's cluster in $data"
        as_postgres "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$data/postgresql.conf" <<CONF
# tenant setup: a fleet test server
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
max_connections = 100
shared_buffers = 128MB
fsync = off
CONF
    fi
    say "starting the fleet server at 127.0.0.1:$port"
    as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 start >/dev/null ||
        fail "the fleet server at 127.0.0.1:$port did not start; see $data/server.log"
    fleet_server_ready "$port" || fail "the fleet server at 127.0.0.1:$port does not answer; see $data/server.log"
    say "PostgreSQL: fleet server reachable at 127.0.0.1:$port"
done
say "ready: fleet servers at 127.0.0.1:{${FLEET_PORTS// /,}} (user postgres, trust)"
