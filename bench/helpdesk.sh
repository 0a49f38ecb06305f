#!/usr/bin/env bash
# Issue 18 bench: the staff ticket queue and a ticket's read over 1,000,000 tickets and 10,000,000
# messages, beside the baseline (bench/baseline/app.py) in the same rounds. See bench/HELPDESK.md.
#
#   bench/helpdesk.sh                          # full: 1,000,000 tickets, 3 runs x 10 s per row
#   SMOKE=1 bench/helpdesk.sh                  # quick: 100,000 tickets, 1 run x 3 s
#   BENCH_TICKETS=200000 bench/helpdesk.sh     # another size
#
# bench/lib/compare.sh does the rest: the throwaway cluster, bench/helpdesk_setup.py seeding
# `queueless_helpdesk` in it, the project (one worker, production settings) and the baseline on
# loopback, the interleaved runs; everything it starts is stopped on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BENCH_WORK="${BENCH_WORK:-/tmp/queueless-bench}"
export SECRET_KEY="${SECRET_KEY:-bench-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
if [ "${SMOKE:-0}" = 1 ]; then export BENCH_TICKETS="${BENCH_TICKETS:-100000}"; fi
export BENCH_TICKETS="${BENCH_TICKETS:-1000000}" BENCH_MESSAGES="${BENCH_MESSAGES:-10}"
exec "$ROOT/bench/lib/compare.sh" --name helpdesk --endpoints "$BENCH_WORK/endpoints/helpdesk.json" \
  --setup ".venv/bin/python bench/helpdesk_setup.py '$BENCH_WORK/endpoints'" \
  --cmd 'env DATABASE_URL="${BENCH_DSN%/*}/queueless_helpdesk" ENVIRONMENT=production LOG_LEVEL=WARNING .venv/bin/queueless serve --host 127.0.0.1 --port "$PORT" --workers 1' \
  --title "helpdesk (1 worker, $BENCH_TICKETS tickets, $BENCH_MESSAGES messages each) beside the baseline (1 worker)"
