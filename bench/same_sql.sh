#!/usr/bin/env bash
# Three servers on one data set, interleaved by the shared harness's wrk_run.py: the shared raw
# asyncpg + Starlette baseline, the project's own hot-path SQL served with no framework
# (bench/same_sql_app.py, "same-sql") and the project. For the read by id, the citizen's list and
# the booking this separates what the SQL costs from what the stack costs. See bench/README.md,
# "Same SQL, no framework".
#
#   bench/same_sql.sh               # 1,000,000 appointments, 3 runs x 10 s per endpoint (~12 min)
#   SMOKE=1 bench/same_sql.sh       # 100,000 appointments, 1 run x 3 s (~4 min)
#
# Needs what bench/booking.sh needs (wrk, the PostgreSQL 15 binaries, psql, the project's .venv,
# the package index for the harness's .venv). Starts a throwaway cluster with the harness's
# db/pg.sh and stops it, and the servers, on exit. Loopback only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/harness_work.sh
. "$ROOT/bench/harness_work.sh"
export STATE_DIR="$WORK/same-sql-state"
if [ ! -x "$WORK/harness/.venv/bin/uvicorn" ]; then # made as ../shared/bench/run.sh makes it
  (cd "$WORK/harness" && uv venv -q .venv && uv pip install -q --python .venv/bin/python -r requirements.txt)
fi
export SECRET_KEY="${SECRET_KEY:-bench-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
BASELINE_PORT="$(free_port)"
SQL_PORT="$(free_port)"
PROJECT_PORT="$(free_port)"
STAMP="$(date +%Y%m%d-%H%M%S)"
PIDS=()

stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 20); do # up to 10 s for a graceful stop, then SIGKILL
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  "$WORK/harness/db/pg.sh" stop || true
}
trap stop_all EXIT

wait_for() { # until the URL answers 2xx
  for _ in $(seq 100); do curl -sf -m 2 -o /dev/null "$1" && return 0; sleep 0.3; done
  echo "no answer from $1" >&2
  return 1
}

"$WORK/harness/db/pg.sh" stop >/dev/null 2>&1 || true
"$WORK/harness/db/pg.sh" start
"$WORK/harness/db/pg.sh" load         # the baseline's tables, in the `postgres` database
set -a; . "$STATE_DIR/pg.env"; set +a # BENCH_DSN, PGHOST, PGPORT, PGUSER (psql in `before`)

"$ROOT/.venv/bin/python" "$ROOT/bench/booking_setup.py" "$WORK/endpoints"
# The same-SQL app gets a copy of its own: the project's listener and e-mail worker must not take
# up the same-SQL app's NOTIFYs and e-mails while it is measured (both are per database).
psql -q -X -d postgres -c 'CREATE DATABASE queueless_floor TEMPLATE queueless_bench'
"$ROOT/.venv/bin/python" "$ROOT/bench/same_sql_endpoints.py" "$WORK/endpoints" "$WORK/harness/endpoints/baseline.json"

(cd "$WORK/harness" && exec .venv/bin/uvicorn baseline.app:app --host 127.0.0.1 --port "$BASELINE_PORT" \
  --workers 1 --loop uvloop --http httptools --no-access-log --log-level warning) >"$WORK/same-sql-baseline.log" 2>&1 &
PIDS+=($!)
(cd "$ROOT" && DATABASE_URL="${BENCH_DSN%/*}/queueless_floor" exec "$ROOT/.venv/bin/uvicorn" bench.same_sql_app:app \
  --host 127.0.0.1 --port "$SQL_PORT" --workers 1 --loop uvloop --http httptools --no-access-log \
  --log-level warning) >"$WORK/same-sql-app.log" 2>&1 &
PIDS+=($!)
"$ROOT/bench/booking_target.sh" "$PROJECT_PORT" >"$WORK/same-sql-project.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$BASELINE_PORT/json"
wait_for "http://127.0.0.1:$SQL_PORT/health"
wait_for "http://127.0.0.1:$PROJECT_PORT/health/ready"

OUT="$ROOT/bench/results/$STAMP-same-sql"
timeout "${PASS_TIMEOUT:-1800}" python3 "$WORK/harness/load/wrk_run.py" \
  --target "baseline=http://127.0.0.1:$BASELINE_PORT@$WORK/endpoints/same-sql-baseline.json" \
  --target "same-sql=http://127.0.0.1:$SQL_PORT@$WORK/endpoints/same-sql-floor.json" \
  --target "project=http://127.0.0.1:$PROJECT_PORT@$WORK/endpoints/same-sql.json" \
  --label "baseline, the project's SQL with no framework, the project; 1 worker each" \
  --out "$OUT.json" | tee "$OUT.md"
"$ROOT/.venv/bin/python" "$ROOT/bench/same_sql_endpoints.py" --ratios "$OUT.json" | tee -a "$OUT.md"
echo "summary in $OUT.md"
