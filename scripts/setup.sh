#!/usr/bin/env bash
# Prepares a Debian-like machine to build and test this workspace:
#   1. libclang-dev, which pg_query's build (bindgen) needs;
#   2. a PostgreSQL server reachable at DATABASE_URL
#      (default postgres://postgres@127.0.0.1:5432/postgres).
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
