# Sourced by bench/booking.sh and bench/same_sql.sh (ROOT set): copies ../shared/bench to
# $WORK/harness, unchanged, because its scripts write .venv, .state and results/ beside themselves,
# and turns SMOKE=1 into the short settings. Sets SHARED and WORK.
SHARED="${SHARED_BENCH:-$ROOT/../shared/bench}"
WORK="${BENCH_WORK:-/tmp/queueless-bench}"

mkdir -p "$WORK/harness" "$ROOT/bench/results"
cp -a "$SHARED/." "$WORK/harness/"
chmod -R u+w "$WORK/harness"

if [ "${SMOKE:-0}" = "1" ]; then
  export DURATION="${DURATION:-3}" RUNS="${RUNS:-1}" WARMUP="${WARMUP:-1}"
  export BENCH_APPOINTMENTS="${BENCH_APPOINTMENTS:-100000}"
  export N_SLOTS="${N_SLOTS:-100000}" N_BOOKED="${N_BOOKED:-20000}"
fi
