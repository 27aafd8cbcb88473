#!/usr/bin/env bash
# Redis and PostgreSQL on 127.0.0.1 for the multi-host end-to-end test (tests/e2e/test_multihost.py).
#
# Installs them with apt-get when they are missing, starts them when they are not running, creates the
# test role and database, and hands out their URLs. Idempotent: a second run only checks (about 1 s).
#   eval "$(.ci/services.sh)"     # prints the two export lines on stdout (progress goes to stderr)
#   source .ci/services.sh        # or exports them into the calling shell
# Settings: REELDROP_REDIS_PORT (6379), REELDROP_PG_USER/REELDROP_PG_PASSWORD/REELDROP_PG_DB.

_reeldrop_services() {
    set -euo pipefail
    local redis_port="${REELDROP_REDIS_PORT:-6379}"
    local pg_user="${REELDROP_PG_USER:-reeldrop}" pg_password="${REELDROP_PG_PASSWORD:-reeldrop}"
    local pg_db="${REELDROP_PG_DB:-reeldrop_test}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"

    say() { echo "services: $*" >&2; }
    wait_for() {  # wait_for <what> <command...>: up to 30 s
        local what="$1"; shift
        for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
        say "$what did not come up"; return 1
    }
    as_postgres() {
        if [ "$(id -u)" -eq 0 ]; then su postgres -c "$*"; else sudo -n -u postgres sh -c "$*"; fi
    }

    if ! command -v redis-server >/dev/null || ! command -v pg_ctlcluster >/dev/null; then
        say "installing redis-server and postgresql"
        $sudo apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server postgresql >&2
    fi

    if [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" != "PONG" ]; then
        say "starting redis on 127.0.0.1:$redis_port"
        redis-server --bind 127.0.0.1 --port "$redis_port" --daemonize yes --save "" --appendonly no \
            --logfile /tmp/reeldrop-redis.log >&2
        wait_for redis sh -c "[ \"\$(redis-cli -h 127.0.0.1 -p $redis_port ping)\" = PONG ]"
    fi

    local version port status
    if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
        version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
        say "creating PostgreSQL $version cluster"
        $sudo pg_createcluster "$version" main >&2
    fi
    read -r version _ port status _ < <(pg_lsclusters -h | head -1)
    if [ "$status" != "online" ]; then
        say "starting PostgreSQL $version on 127.0.0.1:$port"
        $sudo pg_ctlcluster "$version" main start >&2
    fi
    wait_for postgresql pg_isready -h 127.0.0.1 -p "$port"

    if [ "$(as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$pg_user'\"")" != "1" ]; then
        say "creating role $pg_user"
        as_postgres "psql -p $port -qc \"CREATE ROLE $pg_user LOGIN PASSWORD '$pg_password'\"" >&2
    fi
    if [ "$(as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname='$pg_db'\"")" != "1" ]; then
        say "creating database $pg_db"
        as_postgres "createdb -p $port -O $pg_user $pg_db" >&2
    fi

    echo "export REELDROP_TEST_REDIS_URL=redis://127.0.0.1:$redis_port/0"
    echo "export REELDROP_TEST_DATABASE_URL=postgresql+psycopg://$pg_user:$pg_password@127.0.0.1:$port/$pg_db"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # sourced: run in a subshell (its `set -e` must not leak into the caller), then export here
    _reeldrop_exports="$( (_reeldrop_services) )" && eval "$_reeldrop_exports"
    unset _reeldrop_exports
    unset -f _reeldrop_services
else
    _reeldrop_services
fi
