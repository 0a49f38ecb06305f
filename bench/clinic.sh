#!/usr/bin/env bash
# Issue 17 bench: patient search by a name part and a patient's entries page, in one clinic of
# 1,000,000 patients and 5,000,000 entries, beside the baseline's list (bench/baseline/app.py) in the
# same rounds, through bench/lib/compare.sh. See bench/CLINIC.md.
#
#   bench/clinic.sh                    # full: seed (~2-3 min) + 3 runs x 10 s per row
#   SMOKE=1 bench/clinic.sh            # quick: 100,000 patients, 1 run x 3 s per row
#   ONLY=entries bench/clinic.sh       # one row: search entries
#
# One throwaway cluster (bench/lib/pg.sh) holds the baseline's tables and the project's
# `queueless_clinic` database (bench/clinic_setup.py); the project runs one worker on loopback as
# bench/booking_target.sh does, and everything started is stopped by pid on exit. Its own scratch
# directory (BENCH_WORK), so that it never stops another bench's cluster.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BENCH_WORK="${BENCH_WORK:-/tmp/queueless-bench-clinic}"
if [ "${SMOKE:-0}" = 1 ]; then export BENCH_PATIENTS="${BENCH_PATIENTS:-100000}"; fi
export BENCH_PATIENTS="${BENCH_PATIENTS:-1000000}"
export SECRET_KEY="${SECRET_KEY:-bench-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$ROOT/bench/lib/compare.sh" --name clinic --endpoints "$BENCH_WORK/endpoints/clinic.json" \
  --setup ".venv/bin/python bench/clinic_setup.py '$BENCH_WORK/endpoints'" \
  --cmd 'env DATABASE_URL=${BENCH_DSN%/*}/queueless_clinic ENVIRONMENT=production LOG_LEVEL=WARNING .venv/bin/queueless serve --host 127.0.0.1 --port $PORT --workers 1' \
  ${ONLY:+--only "$ONLY"} \
  --title "project (1 worker) beside the baseline (1 worker), $BENCH_PATIENTS patients, $((BENCH_PATIENTS * 5)) entries"
