"""The bench setups' database of their own, beside the baseline's in the throwaway cluster.

Imported by the `bench/*_setup.py` scripts as `lib.database` (they run as `python bench/<name>.py`,
so `bench/` is first on the path)."""

import asyncpg


def database_url(dsn: str, name: str) -> str:
    """`dsn` (the cluster's, e.g. BENCH_DSN) with its database replaced by `name`."""
    return dsn.rsplit("/", 1)[0] + "/" + name


async def create_database(dsn: str, name: str) -> None:
    """Drop `name` if it exists (its connections too) and create it empty, through `dsn`'s server."""
    conn = await asyncpg.connect(database_url(dsn, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
