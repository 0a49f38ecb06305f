#!/usr/bin/env bash
# Issue 3 bench: slots (7 and 31 days), booking, one appointment by id and the citizen's paginated
# list, on 1,000,000 seeded appointments across 1,000 services, each pass beside the raw
# asyncpg + Starlette baseline of ../shared/bench in the same run. See bench/README.md.
#
#   bench/booking.sh                 # full: 3 runs x 10 s per endpoint and pass
#   SMOKE=1 bench/booking.sh         # quick: 1 run x 3 s (+1 s warm-up), 100,000 appointments
#   PASSES=main bench/booking.sh     # one pass: main (by id, slots 7 days, book), more (slots 31 days,
#                                    # list vs one row), list (list vs the baseline's list of slots)
#
# The harness is copied (never modified) to $BENCH_WORK/harness, because run.sh writes its
# .venv, .state and results beside itself. Loopback only; every pass is bounded by `timeout`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/harness_work.sh
. "$ROOT/bench/harness_work.sh"
PASSES="${PASSES:-main more list}"
export WORKERS=1 WS_CLIENTS=0 MICRO=0 REFERENCE=0
export BENCH_APPOINTMENTS="${BENCH_APPOINTMENTS:-1000000}" BENCH_SERVICES="${BENCH_SERVICES:-1000}"
export BENCH_CITIZENS="${BENCH_CITIZENS:-10000}"
export SECRET_KEY="${SECRET_KEY:-bench-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
STAMP="$(date +%Y%m%d-%H%M%S)"

for pass in $PASSES; do
  case "$pass" in
    main) only=db,slots,book ;;
    more) only=slots,db ;;
    list) only=slots ;;
    *) echo "unknown pass $pass (main, more, list)" >&2; exit 2 ;;
  esac
  echo "== pass $pass: $only, load $(cut -d' ' -f1-3 /proc/loadavg)"
  TARGET_SETUP_CMD="$ROOT/.venv/bin/python $ROOT/bench/booking_setup.py $WORK/endpoints" \
  TARGET_CMD="$ROOT/bench/booking_target.sh $PORT" \
  TARGET_ENDPOINTS="$WORK/endpoints/$pass.json" \
  ONLY="$only" \
    timeout "${PASS_TIMEOUT:-1800}" "$WORK/harness/run.sh" "http://127.0.0.1:$PORT" 2>&1 | tee "$WORK/pass-$pass.log"
  latest="$(ls -1d "$WORK"/harness/results/*/ | tail -1)"
  cp "$latest/summary.md" "$ROOT/bench/results/$STAMP-$pass.md"
  cp "$latest/target.log" "$ROOT/bench/results/$STAMP-$pass-target.log" 2>/dev/null || true
done
echo "summaries in bench/results/$STAMP-*.md"
