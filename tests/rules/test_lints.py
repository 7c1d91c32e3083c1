"""``rules/lints.py`` on recorded plans: correlated subqueries, cartesian joins, and sorts of a
whole table for ``ORDER BY ... LIMIT``, judged on the indexed plan."""

from __future__ import annotations

import copy

from recordings import CASES, INDEXED, INDEXED_WITH, recording, recordings_of

from pytest_dbguard.rules.lints import LINTS, LintHit, lint_plans

CORRELATED = LintHit("correlated_subquery", "items", "SubPlan 1 under Seq Scan", 560)
# The lints' hits on each case's indexed plan, the same on every version; none elsewhere.
HITS: dict[str, list[LintHit]] = {
    # A SubPlan run once per user (560 rows): served by an index or not, it runs 560 times.
    "correlated_count_indexed": [CORRELATED],
    "subplan_disabled_seqscan": [CORRELATED],
    # No join condition: 3 users times 810 items.
    "cartesian_join": [LintHit("cartesian_join", "items", "Nested Loop of items and users", 2430)],
    # Every post read and sorted for ten rows.
    "order_limit_unindexed": [
        LintHit("sort_without_index", "posts", "posts.created_at DESC", 580, "public", "posts")
    ],
}


def test_every_expectation_names_a_recorded_case() -> None:
    assert set(HITS) <= set(CASES)
    assert {hit.lint for hits in HITS.values() for hit in hits} == set(LINTS)


def test_lints(major: int) -> None:
    found = {rec.case: lint_plans(rec.plan(INDEXED)) for rec in recordings_of(major)}
    assert found == {case: HITS.get(case, []) for case in CASES}


def test_a_trial_index_does_not_change_what_a_lint_sees(major: int) -> None:
    """The sort lint's case is fixed by its trial index (a backward walk that stops after ten
    rows); a correlated SubPlan stays one, served or not."""
    trials = [rec for rec in recordings_of(major) if rec.has(INDEXED_WITH)]
    found = {rec.case: lint_plans(rec.plan(INDEXED_WITH)) for rec in trials}
    expected = {rec.case: HITS.get(rec.case, []) for rec in trials}
    expected["order_limit_unindexed"] = []
    assert found == expected


def test_a_hashed_subplan_runs_once(major: int) -> None:
    """not_in_subquery: NOT (hashed SubPlan 1) is built once, not run per row."""
    plan = recording("not_in_subquery", major).plan()
    assert "hashed SubPlan 1" in plan["Filter"]
    assert lint_plans(plan) == []


def test_a_lateral_sort_under_a_limit_reads_no_whole_table(major: int) -> None:
    """lateral_top_n sorts each user's items under LIMIT 3, but reads them by index: not the
    sort lint's; fk_join_pk_walk_ordered's as-is plan sorts all bills (920) for 20 rows, which
    the indexed plan avoids (the lint judges the indexed plan)."""
    assert lint_plans(recording("lateral_top_n", major).plan()) == []
    ordered = recording("fk_join_pk_walk_ordered", major)
    assert lint_plans(ordered.plan()) == []
    assert lint_plans(ordered.plan("as_is")) == [
        LintHit("sort_without_index", "bills", "bills.id DESC", 920, "public", "bills")
    ]


def test_a_filtered_sort_is_the_missing_index_finding_s(major: int) -> None:
    """order_limit_unindexed with a Filter on the scan (derived in memory): the unindexed
    filter is a missing-index candidate, not a sort without an index."""
    plan = copy.deepcopy(recording("order_limit_unindexed", major).plan())
    (scan,) = [n for n in plan["Plans"][0]["Plans"] if n["Node Type"] == "Seq Scan"]
    scan["Filter"] = "(posts.author_id = $1)"
    assert lint_plans(plan) == []


def test_a_one_row_side_is_a_lookup_not_a_product(major: int) -> None:
    """cartesian_join with its users side estimated at one row (derived in memory)."""
    plan = copy.deepcopy(recording("cartesian_join", major).plan())
    outer = plan["Plans"][0]
    assert outer["Relation Name"] == "users"
    outer["Plan Rows"] = 1
    assert lint_plans(plan) == []
