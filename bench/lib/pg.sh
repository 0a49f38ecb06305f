#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the benchmarks, on a free loopback port.
#
#   bench/lib/pg.sh start   initdb into a temporary directory, start it, write $BENCH_STATE/pg.env
#   bench/lib/pg.sh load    create the baseline's tables and data (bench/baseline/schema.sql; sizes
#                           from N_SERVICES N_SLOTS N_BOOKED N_USERS)
#   bench/lib/pg.sh reset   delete the bookings that bench runs made (the preloaded ones stay)
#   bench/lib/pg.sh stop    stop the cluster (pg_ctl, then its postmaster's pid) and remove the directory
#   bench/lib/pg.sh env     print pg.env (BENCH_DSN, PGHOST, PGPORT, PGUSER, ...)
#
# fsync and synchronous_commit stay on (PostgreSQL's defaults): every booking waits for its WAL
# flush, as in production. PG_EXTRA_CONF adds lines to postgresql.conf. As root, the server runs
# as the `postgres` user (PostgreSQL refuses root).
set -euo pipefail
LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH_STATE="${BENCH_STATE:-/tmp/queueless-bench/state}"
ENV_FILE="$BENCH_STATE/pg.env"
PG_BIN="${PG_BIN:-$(dirname "$(readlink -f "$(command -v initdb || echo /usr/lib/postgresql/15/bin/initdb)")")}"
PSQL="$(command -v psql || echo "$PG_BIN/psql")"
mkdir -p "$BENCH_STATE"

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u "${PG_OS_USER:-postgres}" -- "$@"; else "$@"; fi
}

read_env() {
  [ -f "$ENV_FILE" ] || { echo "pg.sh: no cluster started ($ENV_FILE missing)" >&2; exit 1; }
  set -a
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  set +a
}

case "${1:-}" in
  start)
    [ -f "$ENV_FILE" ] && { echo "pg.sh: a cluster is already started ($ENV_FILE); stop it first" >&2; exit 1; }
    dir="$(mktemp -d "${TMPDIR:-/tmp}/queueless-benchpg.XXXXXX")"
    [ "$(id -u)" = 0 ] && chown "${PG_OS_USER:-postgres}" "$dir"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    as_server_user "$PG_BIN/initdb" -D "$dir/data" -U bench --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = ${PG_MAX_CONNECTIONS:-200}
fsync = on
synchronous_commit = on
${PG_EXTRA_CONF:-}
CONF
    as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    cat >"$ENV_FILE" <<VARS
PG_TMP=$dir
PG_DATA=$dir/data
PG_PID=$(head -1 "$dir/data/postmaster.pid")
PGHOST=127.0.0.1
PGPORT=$port
PGUSER=bench
PGDATABASE=postgres
BENCH_DSN=postgresql://bench@127.0.0.1:$port/postgres
VARS
    echo "pg.sh: cluster on 127.0.0.1:$port ($dir)"
    ;;
  load)
    read_env
    started=$SECONDS
    "$PSQL" -q -X -v ON_ERROR_STOP=1 -v n_services="${N_SERVICES:-1000}" -v n_slots="${N_SLOTS:-1000000}" \
      -v n_booked="${N_BOOKED:-200000}" -v n_users="${N_USERS:-10000}" -f "$LIB/../baseline/schema.sql" | tail -2
    echo "pg.sh: baseline data loaded in $((SECONDS - started)) s"
    ;;
  reset)
    read_env
    "$PSQL" -q -X -v ON_ERROR_STOP=1 -c "DELETE FROM bookings WHERE created_at > timestamptz '2024-12-02'" \
      -c "VACUUM ANALYZE bookings" >/dev/null
    ;;
  stop)
    [ -f "$ENV_FILE" ] || exit 0
    read_env
    as_server_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    if kill -0 "$PG_PID" 2>/dev/null; then kill "$PG_PID" 2>/dev/null || true; sleep 2; fi
    if kill -0 "$PG_PID" 2>/dev/null; then kill -9 "$PG_PID" 2>/dev/null || true; fi
    rm -rf "$PG_TMP" "$ENV_FILE"
    echo "pg.sh: cluster stopped (pid $PG_PID)"
    ;;
  env) cat "$ENV_FILE" ;;
  *) echo "usage: $0 start|load|reset|stop|env" >&2; exit 2 ;;
esac
