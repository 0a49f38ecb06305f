# Sourced by the bench scripts (bench/lib/compare.sh, bench/booking.sh, bench/same_sql.sh): the
# throwaway cluster, the baseline server, starting and stopping processes by pid, SMOKE sizes.
# Needs ROOT (the repository) set by the caller. Loopback only.
LIB="$ROOT/bench/lib"
export BENCH_WORK="${BENCH_WORK:-/tmp/queueless-bench}"
export BENCH_STATE="$BENCH_WORK/state"
PY="$ROOT/.venv/bin/python"
PIDS=()
mkdir -p "$BENCH_WORK" "$ROOT/bench/results"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
[ -x "$PY" ] || { echo "no $PY: run 'uv sync' first" >&2; exit 1; }

if [ "${SMOKE:-0}" = 1 ]; then
  export DURATION="${DURATION:-3}" RUNS="${RUNS:-1}" WARMUP="${WARMUP:-1}"
  export N_SLOTS="${N_SLOTS:-100000}" N_BOOKED="${N_BOOKED:-20000}"
  export BENCH_APPOINTMENTS="${BENCH_APPOINTMENTS:-100000}"
fi
export DURATION="${DURATION:-10}" RUNS="${RUNS:-3}" WARMUP="${WARMUP:-2}" CONNECTIONS="${CONNECTIONS:-64}"
export N_SLOTS="${N_SLOTS:-1000000}" N_SERVICES="${N_SERVICES:-1000}" N_BOOKED="${N_BOOKED:-200000}"
export N_USERS="${N_USERS:-10000}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() { # URL [seconds]: until it answers with any HTTP status
  local i
  for i in $(seq $((${2:-60} * 4))); do
    [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true)" != 000 ] && return 0
    sleep 0.25
  done
  echo "no answer from $1 after ${2:-60} s" >&2
  return 1
}

start_bg() { # LOG COMMAND...: start in the background, remember the pid
  local log="$1"
  shift
  "$@" >"$log" 2>&1 &
  PIDS+=("$!")
}

stop_all() { # SIGTERM, up to 10 s each, then SIGKILL; then the cluster
  set +e
  local pid
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null
  done
  PIDS=()
  "$LIB/pg.sh" stop
}

cluster_up() { # a fresh cluster with the baseline's data; exports BENCH_DSN and PG*
  "$LIB/pg.sh" stop >/dev/null 2>&1 || true
  "$LIB/pg.sh" start
  "$LIB/pg.sh" load
  set -a
  # shellcheck disable=SC1091
  . "$BENCH_STATE/pg.env"
  set +a
}

baseline_up() { # PORT: the baseline server, one worker, as fast as Python serves it
  (cd "$ROOT/bench" && exec env POOL_SIZE="${BASELINE_POOL_SIZE:-10}" "$ROOT/.venv/bin/uvicorn" baseline.app:app \
    --host 127.0.0.1 --port "$1" --workers 1 --loop uvloop --http httptools --no-access-log --log-level warning) \
    >"$BENCH_WORK/baseline.log" 2>&1 &
  PIDS+=("$!")
  wait_for "http://127.0.0.1:$1/json" 30
}

loadrun() { # the runner, bounded as a whole by PASS_TIMEOUT (1,800 s)
  timeout "${PASS_TIMEOUT:-1800}" "$PY" "$LIB/loadrun.py" "$@"
}
