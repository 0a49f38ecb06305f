"""Knowledge base: `article_terms`, each article's rank for each of its lexemes, and
`article_term_counts`, how many articles hold each lexeme, kept by triggers.

A one-word search ranked every article holding the word (`ts_rank_cd` on each row's vector, a heap
visit per match: ~1,800 matches took ~4 ms at 100,000 articles) to show 20 of them and count them
all. `article_terms` holds, per organization, lexeme and article, the rank a query of that one
lexeme gives the article (computed by `ts_rank_cd` itself, so the order is the same bit for bit), in
an index sorted the way the search sorts: a one-word page is the start of one index range.
`article_term_counts` holds the length of each range (published articles and drafts apart), so the
total costs one row however common the word.

Statement-level triggers on `articles` (through transition tables: a bulk load is one statement)
add an article's rows, drop them, and replace them when its vector, status or organization changes,
and move the counts in the same statement (a `TRUNCATE articles` must name both tables too). Rows
are found again by their full key (the rank recomputed from the old vector), so an article's change
touches only its own index entries; counts are updated in key order, so concurrent writers cannot
deadlock on them. Existing articles are added here.

Revision ID: 0023
Revises: 0020
Create Date: 2026-12-07 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The one-lexeme query of `l.lexeme` (quoted as tsquery input: no parsing, no stemming).
LEXEME_QUERY = r"('''' || replace(replace(l.lexeme, '\', '\\'), '''', '''''') || '''')::tsquery"
# The rows of the articles in `{rows}`.
TERMS = f"""
    SELECT a.organization_id, l.lexeme, ts_rank_cd(a.search, {LEXEME_QUERY}) AS score, a.id AS article_id,
           a.status = 'published' AS published
    FROM ({{rows}}) AS a CROSS JOIN unnest(tsvector_to_array(a.search)) AS l(lexeme)"""
# Sorted as the index: a bulk load writes the heap in its order.
ORDERED = "ORDER BY organization_id, lexeme, score DESC, article_id"
KEY = (
    "{a}.organization_id = {b}.organization_id AND {a}.lexeme = {b}.lexeme AND {a}.score = {b}.score"
    " AND {a}.article_id = {b}.article_id"
)
# Count changes of `{rows}` (`organization_id`, `lexeme`, `published`, `drafts`: +1, -1 or 0), added
# up per lexeme and applied in key order: concurrent writers lock the same counters in the same
# order and cannot deadlock.
COUNT = """
    INSERT INTO article_term_counts AS c (organization_id, lexeme, published, drafts)
    SELECT organization_id, lexeme, sum(published), sum(drafts)
    FROM ({rows}) AS r GROUP BY organization_id, lexeme ORDER BY organization_id, lexeme
    ON CONFLICT (organization_id, lexeme) DO UPDATE
    SET published = c.published + excluded.published, drafts = c.drafts + excluded.drafts"""


def _moved(source: str, sign: str, flag: str = "published") -> str:
    """`source`'s rows as count changes: `sign` on the published or the drafts count."""
    return (
        f"SELECT organization_id, lexeme, CASE WHEN {flag} THEN {sign} ELSE 0 END AS published,"
        f" CASE WHEN {flag} THEN 0 ELSE {sign} END AS drafts FROM {source}"
    )


INSERT = f"""
    INSERT INTO article_terms (organization_id, lexeme, score, article_id, published)
    SELECT * FROM ({{fresh}}) AS fresh {ORDERED}
    RETURNING organization_id, lexeme, published"""
DELETE = f"""
    DELETE FROM article_terms AS t USING ({{gone}}) AS gone WHERE {KEY.format(a="t", b="gone")}
    RETURNING t.organization_id, t.lexeme, t.published"""
ADDED = f"WITH added AS ({INSERT.format(fresh=TERMS.format(rows='SELECT * FROM new_rows'))})" + COUNT.format(
    rows=_moved("added", "1")
)
DROPPED = f"WITH dropped AS ({DELETE.format(gone=TERMS.format(rows='SELECT * FROM old_rows'))})" + COUNT.format(
    rows=_moved("dropped", "-1")
)
# An update: rows only the old vectors had go, rows only the new ones come, rows of both whose
# status changed are flipped: no key is both deleted and inserted by the one statement. (No alias is
# `new`: in PL/pgSQL that is the trigger's row.)
ONLY_GONE = f"SELECT * FROM gone WHERE NOT EXISTS (SELECT FROM fresh WHERE {KEY.format(a='fresh', b='gone')})"
ONLY_FRESH = f"SELECT * FROM fresh WHERE NOT EXISTS (SELECT FROM gone WHERE {KEY.format(a='fresh', b='gone')})"
MOVED = [
    _moved("dropped", "-1"),
    _moved("added", "1"),
    _moved("flipped", "1"),
    _moved("flipped", "-1", "NOT published"),
]
CHANGED = f"""
    WITH gone AS ({TERMS.format(rows="SELECT * FROM old_rows")}),
    fresh AS ({TERMS.format(rows="SELECT * FROM new_rows")}),
    dropped AS ({DELETE.format(gone=ONLY_GONE)}),
    flipped AS (
        UPDATE article_terms AS t SET published = fresh.published FROM fresh
        WHERE {KEY.format(a="t", b="fresh")} AND t.published <> fresh.published
        RETURNING t.organization_id, t.lexeme, t.published),
    added AS ({INSERT.format(fresh=ONLY_FRESH)})
    {COUNT.format(rows=" UNION ALL ".join(MOVED))}"""

FUNCTION = f"""
CREATE FUNCTION article_terms_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {ADDED};
    ELSIF TG_OP = 'DELETE' THEN
        {DROPPED};
    ELSE
        {CHANGED};
    END IF;
    RETURN NULL;
END
$$"""
TRIGGERS = {
    "article_terms_added": "AFTER INSERT ON articles REFERENCING NEW TABLE AS new_rows",
    "article_terms_changed": "AFTER UPDATE ON articles REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "article_terms_dropped": "AFTER DELETE ON articles REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.create_table(
        "article_terms",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("lexeme", sa.Text(), nullable=False),
        sa.Column("score", sa.REAL(), nullable=False),
        sa.Column("article_id", sa.Uuid(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "article_term_counts",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("lexeme", sa.Text(), nullable=False),
        sa.Column("published", sa.Integer(), nullable=False),
        sa.Column("drafts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "lexeme", name=op.f("article_term_counts_pkey")),
    )
    op.execute(
        f"INSERT INTO article_terms SELECT * FROM ({TERMS.format(rows='SELECT * FROM articles')}) AS t {ORDERED}"
    )
    op.execute(COUNT.format(rows=_moved("article_terms", "1")))
    op.create_index(
        "ix_article_terms_rank",
        "article_terms",
        ["organization_id", "lexeme", sa.text("score DESC"), "article_id"],
        unique=True,
        postgresql_include=["published"],
    )
    op.execute(FUNCTION)
    for name, when in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION article_terms_sync()")


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON articles")
    op.execute("DROP FUNCTION article_terms_sync()")
    op.drop_index("ix_article_terms_rank", table_name="article_terms")
    op.drop_table("article_term_counts")
    op.drop_table("article_terms")
