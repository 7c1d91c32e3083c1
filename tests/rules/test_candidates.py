"""``rules/candidates.py`` on recorded plans: the candidate indexes of each case (from its
indexed plan, its whole-table reads and its tables' catalog facts), and the SQL and Alembic
migration a finding suggests."""

from __future__ import annotations

import ast

from recordings import CASES, CURRENT_SCHEMA, INDEXED_WITH, recording, recordings_of

from pytest_dbguard.rules.candidates import Candidate, TableFacts, candidates_for
from pytest_dbguard.rules.identifiers import quote

# Each candidate as ``table (columns)``, the way CREATE INDEX names them; a case missing here
# has none. The order is the rule's (the plan's order of tables), except where noted.
CANDIDATES: dict[str, list[str]] = {
    # Equality, IS NULL, ranges; a range after the equalities.
    "equality_unindexed": ["users (email)"],
    "equality_unindexed_large": ["users (email)"],
    "is_null_unindexed": ["users (deleted_at)"],
    "partial_index_not_matching": ["items (user_id)"],  # a partial index serves no other query
    "selectinload_any_unindexed": ["comments (post_id)"],  # = ANY ($1)
    "selectinload_in_unindexed": ["comments (post_id)"],  # = ANY (ARRAY[$1, $2, $3])
    "update_unindexed": ["items (title)"],
    "insert_select_filtered": ["items (user_id)"],
    "delete_unindexed": ["items (created_at)"],
    "composite_second_column": ["posts (created_at)"],  # (author_id, created_at) skips it
    "now_interval_range": ["posts (created_at)"],  # a stable expression on the other side
    "cte_materialized": ["posts (created_at)"],  # the CTE Scan is no table
    "queue_skip_locked": ["jobs (state, queue)"],  # the literal state, then the parameter
    "partitioned_pruned": ["events (kind, created_at)"],  # the parent, not the partitions
    "partitioned_unindexed": ["events (kind)"],
    # Tables probed by an index with the unindexed filter in a Filter, or walked whole.
    "fk_join_unindexed": ["billowers (person_id)"],
    "fk_join_pk_walk_ordered": ["billowers (person_id)"],
    "join_filter_on_pk_probe": ["users (status)"],
    "exists_unindexed_filter": ["items (title)"],
    "in_subquery_unindexed": ["items (title)"],
    "view_filtered": ["items (title)"],  # the base table, never the view
    "lateral_top_n": ["users (status)"],
    "cartesian_join": ["users (status)"],
    "not_in_subquery": ["items (title)"],  # NOT (hashed SubPlan 1) on users: none
    "union_all_or_rewrite": ["posts (title)"],  # the status arm is served
    # OR: one index per arm, none for an arm already indexed.
    "or_no_index": ["posts (status)", "posts (title)"],
    "or_composite_trial": ["posts (status)", "posts (title)"],
    "or_unindexed_arm": ["posts (title)"],
    # Join keys of a table read in full.
    "left_join_unindexed_child": ["items (user_id)"],
    "anti_join_unindexed": ["posts (author_id)", "comments (post_id)"],
    "three_table_join_far_filter": ["comments (post_id)", "users (status)"],  # sorted
    "update_from_join": ["items (user_id)", "users (status)"],
    # users is read in full by design (every user, once each); its side of the SubPlan's
    # condition, users.name, is a join key too: a candidate the trial finds unused.
    "subplan_disabled_seqscan": ["users (name)", "items (title)"],
    # Names.
    "other_schema": ["archive.items (title)"],
    "quoted_table_name": ['"Order Items" ("Order Id")'],
    "reserved_word_table": ['"user" (email)'],
    "unicode_column": ['kunden ("straße")'],
    # Served (no whole read: the probe never tries these), from the conditions alone.
    "equality_and_is_null": ["items (user_id, deleted_at)"],
    "partial_index_matching": ["items (user_id)"],
    "two_candidate_indexes": ["posts (author_id, status)"],
    "filter_order_limit": ["posts (author_id, created_at)"],  # the sort key under the LIMIT
    "main_page_pk_walk": ["billowers (person_id)"],
}
# Whole reads that no candidate serves, on purpose (a finding needs a candidate the trial proves).
NO_CANDIDATE_WHY = {
    "not_equal_indexed": "<> is no B-tree search",
    "not_in_indexed": "<> ALL (NOT IN) is no B-tree search",
    "boolean_not_unindexed": "a negation of a boolean flag",
    "boolean_equals_false_unindexed": "a boolean flag narrows little (half the rows)",
    "like_parameter": "LIKE $1: the pattern is unknown at plan time",
    "like_prefix_literal": "LIKE: a plain B-tree does not serve it outside the C collation",
    "like_contains": "LIKE '%4%' has no prefix",
    "lower_expression": "an expression of the column",
    "jsonb_containment": "@> needs GIN, not a B-tree",
    "cast_defeats_index": "the column's index exists; the fix is the parameter's type",
    "order_limit_unindexed": "ORDER BY ... LIMIT without a condition: the sort lint's",
    "aggregate_report": "a report without a condition",
    "count_whole_table": "a report without a condition",
    "correlated_count_indexed": "users read by design; its join key is its primary key",
    "group_by_having": "HAVING filters groups, not rows",
    "window_report": "a report without a condition",
    "join_listing_no_filter": "a listing; its join key is indexed",
}


