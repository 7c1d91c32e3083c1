"""``rules/reads.py`` on recorded plans: which tables each case's indexed plan reads in full, and
whether the case's trial indexes remove those reads (the ``indexed_with`` plan)."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path

import pytest
from recordings import (
    CASES,
    INDEXED,
    INDEXED_WITH,
    PLANS,
    VERSIONS,
    Recording,
    recording,
    recordings_of,
)

from pytest_dbguard.rules.plans import plan_nodes
from pytest_dbguard.rules.reads import whole_reads

ALL_VERSIONS = frozenset(VERSIONS)

# Each whole-table read as ``alias=table: scan`` (``table: scan`` when the alias is the table's
# name), per case; a case missing here reads nothing in full. ``{versions: reads}`` where the
# versions' plans differ.
READS: dict[str, list[str] | dict[frozenset[int], list[str]]] = {
    # Whole reads by design (no condition to serve): no candidate, so never a finding.
    "aggregate_report": ["items: Index Scan using ix_items_user_id"],
    "count_whole_table": ["items: Seq Scan"],
    "correlated_count_indexed": ["users: Seq Scan"],
    "group_by_having": ["items: Index Scan using ix_items_user_id"],
    "window_report": ["posts: Index Scan using ix_posts_author_id"],
    # An ORDER BY ... LIMIT walk feeding a join: the rule only sees through Limit, Result and
    # Subquery Scan, so the outer side of a Nested Loop counts as a whole walk (see the report).
    "join_listing_no_filter": ["billowers: Index Scan using ix_billowers_bill_id"],
    "main_page_pk_walk": ["bills: Index Scan using bills_pkey"],
    # Sequential scans of an unindexed filter.
    "boolean_equals_false_unindexed": ["users: Seq Scan"],
    "boolean_not_unindexed": ["users: Seq Scan"],
    "cast_defeats_index": ["items: Seq Scan"],
    "cte_materialized": ["posts: Seq Scan"],
    "delete_unindexed": ["items: Seq Scan"],
    "equality_unindexed": ["users: Seq Scan"],
    "equality_unindexed_large": ["users: Seq Scan"],
    "insert_select_filtered": ["items: Seq Scan"],
    "is_null_unindexed": ["users: Seq Scan"],
    "jsonb_containment": ["posts: Seq Scan"],
    "lateral_top_n": ["users: Seq Scan"],
    "left_join_unindexed_child": ["items: Seq Scan"],
    "like_contains": ["items: Seq Scan"],
    "like_parameter": ["items: Seq Scan"],
    "like_prefix_literal": ["items: Seq Scan"],
    "lower_expression": ["users: Seq Scan"],
    "not_equal_indexed": ["users: Seq Scan"],
    "not_in_indexed": ["users: Seq Scan"],
    "now_interval_range": ["posts: Seq Scan"],
    "or_composite_trial": ["posts: Seq Scan"],
    "or_no_index": ["posts: Seq Scan"],
    "or_unindexed_arm": ["posts: Seq Scan"],
    "order_limit_unindexed": ["posts: Seq Scan"],
    "partial_index_not_matching": ["items: Seq Scan"],
    "selectinload_any_unindexed": ["comments: Seq Scan"],
    "selectinload_in_unindexed": ["comments: Seq Scan"],
    "update_unindexed": ["items: Seq Scan"],
    # Names: another schema, an alias, quoting, unicode.
    "other_schema": ["archive_items=items: Seq Scan"],
    "quoted_table_name": ["Order Items: Seq Scan"],
    "reserved_word_table": ["user: Seq Scan"],
    "unicode_column": ["kunden: Seq Scan"],
    "union_all_or_rewrite": ["posts_1=posts: Seq Scan"],
    # Two tables.
    "anti_join_unindexed": ["comments: Seq Scan", "posts: Index Scan using posts_pkey"],
    "cartesian_join": ["items: Seq Scan", "users: Seq Scan"],
    "not_in_subquery": ["items: Seq Scan", "users: Seq Scan"],
    "subplan_disabled_seqscan": ["items: Seq Scan", "users: Seq Scan"],
    # A walk of a whole index without an Index Cond, the unindexed condition in a Filter.
    "exists_unindexed_filter": ["items: Index Scan using ix_items_user_id"],
    "fk_join_pk_walk_ordered": ["billowers: Index Scan using ix_billowers_bill_id"],
    "fk_join_unindexed": ["billowers: Index Scan using ix_billowers_bill_id"],
    "in_subquery_unindexed": ["items: Index Scan using ix_items_user_id"],
    "join_filter_on_pk_probe": ["users: Index Scan using users_pkey"],
    "queue_skip_locked": ["jobs: Index Scan using jobs_pkey"],  # a Filter under LIMIT 1
    "view_filtered": ["items: Index Scan using ix_items_user_id"],
    # A walk whose Index Cond skips the index's first column.
    "composite_second_column": ["posts: Bitmap Index Scan using ix_posts_author_created"],
    "partitioned_pruned": [
        "events_1=events_2024_01: Bitmap Index Scan using events_2024_01_pkey",
        "events_2=events_2024_02: Bitmap Index Scan using events_2024_02_pkey",
        "events_3=events_2024_03: Bitmap Index Scan using events_2024_03_pkey",
    ],
    "partitioned_unindexed": [
        "events_1=events_2024_01: Seq Scan",
        "events_2=events_2024_02: Seq Scan",
        "events_3=events_2024_03: Seq Scan",
    ],
    # The join order (and so which table is walked whole) differs between versions.
    "three_table_join_far_filter": {
        frozenset({15, 16}): ["comments: Seq Scan"],  # users probed by primary key
        frozenset({18}): ["comments: Seq Scan", "users: Index Scan using users_pkey"],
    },
    "update_from_join": {
        frozenset({15, 16}): ["items: Seq Scan"],
        frozenset({18}): ["items: Seq Scan", "users: Index Scan using users_pkey"],
    },
}

# What still reads a whole table once the case's trial indexes exist, and why.
REMAINING_WITH_TRIAL: dict[str, list[str]] = {
    "lateral_top_n": ["users: Seq Scan"],  # the trial is (user_id, created_at), for the Sort
    "like_parameter": ["items: Seq Scan"],  # LIKE $1: the generic plan cannot use any index
    "not_in_subquery": ["users: Seq Scan"],  # NOT (hashed SubPlan): no index serves it
    "or_composite_trial": ["posts: Bitmap Index Scan using ix_posts_status_title"],
    "subplan_disabled_seqscan": ["users: Seq Scan"],  # the outer table, read by design
    "boolean_not_unindexed": [],  # the partial trial index serves NOT archived
}
# Known rule defects: their cases are left out of the table tests and checked, against what the
# rule should say, by a strict xfail test of their own.
DEFECTS = {"boolean_not_unindexed"}
PARTIAL_INDEX_WALK = (
    "reads.py: a walk of a partial index without an Index Cond reads only the rows of its "
    "predicate (the trial ix_users_active ON users (id) WHERE NOT archived, the fix the case "
    "names), not every row; whole_reads is not told which indexes are partial and reports "
    "'users: Index Scan using ix_users_active' as a whole read"
)


def shown(rec: Recording, which: str = INDEXED) -> list[str]:
    return sorted(
        f"{read.table if read.alias == read.table else f'{read.alias}={read.table}'}: {read.scan}"
        for read in rec.reads(which)
    )


def expected_reads(case: str, major: int) -> list[str]:
    expected = READS.get(case, [])
    if isinstance(expected, dict):
        (found,) = [reads for versions, reads in expected.items() if major in versions]
        return found
    return expected


def test_every_expectation_names_a_recorded_case() -> None:
    assert set(READS) <= set(CASES)
    assert set(REMAINING_WITH_TRIAL) <= set(CASES)
    for expected in READS.values():
        if isinstance(expected, dict):
            assert sorted(v for versions in expected for v in versions) == sorted(ALL_VERSIONS)


def test_whole_reads(major: int) -> None:
    found = {rec.case: shown(rec) for rec in recordings_of(major)}
    assert found == {case: expected_reads(case, major) for case in CASES}


def test_the_trial_indexes_remove_the_whole_reads(major: int) -> None:
    trials = [rec for rec in recordings_of(major) if rec.has(INDEXED_WITH)]
    assert {rec.case for rec in trials} >= set(REMAINING_WITH_TRIAL)
    found = {rec.case: shown(rec, INDEXED_WITH) for rec in trials if rec.case not in DEFECTS}
    expected = {rec.case: REMAINING_WITH_TRIAL.get(rec.case, []) for rec in trials}
    assert found == {case: reads for case, reads in expected.items() if case not in DEFECTS}
    # What remains was read in full before the trial, or is a walk of a trial index that does
    # not serve the statement (or_composite_trial: the title arm skips its first column).
    for rec in trials:
        names = {trial["name"] for trial in rec.data["trial_indexes"]}
        for line in set(found.get(rec.case, [])) - set(shown(rec)):
            assert line.rsplit(" using ", 1)[-1] in names, (rec.id, line)


@pytest.mark.xfail(strict=True, reason=PARTIAL_INDEX_WALK)
def test_a_walk_of_a_partial_index_is_not_a_whole_read(major: int) -> None:
    rec = recording("boolean_not_unindexed", major)
    assert [i["partial"] for i in rec.data["indexes_with"] if i["index"] == "ix_users_active"] == [
        True
    ]
    assert shown(rec, INDEXED_WITH) == REMAINING_WITH_TRIAL["boolean_not_unindexed"]


def test_every_read_says_why(major: int) -> None:
    for rec in recordings_of(major):
        for read in rec.reads():
            if read.scan == "Seq Scan":
                assert read.why == "a sequential scan", rec.id
            else:
                index = read.scan.split(" using ", 1)[1]
                assert read.why in (
                    f"a walk of the whole index {index} without a condition",
                    f"a walk of the whole index {index}: its condition skips its first column "
                    f"({rec.index_columns()[index][0]})",
                ), rec.id
            assert read.schema in ("public", "archive"), rec.id
            assert read.key == (read.schema, read.table, read.alias)


def test_the_filter_read_on_every_row_is_the_unindexed_condition(major: int) -> None:
    (read,) = recording("fk_join_unindexed", major).reads()
    assert read.filter == "(billowers.person_id = $1)"
    (read,) = recording("other_schema", major).reads()
    assert (read.schema, read.table, read.alias) == ("archive", "items", "archive_items")
    assert read.filter == "(archive_items.title = $1)"
    (read,) = recording("composite_second_column", major).reads()
    assert read.why == (
        "a walk of the whole index ix_posts_author_created: its condition skips its first "
        "column (author_id)"
    )


def test_an_ordered_top_n_walk_is_not_a_whole_read(major: int) -> None:
    """``ORDER BY ... LIMIT`` served by an index walk without a condition stops after a few rows
    (order_limit_indexed, offset_pagination); a walk without the Limit reads every row (and
    so, in READS, do queue_skip_locked's walk with a Filter and window_report's without a
    Limit)."""
    for case in ("order_limit_indexed", "offset_pagination"):
        rec = recording(case, major)
        walks = [n for n in plan_nodes(rec.plan()) if n["Node Type"] == "Index Scan"]
        assert [("Index Cond" in n, "Filter" in n) for n in walks] == [(False, False)]
        assert rec.reads() == []
    # The same index walk once its Limit is gone reads the whole table.
    (walk,) = [
        n for n in plan_nodes(recording("order_limit_indexed", major).plan()) if "Plans" not in n
    ]
    assert [read.table for read in whole_reads(walk, {})] == ["posts"]


def test_an_index_cond_on_the_first_column_is_no_whole_read(major: int) -> None:
    """composite_both_columns constrains author_id, the first key column; told that the index's
    first column is title instead, the rule calls the same walk a whole read."""
    rec = recording("composite_both_columns", major)
    columns = rec.index_columns()
    assert columns["ix_posts_author_created"] == ("author_id", "created_at")
    assert whole_reads(rec.plan(), columns) == []
    (read,) = whole_reads(
        rec.plan(), {**columns, "ix_posts_author_created": ("title", "author_id")}
    )
    assert read.why.endswith("its condition skips its first column (title)")
    # An expression as first column (None) is never judged from the condition's columns.
    assert whole_reads(rec.plan(), {**columns, "ix_posts_author_created": (None,)}) == []


def test_a_locked_top_n_walk_is_not_a_whole_read(major: int) -> None:
    """queue_skip_locked's plan without its Filter: the queue pop of a table with no condition
    (``SELECT ... ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED``). Derived in memory from the
    recording; the recorded file is unchanged."""
    plan = copy.deepcopy(recording("queue_skip_locked", major).plan())
    assert [n["Node Type"] for n in plan_nodes(plan)] == ["Limit", "LockRows", "Index Scan"]
    for node in plan_nodes(plan):
        node.pop("Filter", None)
    assert whole_reads(plan, recording("queue_skip_locked", major).index_columns()) == []


def test_the_recordings_are_the_corpus_s() -> None:
    """Every case of scripts/plan_cases.py is recorded on every version, with its expect line
    as it is now (a changed case is recorded again: scripts/record_plans.py)."""
    path = Path(__file__).parents[2] / "scripts" / "plan_cases.py"
    spec = importlib.util.spec_from_file_location("plan_cases", path)
    assert spec is not None
    assert spec.loader is not None
    corpus = importlib.util.module_from_spec(spec)
    sys.modules["plan_cases"] = corpus  # dataclasses looks its module up while it is loaded
    try:
        spec.loader.exec_module(corpus)
    finally:
        del sys.modules["plan_cases"]
    expect = {case.name: case.expect for case in corpus.CASES}
    assert sorted(expect) == list(CASES)
    for major in VERSIONS:
        assert sorted(p.stem for p in (PLANS / f"pg{major}").glob("*.json")) == list(CASES)
        for case in CASES:
            rec = recording(case, major)
            assert (rec.data["case"], rec.notes) == (case, expect[case]), rec.id
            assert rec.data["server_version_num"] // 10000 == major


@pytest.mark.parametrize(
    ("condition", "skips"),
    [
        # The outer side's column of the same name is no condition on the scanned table's.
        ("(lines.purchase_id = (purchases.id)::bigint)", True),
        ("((lines.id = $1) AND (lines.purchase_id = purchases.id))", False),
        ("(lines.purchase_id = ANY ('{lines.id}'::text[]))", True),  # a literal names nothing
        ('("lines"."id" = $1)', False),
        ("(lines.identifier = $1)", True),  # a longer name
    ],
)
def test_which_columns_an_index_cond_constrains(condition: str, skips: bool) -> None:
    """An index on (id, purchase_id) walked for ``condition``: a whole read when the condition
    does not name lines.id, its first column, as EXPLAIN VERBOSE prints it."""
    plan = {
        "Node Type": "Index Scan",
        "Index Name": "ix_lines_id_purchase",
        "Relation Name": "lines",
        "Schema": "public",
        "Alias": "lines",
        "Index Cond": condition,
    }
    reads = whole_reads(plan, {"ix_lines_id_purchase": ("id", "purchase_id")})
    assert [read.why for read in reads] == (
        [
            "a walk of the whole index ix_lines_id_purchase: its condition skips its first column (id)"
        ]
        if skips
        else []
    )
