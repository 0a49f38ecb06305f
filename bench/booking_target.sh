#!/usr/bin/env bash
# The project as bench/booking.sh and bench/same_sql.sh run it: one worker, on the bench cluster's
# queueless_bench database (BENCH_DSN from bench/lib/pg.sh; BENCH_DATABASE names another, as
# bench/property.sh does). Usage: booking_target.sh PORT
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DATABASE_URL="${BENCH_DSN%/*}/${BENCH_DATABASE:-queueless_bench}"
export ENVIRONMENT=production LOG_LEVEL="${TARGET_LOG_LEVEL:-WARNING}"
exec "$ROOT/.venv/bin/queueless" serve --host 127.0.0.1 --port "$1" --workers "${TARGET_WORKERS:-1}"
