#!/usr/bin/env bash
# Issue 20 bench: the public project search and a project's unit list over 10,000 projects and
# 1,000,000 units, beside the baseline's list (bench/baseline/app.py) in the same rounds, then the
# hold race on the same server, checked in SQL. See bench/PROPERTY.md.
#
#   bench/property.sh              # full: seed (~1 min) + 3 runs x 10 s per row + a 10 s race
#   SMOKE=1 bench/property.sh      # quick: 1,000 projects (100,000 units), 1 run x 3 s, a 3 s race
#   ONLY=search bench/property.sh  # some rows: search units
#
# bench/lib/compare.sh runs it all on one throwaway cluster: bench/property_setup.py seeds the
# `queueless_property` database and writes the requests, the project serves it with one worker
# (bench/booking_target.sh), and bench/property.py races for holds after the load run. Everything
# started is stopped by pid on exit. Results: bench/results/<stamp>-property.{md,json} and
# <stamp>-property-race.txt. The command fails if a check of the race fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BENCH_WORK="${BENCH_WORK:-/tmp/queueless-bench}" BENCH_DATABASE=queueless_property
export SECRET_KEY="${SECRET_KEY:-bench-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
RACE_SECONDS="${RACE_SECONDS:-$([ "${SMOKE:-0}" = 1 ] && echo 3 || echo 10)}"
RACE_OUT="bench/results/$(date +%Y%m%d-%H%M%S)-property-race.txt"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$ROOT/bench/lib/compare.sh" --name property --endpoints "$BENCH_WORK/endpoints/property.json" \
  --setup ".venv/bin/python bench/property_setup.py '$BENCH_WORK/endpoints'" \
  --cmd "bench/booking_target.sh \$PORT" \
  --after "set -o pipefail; .venv/bin/python bench/property.py --url \"\$URL\" \
    --database-url \"\${BENCH_DSN%/*}/$BENCH_DATABASE\" --holders '$BENCH_WORK/endpoints/property-holders.json' \
    --connections \"\${CONNECTIONS:-64}\" --duration $RACE_SECONDS | tee $RACE_OUT" \
  --title "project search and unit list (1 worker) beside the baseline's list (1 worker)" ${ONLY:+--only "$ONLY"}
