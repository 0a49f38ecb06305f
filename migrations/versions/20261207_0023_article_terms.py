"""Knowledge base: `article_terms`, each article's rank for each of its lexemes, kept by triggers.

A one-word search ranked every article holding the word (`ts_rank_cd` on each row's vector, a heap
visit per match: ~1,800 matches took ~4 ms at 100,000 articles) to show 20 of them and count them
all. This table holds, per organization, lexeme and article, the rank a query of that one lexeme
gives the article (computed by `ts_rank_cd` itself, so the order is the same bit for bit), in an
index sorted the way the search sorts: a one-word page and its total are read from one index range.

Statement-level triggers on `articles` (through transition tables: a bulk load is one insert) add
an article's rows, drop them, and replace them when its vector, status or organization changes.
Rows are found again by their full key (the rank recomputed from the old vector), so an article's
change touches only its own index entries. Existing articles are added here.

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-07 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The one-lexeme query of `l.lexeme` (quoted as tsquery input: no parsing, no stemming).
LEXEME_QUERY = "('''' || replace(replace(l.lexeme, '\\', '\\\\'), '''', '''''') || '''')::tsquery"
# The rows of the articles in `{rows}`, in the index's order (a bulk load writes the heap in it).
TERMS = f"""
    SELECT a.organization_id, l.lexeme, ts_rank_cd(a.search, {LEXEME_QUERY}) AS score, a.id AS article_id,
           a.status = 'published' AS published
    FROM ({{rows}}) AS a CROSS JOIN unnest(tsvector_to_array(a.search)) AS l(lexeme)"""
ADD = f"""
    INSERT INTO article_terms (organization_id, lexeme, score, article_id, published)
    SELECT * FROM ({TERMS}) AS t ORDER BY organization_id, lexeme, score DESC, article_id"""
DROP = f"""
    DELETE FROM article_terms AS t USING ({TERMS}) AS gone
    WHERE t.organization_id = gone.organization_id AND t.lexeme = gone.lexeme AND t.score = gone.score
      AND t.article_id = gone.article_id"""
# Rows of `{one}` with no identical row (same id, vector, status, organization) in `{other}`.
CHANGED = """
    SELECT * FROM {one} AS r WHERE NOT EXISTS (
        SELECT FROM {other} AS s WHERE s.id = r.id AND s.search = r.search AND s.status = r.status
          AND s.organization_id = r.organization_id)"""

FUNCTION = f"""
CREATE FUNCTION article_terms_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {ADD.format(rows="SELECT * FROM new_rows")};
    ELSIF TG_OP = 'DELETE' THEN
        {DROP.format(rows="SELECT * FROM old_rows")};
    ELSE
        {DROP.format(rows=CHANGED.format(one="old_rows", other="new_rows"))};
        {ADD.format(rows=CHANGED.format(one="new_rows", other="old_rows"))};
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
    op.execute(ADD.format(rows="SELECT * FROM articles"))
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
    op.drop_table("article_terms")
