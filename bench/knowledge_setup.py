"""Seeds the knowledge-base bench (bench/lib/compare.sh --setup): one organization with N
published articles of ~80 words drawn from a vocabulary of 5,000 words (so a word is in ~1.6 % of
the articles, two words together in a few dozen), and writes the requests.

    SMOKE=1 bench/lib/compare.sh --name knowledge --endpoints /tmp/kb-bench/knowledge.json \
      --setup '.venv/bin/python bench/knowledge_setup.py /tmp/kb-bench' \
      --cmd 'env DATABASE_URL=${BENCH_DSN%/*}/queueless_kb ENVIRONMENT=production SECRET_KEY=$(printf %040d 0) \
             ASSISTANT_ASKS_PER_WINDOW=100000000 NOTIFICATION_WORKERS=false \
             .venv/bin/queueless serve --host 127.0.0.1 --port $PORT'

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

from app.core.migrations import upgrade_head  # noqa: E402
from app.core.settings import to_asyncpg_url  # noqa: E402

DATABASE = "queueless_kb"
ORGANIZATION = "00000000-0000-4000-b000-000000000001"
VOCABULARY = 5000

SEED = f"""
SELECT setseed(0.42);
INSERT INTO organizations (id, name, kind, timezone)
VALUES ('{ORGANIZATION}', 'Knowledge bench', 'business', 'Europe/Berlin');
INSERT INTO articles (id, organization_id, title, body, status, published_at, created_at, updated_at)
SELECT gen_random_uuid(), '{ORGANIZATION}',
       (SELECT string_agg('w' || (1 + floor(random() * {VOCABULARY} + g * 0 + k * 0)::int), ' ')
        FROM generate_series(1, 6) AS k),
       (SELECT string_agg('w' || (1 + floor(random() * {VOCABULARY} + g * 0 + k * 0)::int), ' ')
        FROM generate_series(1, 80) AS k),
       'published', now(), now(), now()
FROM generate_series(1, $1::int) AS g;
VACUUM ANALYZE articles;
"""


async def create_database(url: str) -> None:
    admin = await asyncpg.connect(url.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()


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
    asyncio.run(create_database(url))
    upgrade_head(to_asyncpg_url(url))
    asyncio.run(seed(url, articles))
    word = "w{rand:1:" + str(VOCABULARY) + "}"
    base = f"/api/v1/organizations/{ORGANIZATION}"
    requests = [
        # Two words (AND): a few dozen matches, ranked, snippets for the page.
        {"name": "search_two_words", "compare": "slots", "method": "GET", "path": f"{base}/articles?q={word}+{word}"},
        # One word: ~1,600 matches to rank and count.
        {"name": "search_one_word", "compare": "slots", "method": "GET", "path": f"{base}/articles?q={word}"},
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