def shown(candidate: Candidate) -> str:
    return f"{candidate.target} ({', '.join(quote(column) for column in candidate.columns)})"


def test_every_expectation_names_a_recorded_case() -> None:
    assert set(CANDIDATES) <= set(CASES)
    assert set(NO_CANDIDATE_WHY) <= set(CASES)
    assert not set(CANDIDATES) & set(NO_CANDIDATE_WHY)


def test_candidates(major: int) -> None:
    found = {rec.case: [shown(c) for c in rec.candidates()] for rec in recordings_of(major)}
    found["three_table_join_far_filter"].sort()  # the plan's table order differs by version
    assert found == {case: CANDIDATES.get(case, []) for case in CASES}


def test_a_whole_read_with_no_candidate_is_one_no_index_serves(major: int) -> None:
    for case, why in NO_CANDIDATE_WHY.items():
        rec = recording(case, major)
        assert rec.reads(), rec.id
        assert rec.candidates() == [], (rec.id, why)


def test_a_candidate_that_is_the_trial_index_removes_its_table_s_whole_read(major: int) -> None:
    """Where a case's trial index is one of its candidates (same table, same columns), the
    trial plan no longer reads that table (or any of its partitions) in full: the fix the
    plugin would prove."""
    proved = set()
    for rec in recordings_of(major):
        if not rec.has(INDEXED_WITH):
            continue
        names = {trial["name"] for trial in rec.data["trial_indexes"]}
        trials = {
            (index["table"], tuple(column["name"] for column in index["columns"]))
            for index in rec.data["indexes_with"]
            if index["index"] in names and not index["partial"]
        }
        proposed = {(c.table, c.columns) for c in rec.candidates()}
        facts = rec.facts(INDEXED_WITH)
        remaining = {  # a partition's read is its partitioned table's
            (facts[(read.schema, read.table)].root or (read.schema, read.table))[1]
            for read in rec.reads(INDEXED_WITH)
        }
        for table, _ in trials & proposed:
            assert table not in remaining, rec.id
            proved.add(rec.case)
    assert len(proved) >= 30


def test_a_partition_s_candidate_is_on_its_partitioned_parent(major: int) -> None:
    rec = recording("partitioned_unindexed", major)
    facts = rec.facts()
    assert {facts[key].root for key in facts} == {("public", "events")}
    (candidate,) = rec.candidates()
    assert (candidate.schema, candidate.table, candidate.partitioned) == ("public", "events", True)
    # CREATE INDEX CONCURRENTLY does not exist for a partitioned table.
    assert (
        candidate.create_sql(concurrently=True) == "CREATE INDEX idx_events_kind ON events (kind);"
    )
    assert candidate.alembic() == (
        "def upgrade() -> None:\n"
        "    op.create_index('idx_events_kind', 'events', ['kind'])\n\n\n"
        "def downgrade() -> None:\n"
        "    op.drop_index('idx_events_kind', table_name='events')"
    )


