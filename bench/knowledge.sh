#!/usr/bin/env bash
# Issue 19 bench: full-text search over 100,000 knowledge-base articles and the assistant, beside the
# baseline's list (bench/baseline/app.py `slots`) in the same rounds, through bench/lib/compare.sh.
#
#   bench/knowledge.sh                        # 100,000 articles, 3 runs x 10 s per row (~12 min with the seeding)
#   SMOKE=1 bench/knowledge.sh                # the same articles, 1 run x 3 s per row (~7 min)
#   ONLY=search_one_word bench/knowledge.sh   # some rows: search_two_words search_one_word
#                                             #   search_common_word search_rare_word assistant_ask
#
# bench/knowledge_setup.py seeds `queueless_kb` in the throwaway cluster (BENCH_ARTICLES, 100000) and
# writes the requests; the project runs one worker (ENVIRONMENT=production, LOG_LEVEL=WARNING). Notes
# and figures: bench/KNOWLEDGE.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/queueless-kb-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
export BENCH_WORK="${BENCH_WORK:-$WORK/bench}"  # a cluster of its own, whatever other benches run
export SECRET_KEY="${SECRET_KEY:-bench-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
bench/lib/compare.sh --name knowledge --endpoints "$WORK/knowledge.json" ${ONLY:+--only "$ONLY"} \
  --title "knowledge base (1 worker) beside the baseline (1 worker), ${BENCH_ARTICLES:-100000} articles" \
  --setup ".venv/bin/python bench/knowledge_setup.py '$WORK'" \
  --cmd 'env DATABASE_URL=${BENCH_DSN%/*}/queueless_kb ENVIRONMENT=production LOG_LEVEL=WARNING \
         ASSISTANT_ASKS_PER_WINDOW=100000000 NOTIFICATION_WORKERS=false \
         .venv/bin/queueless serve --host 127.0.0.1 --port $PORT'
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
