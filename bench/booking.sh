#!/usr/bin/env bash
# Issue 3 bench: slots (7 and 31 days), booking, one appointment by id and the citizen's paginated
# list, on 1,000,000 seeded appointments across 1,000 services, beside the baseline
# (bench/baseline/app.py: Starlette + asyncpg) in the same rounds. See bench/README.md.
#
#   bench/booking.sh                   # full: 3 runs x 10 s per request (~15 min with the seeding)
#   SMOKE=1 bench/booking.sh           # quick: 100,000 appointments, 1 run x 3 s (~3 min)
#   ONLY=by_id,book bench/booking.sh   # some rows: by_id slots_7d book slots_31d list list_vs_row
#
# One throwaway cluster (bench/lib/pg.sh) holds the baseline's tables and the project's
# `queueless_bench` database; both servers run one worker on loopback, and everything this script
# starts is stopped by pid on exit. The load run is bounded by `timeout` (PASS_TIMEOUT, 1,800 s).
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
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cluster_up
timeout "${SETUP_TIMEOUT:-1800}" "$PY" "$ROOT/bench/booking_setup.py" "$BENCH_WORK/endpoints"
PROJECT_PORT="$(free_port)"
start_bg "$BENCH_WORK/project.log" "$ROOT/bench/booking_target.sh" "$PROJECT_PORT"
wait_for "http://127.0.0.1:$PROJECT_PORT/health/ready" 120
BASELINE_PORT="$(free_port)"
baseline_up "$BASELINE_PORT"

OUT="$ROOT/bench/results/$STAMP-booking"
loadrun --target "baseline=http://127.0.0.1:$BASELINE_PORT@bench/baseline/endpoints.json" \
  --target "project=http://127.0.0.1:$PROJECT_PORT@$BENCH_WORK/endpoints/booking.json" ${ONLY:+--only "$ONLY"} \
  --title "project (1 worker) beside the baseline (1 worker), $BENCH_APPOINTMENTS appointments" \
  --out "$OUT.json" | tee "$OUT.md"
cp "$BENCH_WORK/project.log" "$OUT-project.log"
echo "summary in ${OUT#"$ROOT"/}.md"
