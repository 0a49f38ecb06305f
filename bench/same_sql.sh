#!/usr/bin/env bash
# Three servers on one data set, in the same rounds of bench/lib/loadrun.py: the baseline
# (bench/baseline/app.py), the project's own hot-path SQL served with no framework
# (bench/same_sql_app.py, "same-sql") and the project. For the read by id, the citizen's list and
# the booking this separates what the SQL costs from what the stack costs. See bench/README.md,
# "Same SQL, no framework".
#
#   bench/same_sql.sh               # 1,000,000 appointments, 3 runs x 10 s per row (~12 min)
#   SMOKE=1 bench/same_sql.sh       # 100,000 appointments, 1 run x 3 s (~3 min)
#
# Needs what bench/booking.sh needs (wrk, the PostgreSQL 15 binaries, psql, the project's .venv).
# Everything it starts (cluster, three servers) is stopped by pid on exit. Loopback only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib/common.sh
. "$ROOT/bench/lib/common.sh"
export BENCH_APPOINTMENTS="${BENCH_APPOINTMENTS:-1000000}" BENCH_SERVICES="${BENCH_SERVICES:-1000}"
export BENCH_CITIZENS="${BENCH_CITIZENS:-10000}"
export SECRET_KEY="${SECRET_KEY:-bench-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
STAMP="$(date +%Y%m%d-%H%M%S)"

trap stop_all EXIT
trap 'exit 130' INT TERM
cluster_up
timeout "${SETUP_TIMEOUT:-1800}" "$PY" "$ROOT/bench/booking_setup.py" "$BENCH_WORK/endpoints"
# The same-SQL app gets a copy of its own: the project's listener and e-mail worker must not take
# up the same-SQL app's NOTIFYs and e-mails while it is measured (both are per database).
psql -q -X -d postgres -c 'DROP DATABASE IF EXISTS queueless_floor' -c 'CREATE DATABASE queueless_floor TEMPLATE queueless_bench'
"$PY" "$ROOT/bench/same_sql_endpoints.py" "$BENCH_WORK/endpoints"

SQL_PORT="$(free_port)"
PROJECT_PORT="$(free_port)"
BASELINE_PORT="$(free_port)"
start_bg "$BENCH_WORK/same-sql-app.log" env DATABASE_URL="${BENCH_DSN%/*}/queueless_floor" \
  "$ROOT/.venv/bin/uvicorn" --app-dir "$ROOT" bench.same_sql_app:app --host 127.0.0.1 --port "$SQL_PORT" \
  --workers 1 --loop uvloop --http httptools --no-access-log --log-level warning
start_bg "$BENCH_WORK/project.log" "$ROOT/bench/booking_target.sh" "$PROJECT_PORT"
wait_for "http://127.0.0.1:$SQL_PORT/health"
wait_for "http://127.0.0.1:$PROJECT_PORT/health/ready" 120
baseline_up "$BASELINE_PORT"

OUT="$ROOT/bench/results/$STAMP-same-sql"
loadrun --target "baseline=http://127.0.0.1:$BASELINE_PORT@bench/baseline/endpoints.json" \
  --target "same-sql=http://127.0.0.1:$SQL_PORT@$BENCH_WORK/endpoints/same-sql-floor.json" \
  --target "project=http://127.0.0.1:$PROJECT_PORT@$BENCH_WORK/endpoints/same-sql.json" \
  --title "baseline, the project's SQL with no framework, the project; 1 worker each" \
  --out "$OUT.json" | tee "$OUT.md"
"$PY" "$ROOT/bench/same_sql_endpoints.py" --ratios "$OUT.json" | tee -a "$OUT.md"
echo "summary in ${OUT#"$ROOT"/}.md"