def test_the_sql_of_a_finding_quotes_the_names_that_need_it(major: int) -> None:
    sql = {
        case: [c.create_sql(concurrently=True) for c in recording(case, major).candidates()]
        for case in ("quoted_table_name", "reserved_word_table", "unicode_column", "other_schema")
    }
    assert sql == {
        "quoted_table_name": [
            'CREATE INDEX CONCURRENTLY idx_order_items_order_id ON "Order Items" ("Order Id");'
        ],
        "reserved_word_table": ['CREATE INDEX CONCURRENTLY idx_user_email ON "user" (email);'],
        "unicode_column": ['CREATE INDEX CONCURRENTLY "idx_kunden_straße" ON kunden ("straße");'],
        "other_schema": ["CREATE INDEX CONCURRENTLY idx_items_title ON archive.items (title);"],
    }
    # The probe's trial names its indexes itself, and never creates them concurrently.
    (candidate,) = recording("quoted_table_name", major).candidates()
    assert candidate.create_sql(concurrently=False, name="dbguard_trial_0") == (
        'CREATE INDEX dbguard_trial_0 ON "Order Items" ("Order Id");'
    )


def test_the_same_table_in_the_search_path_is_not_qualified(major: int) -> None:
    rec = recording("other_schema", major)
    (candidate,) = candidates_for(rec.plan(), rec.reads(), rec.facts(), "archive")
    assert (
        candidate.create_sql(concurrently=False) == "CREATE INDEX idx_items_title ON items (title);"
    )
    assert "schema=" not in candidate.alembic()


def test_the_alembic_migration_runs_outside_a_transaction(major: int) -> None:
    (candidate,) = recording("other_schema", major).candidates()
    assert candidate.alembic() == (
        "def upgrade() -> None:\n"
        "    with op.get_context().autocommit_block():\n"
        "        op.create_index('idx_items_title', 'items', ['title'], schema='archive', "
        "postgresql_concurrently=True)\n\n\n"
        "def downgrade() -> None:\n"
        "    with op.get_context().autocommit_block():\n"
        "        op.drop_index('idx_items_title', table_name='items', schema='archive', "
        "postgresql_concurrently=True)"
    )
    # Names that need quoting in SQL are plain Python strings in Alembic.
    for case in ("quoted_table_name", "reserved_word_table", "unicode_column"):
        (candidate,) = recording(case, major).candidates()
        ast.parse(candidate.alembic())  # valid Python
        assert f"{candidate.table!r}, {list(candidate.columns)!r}" in candidate.alembic()


def test_an_index_name_fits_postgresql_s_63_bytes() -> None:
    short = Candidate("public", "Order Items", ("Order Id",))
    assert short.name == "idx_order_items_order_id"
    long = Candidate("public", "straße_" * 12, ("größe_" * 10, "id"))
    other = Candidate("public", "straße_" * 12, ("größe_" * 10, "id2"))
    assert len(long.name.encode()) <= 63
    assert len(other.name.encode()) <= 63
    assert long.name != other.name  # a hash of the whole name keeps them apart
    long.name.encode().decode()  # never cut inside a character


def test_a_column_already_leading_an_index_is_no_candidate(major: int) -> None:
    """fk_join_indexed's plan, judged as if person_id were unindexed, proposes it; with the
    recorded facts (ix_billowers_person_id leads with person_id) it does not."""
    rec = recording("fk_join_indexed", major)
    facts = rec.facts()
    assert ("person_id",) in facts[("public", "billowers")].index_columns
    reads = recording("fk_join_unindexed", major).reads()  # billowers read in full
    assert candidates_for(rec.plan(), reads, facts, CURRENT_SCHEMA) == []
    without = dict(facts)
    table = facts[("public", "billowers")]
    without[("public", "billowers")] = TableFacts(
        table.schema, table.name, table.kind, table.columns, (("id",), ("bill_id",))
    )
    assert [shown(c) for c in candidates_for(rec.plan(), reads, without, CURRENT_SCHEMA)] == [
        "billowers (person_id)"
    ]


def test_an_index_on_a_view_or_an_unknown_table_is_never_proposed(major: int) -> None:
    """Candidates need the table's facts, and only tables and partitioned tables get one."""
    rec = recording("equality_unindexed", major)
    assert rec.candidates() != []
    assert candidates_for(rec.plan(), rec.reads(), {}, CURRENT_SCHEMA) == []
    table = rec.facts()[("public", "users")]
    as_view = TableFacts(table.schema, table.name, "v", table.columns, table.index_columns)
    assert candidates_for(rec.plan(), rec.reads(), {("public", "users"): as_view}, "public") == []
