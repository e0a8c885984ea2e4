"""search: one GIN index of each task's three-character windows, each keyed with its owner's
bucket, in place of the two trigram indexes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The trigram indexes of 0009 keep one posting list per trigram for every user: `milk` in 4 % of
# a 5,000,000-row table made the index read 314 buffers (3.7 ms) to find one user's 400 matches.
# Here each key is a window of three characters of the title or the description, in the range
# of one of 256 buckets of owners (the bucket is the key's top 8 bits, the window's hash the
# other 23), so a key's posting list holds 1/256 of the table's tasks with that window, and
# `user_id` in the same index (btree_gin) drops the bucket's other users before any row is read.
# More buckets found no fewer rows on 5,000,000 rows and made writes dearer (more keys, each
# with a short list to rewrite). The same function gives the keys a query needs (the windows of
# `q`, each in every text holding it), so index and query cannot disagree. It is PL/pgSQL, a
# loop over the characters: a SQL function planned its query again for every write, and one
# query with regular expressions cost twice the loop. Its COST says what a call costs against
# an operator (about 13 us for a title and a note): never worth calling row by row when the
# index can answer. A search reads the whole list of entries not yet merged into the index:
# 512 kB of them at most instead of 4 MB (about 60 pages, not 500), which writes did not feel.
# docs/benchmarks.md has the measurements.
_FUNCTION = """
CREATE FUNCTION task_search_keys(owner text, title text, description text)
RETURNS integer[] LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
DECLARE
    bucket integer := (hashtext(owner) & 255) << 23;
    keys integer[] := '{}';
    chars text[];
    body text;
BEGIN
    FOREACH body IN ARRAY ARRAY[title, description] LOOP
        chars := string_to_array(body, NULL);
        FOR i IN 1 .. cardinality(chars) - 2 LOOP
            keys := keys
                || (bucket | (hashtext(chars[i] || chars[i + 1] || chars[i + 2]) & 8388607));
        END LOOP;
    END LOOP;
    RETURN keys;
END
$$
"""
_INDEX = (
    "CREATE INDEX ix_tasks_user_id_search_keys ON tasks USING gin "
    "(user_id, task_search_keys(user_id, title_key, description_key)) "
    "WITH (gin_pending_list_limit = 512)"
)
_TRIGRAM = {
    "ix_tasks_user_id_title_key_trgm": "title_key",
    "ix_tasks_user_id_description_key_trgm": "description_key",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    op.execute(_INDEX)
    for name in _TRIGRAM:
        op.drop_index(name, table_name="tasks")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, column in _TRIGRAM.items():
        op.create_index(
            name,
            "tasks",
            ["user_id", column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )
    op.drop_index("ix_tasks_user_id_search_keys", table_name="tasks")
    op.execute("DROP FUNCTION task_search_keys(text, text, text)")
