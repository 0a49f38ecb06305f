"""The public search's statement on a seeded knowledge-base database: for each query, how many
articles match, the statement's time per call on one connection (prepared, as the app runs it; the
best of 5 rounds of 20 calls, the machine being shared), and PostgreSQL's own execution time
(`EXPLAIN ANALYZE`, the best of 3), with `--plan` the plans.

    .venv/bin/python bench/knowledge_explain.py postgresql://bench@127.0.0.1:PORT/queueless_kb [--plan]

Without queries on the command line it runs the bench's shapes (bench/knowledge_setup.py): a rare
word, a word in ~1.6 % of the articles, common words (7-18 %), two words, `or` (of rarer and of common words), a phrase.
"""

import asyncio
import sys
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core import database  # noqa: E402
from app.services.knowledge import queries as knowledge_queries  # noqa: E402

ORGANIZATION = uuid.UUID("00000000-0000-4000-b000-000000000001")
QUERIES = ["k1500", "w1755", "k3", "k1", "w175 w22", "k1 w22", "w1755 or w22", "k1 or k2", '"w175 w22"']
CALLS, ROUNDS = 20, 5


async def main(dsn: str, queries: list[str], plan: bool) -> None:
    connection = await asyncpg.connect(dsn, max_cacheable_statement_size=database.MAX_CACHEABLE_STATEMENT_BYTES)
    print("| query | matches | per call (prepared, one connection) | `EXPLAIN ANALYZE` execution |")
    print("|---|---:|---:|---:|")
    try:
        for query in queries:
            shape = knowledge_queries.Shape.of(q=query, status=False)  # as the service picks it
            statement = knowledge_queries.page_statement(shape, signed_in=False, size=20)
            arguments = statement.arguments({"organization_id": ORGANIZATION, "q": query, "offset": 0})
            for _ in range(8):  # past PostgreSQL's first custom plans, the cache warm
                row = await connection.fetchrow(statement.sql, *arguments)
            rounds = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                for _ in range(CALLS):
                    row = await connection.fetchrow(statement.sql, *arguments)
                rounds.append((time.perf_counter() - started) / CALLS * 1000)
            executions, lines = [], []
            for _ in range(3):
                explain = "EXPLAIN (ANALYZE, BUFFERS) " + statement.sql
                lines = [r[0] for r in await connection.fetch(explain, *arguments)]
                executions.append(float(next(line for line in lines if line.startswith("Execution Time")).split()[2]))
            assert row is not None
            print(f"| `{query}` | {row['total']:,} | {min(rounds):.2f} ms | {min(executions):.2f} ms |")
            if plan:
                print("\n".join(lines))
    finally:
        await connection.close()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--plan"]
    asyncio.run(main(args[0], args[1:] or QUERIES, "--plan" in sys.argv))
