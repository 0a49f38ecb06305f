#!/usr/bin/env bash
# One command: a server of yours beside the baseline (bench/baseline/app.py), in the same run, on
# the same throwaway cluster: p50, p99, req/s and the ratio to the baseline for each request.
#
#   bench/lib/compare.sh --endpoints FILE.json [--name NAME] [--cmd 'COMMAND'] [--setup 'COMMAND']
#                        [--after 'COMMAND'] [--url URL] [--ready PATH] [--only a,b] [--title TEXT]
#
#   --endpoints  the requests (bench/lib/loadrun.py says the format; "compare" names the baseline's
#                request a row is measured beside: json, db, slots (its list), book)
#   --setup      run once, from the repository root, after the cluster holds the baseline's data
#                (create and seed a database of yours in it, write the endpoints file)
#   --cmd        starts your server; gets PORT (listen on 127.0.0.1:$PORT) and BENCH_DSN; stopped by pid
#   --after      run once after the load run, from the repository root, while your server is still up
#                (gets URL); its failure fails the command (e.g. a race and its check, bench/property.sh)
#   --url        instead of --cmd: a server already running on loopback
#   --ready      path polled until it answers (default /health/ready)
# The commands see BENCH_DSN (postgresql://bench@127.0.0.1:<port>/postgres), PGHOST, PGPORT,
# PGUSER, and BENCH_WORK (a scratch directory). SMOKE=1: 1 x 3 s and a tenth of the data.
# DURATION, RUNS, WARMUP, CONNECTIONS, PASS_TIMEOUT as in bench/README.md. Results:
# bench/results/<stamp>-<name>.{md,json}.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=bench/lib/common.sh
. "$ROOT/bench/lib/common.sh"

ENDPOINTS="" NAME=project CMD="" SETUP="" AFTER="" URL="" READY=/health/ready ONLY="" TITLE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --endpoints) ENDPOINTS="$2" ;;
    --name) NAME="$2" ;;
    --cmd) CMD="$2" ;;
    --setup) SETUP="$2" ;;
    --after) AFTER="$2" ;;
    --url) URL="$2" ;;
    --ready) READY="$2" ;;
    --only) ONLY="$2" ;;
    --title) TITLE="$2" ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
  esac
  shift 2
done
[ -n "$ENDPOINTS" ] && { [ -n "$CMD" ] || [ -n "$URL" ]; } || { sed -n '2,20p' "$0" >&2; exit 2; }

trap stop_all EXIT
trap 'exit 130' INT TERM
cluster_up
if [ -n "$SETUP" ]; then (cd "$ROOT" && timeout "${SETUP_TIMEOUT:-1800}" bash -c "$SETUP"); fi
if [ -n "$CMD" ]; then
  export PORT="$(free_port)"
  URL="${URL:-http://127.0.0.1:$PORT}"
  start_bg "$BENCH_WORK/$NAME.log" bash -c "cd '$ROOT' && exec $CMD"
fi
wait_for "$URL$READY" 120
BASELINE_PORT="$(free_port)"
baseline_up "$BASELINE_PORT"
OUT="$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)-$NAME"
loadrun --target "baseline=http://127.0.0.1:$BASELINE_PORT@bench/baseline/endpoints.json" \
  --target "$NAME=$URL@$ENDPOINTS" ${ONLY:+--only "$ONLY"} --title "${TITLE:-$NAME beside the baseline}" \
  --out "$OUT.json" | tee "$OUT.md"
echo "results in ${OUT#"$ROOT"/}.md"
if [ -n "$AFTER" ]; then (cd "$ROOT" && export URL && timeout "${AFTER_TIMEOUT:-600}" bash -c "$AFTER"); fi
