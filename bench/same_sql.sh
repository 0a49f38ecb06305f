#!/usr/bin/env bash
# The project beside its own SQL served with no framework (bench/same_sql_app.py): the read by
# id, the citizen's list and the booking, on the data set of bench/booking.sh, interleaved by the
# shared harness's wrk_run.py, ratios to the same-SQL app. See bench/README.md, "Same SQL".
#
#   bench/same_sql.sh               # 1,000,000 appointments, 3 runs x 10 s per endpoint (~12 min)
#   SMOKE=1 bench/same_sql.sh       # 100,000 appointments, 1 run x 3 s (~3 min)
#
# Needs what bench/booking.sh needs (wrk, the PostgreSQL 15 binaries, psql, the project's .venv).
# Starts a throwaway cluster with the harness's db/pg.sh and stops it, and both servers, on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED_BENCH:-$ROOT/../shared/bench}"
WORK="${BENCH_WORK:-/tmp/queueless-bench}"
export STATE_DIR="$WORK/same-sql-state"

mkdir -p "$WORK/harness" "$ROOT/bench/results"
cp -a "$SHARED/." "$WORK/harness/"
chmod -R u+w "$WORK/harness"

if [ "${SMOKE:-0}" = "1" ]; then
  export DURATION="${DURATION:-3}" RUNS="${RUNS:-1}" WARMUP="${WARMUP:-1}"
  export BENCH_APPOINTMENTS="${BENCH_APPOINTMENTS:-100000}"
fi
export SECRET_KEY="${SECRET_KEY:-bench-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
PROJECT_PORT="$(free_port)"
SQL_PORT="$(free_port)"
STAMP="$(date +%Y%m%d-%H%M%S)"
PIDS=()

stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$WORK/harness/db/pg.sh" stop || true
}
trap stop_all EXIT

wait_for() {
  for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.3; done
  echo "no answer from $1" >&2; return 1
}

"$WORK/harness/db/pg.sh" stop >/dev/null 2>&1 || true
"$WORK/harness/db/pg.sh" start
set -a; . "$STATE_DIR/pg.env"; set +a   # BENCH_DSN, PGHOST, PGPORT, PGUSER for psql in `before`

"$ROOT/.venv/bin/python" "$ROOT/bench/booking_setup.py" "$WORK/endpoints"
ENDPOINTS="$WORK/endpoints/same-sql.json"
"$ROOT/.venv/bin/python" - "$WORK/endpoints" "$ENDPOINTS" <<'EOF'
import json, sys
from pathlib import Path
made = Path(sys.argv[1])
main = {e["name"]: e for e in json.loads((made / "main.json").read_text())}
more = {e["name"]: e for e in json.loads((made / "more.json").read_text())}
chosen = [main["db"] | {"name": "by_id"}, more["db"] | {"name": "list"}, main["book"]]
Path(sys.argv[2]).write_text(json.dumps(chosen, indent=1))
EOF

"$ROOT/bench/booking_target.sh" "$PROJECT_PORT" >"$WORK/same-sql-project.log" 2>&1 &
PIDS+=($!)
(cd "$ROOT" && DATABASE_URL="${BENCH_DSN%/*}/queueless_bench" exec "$ROOT/.venv/bin/uvicorn" bench.same_sql_app:app \
  --host 127.0.0.1 --port "$SQL_PORT" --workers 1 --loop uvloop --http httptools --no-access-log \
  --log-level warning) >"$WORK/same-sql-app.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$PROJECT_PORT/health"
wait_for "http://127.0.0.1:$SQL_PORT/health"  # any answer, a 404 here, will do

OUT="$ROOT/bench/results/$STAMP-same-sql.md"
timeout "${PASS_TIMEOUT:-1800}" python3 "$WORK/harness/load/wrk_run.py" \
  --target "same-sql=http://127.0.0.1:$SQL_PORT@$ENDPOINTS" \
  --target "project=http://127.0.0.1:$PROJECT_PORT@$ENDPOINTS" \
  --label "project vs its own SQL with no framework, 1 worker each" | tee "$OUT"
echo "summary in $OUT"
