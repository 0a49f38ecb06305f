"""Seeds the knowledge-base bench (`bench/knowledge.sh`, through bench/lib/compare.sh --setup):
one organization with N published articles and writes the requests.

An article has a title of 6 words and a body of 80: 78 drawn evenly from 5,000 words `w1`..`w5000`
(a word is in ~1.6 % of the articles, two words together in a few dozen) and 2 from 2,000 words
`k1`..`k2000` of falling frequency (`k` drawn log-uniformly: `k1` is in ~18 % of the articles,
`k10` in ~2.5 %, `k100` in ~0.3 %, `k1000` in a few dozen), for queries of every frequency.

Environment: BENCH_DSN (from compare.sh), BENCH_ARTICLES (100000).
"""

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.database import create_database  # noqa: E402

from app.core.migrations import upgrade_head  # noqa: E402
from app.core.settings import to_asyncpg_url  # noqa: E402

DATABASE = "queueless_kb"
ORGANIZATION = "00000000-0000-4000-b000-000000000001"
VOCABULARY = 5000
SKEWED = 2000

SEED = f"""
SELECT setseed(0.42);
INSERT INTO organizations (id, name, kind, timezone)
VALUES ('{ORGANIZATION}', 'Knowledge bench', 'business', 'Europe/Berlin');
INSERT INTO articles (id, organization_id, title, body, status, published_at, created_at, updated_at)
SELECT gen_random_uuid(), '{ORGANIZATION}',
       (SELECT string_agg('w' || (1 + floor(random() * {VOCABULARY} + g * 0 + k * 0)::int), ' ')
        FROM generate_series(1, 6) AS k),
       (SELECT string_agg(CASE WHEN k <= 78 THEN 'w' || (1 + floor(random() * {VOCABULARY} + g * 0)::int)
                               ELSE 'k' || floor(exp(random() * ln({SKEWED}) + g * 0))::int END, ' ')
        FROM generate_series(1, 80) AS k),
       'published', now(), now(), now()
FROM generate_series(1, $1::int) AS g;
VACUUM ANALYZE articles;
VACUUM ANALYZE article_terms;
"""


async def seed(url: str, articles: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in (s.strip() for s in SEED.split(";")):
            if statement:
                await conn.execute(statement, *([articles] if "$1" in statement else []))
    finally:
        await conn.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/kb-bench")
    dsn = os.environ["BENCH_DSN"]
    articles = int(os.environ.get("BENCH_ARTICLES", "100000"))
    started = time.monotonic()
    url = dsn.rsplit("/", 1)[0] + "/" + DATABASE
    asyncio.run(create_database(url, DATABASE))
    upgrade_head(to_asyncpg_url(url))
    asyncio.run(seed(url, articles))
    word = "w{rand:1:" + str(VOCABULARY) + "}"
    common, rare = "k{rand:1:3}", "k{rand:300:" + str(SKEWED) + "}"
    base = f"/api/v1/organizations/{ORGANIZATION}"
    requests = [
        # Two words (AND): a few dozen matches, ranked, snippets for the page.
        {"name": "search_two_words", "compare": "slots", "method": "GET", "path": f"{base}/articles?q={word}+{word}"},
        # One word: ~1,600 matches.
        {"name": "search_one_word", "compare": "slots", "method": "GET", "path": f"{base}/articles?q={word}"},
        # A common word (k1..k3: 7-18 % of the articles, 7,000-18,000 matches) and a rare one
        # (k300..k2000: 10-70 matches).
        {"name": "search_common_word", "compare": "slots", "method": "GET", "path": f"{base}/articles?q={common}"},
        {
            "name": "search_rare_word",
            "compare": "slots",
            "method": "GET",
            "path": f"{base}/articles?q={rare}",
        },
        {
            "name": "assistant_ask",
            "compare": "slots",
            "method": "POST",
            "path": f"{base}/assistant/ask",
            "body": json.dumps({"question": f"how do I {word} the {word} {word}"}),
            "headers": "Content-Type: application/json",
        },
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "knowledge.json").write_text(json.dumps(requests, indent=1))
    print(f"knowledge bench: {articles} articles seeded in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
