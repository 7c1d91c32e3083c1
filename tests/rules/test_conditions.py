"""``rules/conditions.py`` on the conditions and sort keys PostgreSQL printed in the recorded
plans (EXPLAIN VERBOSE: every column qualified by its table's alias)."""

from __future__ import annotations

import functools

import pytest
from recordings import AS_IS, Recording, recordings_of

from pytest_dbguard.rules.conditions import (
    EQUALITY,
    NULL,
    RANGE,
    Comparison,
    Join,
    Reading,
    columns_named,
    read_condition,
    sort_columns,
)
from pytest_dbguard.rules.plans import normalize_text, plan_nodes

E, R, N = EQUALITY, RANGE, NULL


def reading(condition: str, aliases: set[str] | None = None) -> tuple[object, ...]:
    found = read_condition(condition, aliases)
    return (
        [(c.alias, c.column, c.kind) for c in found.comparisons],
        [(j.left_alias, j.left_column, j.right_alias, j.right_column) for j in found.joins],
        [
            [[(c.alias, c.column, c.kind) for c in arm] for arm in group]
            for group in found.alternatives
        ],
    )


# Conditions as recorded (the case that holds each), and what the rule reads in them.
SERVED = [
    ("(users.email = $1)", [("users", "email", E)]),  # equality_unindexed
    ("(users.deleted_at IS NULL)", [("users", "deleted_at", N)]),  # is_null_unindexed
    ("(items.created_at < $1)", [("items", "created_at", R)]),  # delete_unindexed
    ("(posts.created_at > (now() - $1))", [("posts", "created_at", R)]),  # now_interval_range
    ("(comments.post_id = ANY ($1))", [("comments", "post_id", E)]),  # selectinload_any
    ("(comments.post_id = ANY (ARRAY[$1, $2, $3]))", [("comments", "post_id", E)]),
    ("(users.archived = $1)", [("users", "archived", E)]),  # a flag: candidates drop it by type
    (
        "((posts.author_id = $2) AND (posts.created_at > $1))",  # composite_both_columns
        [("posts", "author_id", E), ("posts", "created_at", R)],
    ),
    (
        "((jobs.state = 'queued'::text) AND (jobs.queue = $1))",  # queue_skip_locked
        [("jobs", "state", E), ("jobs", "queue", E)],
    ),
    ('("Order Items"."Order Id" = $1)', [("Order Items", "Order Id", E)]),
    ('("user".email = $1)', [("user", "email", E)]),
    ('(kunden."straße" = $1)', [("kunden", "straße", E)]),
    ("(archive_items.title = $1)", [("archive_items", "title", E)]),  # other_schema
    ("(events_2.kind = $1)", [("events_2", "kind", E)]),  # partitioned_unindexed
    # A cast of the column is read through (``(status)::text`` is served by an index on
    # status); cast_defeats_index's index exists, so it gives no candidate there.
    ("((items.user_id)::numeric = $1)", [("items", "user_id", E)]),
]
NOT_SERVED = [
    # max_aggregate_indexed's Index Cond: a B-tree can serve IS NOT NULL, but it keeps nearly
    # every row of a column that is mostly set: never a candidate.
    "(posts.created_at IS NOT NULL)",
    "(users.status <> $1)",  # not_equal_indexed
    "(users.status <> ALL (ARRAY[$1, $2]))",  # not_in_indexed
    "(NOT users.archived)",  # boolean_not_unindexed
    "(users.archived = false)",  # boolean_not_indexed: a flag against a literal
    "(items.title ~~ $1)",  # like_parameter
    "(items.title ~~ '%4%'::text)",  # like_contains
    "(items.title ~~ 'item 1%'::text)",  # like_prefix_literal
    "(lower(users.email) = $1)",  # lower_expression
    "(posts.attributes @> $1)",  # jsonb_containment
    "(count(*) > $1)",  # group_by_having: a group's filter, no column
    "(NOT (hashed SubPlan 1))",  # not_in_subquery on 15 and 16
    "(NOT (ANY (users.id = (hashed SubPlan 1).col1)))",  # ... on 18
    "(ROW(posts.created_at, posts.id) > ROW($1, $2))",  # keyset_pagination
]


@pytest.mark.parametrize(("condition", "comparisons"), SERVED, ids=[c for c, _ in SERVED])
def test_what_a_b_tree_serves(condition: str, comparisons: list[tuple[str, str, str]]) -> None:
    assert reading(condition) == (comparisons, [], [])


@pytest.mark.parametrize("condition", NOT_SERVED)
def test_what_no_index_narrows(condition: str) -> None:
    assert reading(condition) == ([], [], [])


def test_joins() -> None:
    assert reading("(billowers.bill_id = bills.id)") == (
        [],
        [("billowers", "bill_id", "bills", "id")],
        [],
    )
    assert reading("(users_1.id = items.user_id)")[1] == [("users_1", "id", "items", "user_id")]
    # subplan_disabled_seqscan: a correlated SubPlan's condition joins its outer table.
    assert reading("(items.title = users.name)")[1] == [("items", "title", "users", "name")]
    join = read_condition("(posts.author_id = users.id)").joins[0]
    assert join == Join("posts", "author_id", "users", "id")
    assert (join.side("posts"), join.side("users"), join.side("comments")) == (
        "author_id",
        "id",
        None,
    )


def test_or_arms() -> None:
    """One group per OR, one list of comparisons per arm (a BitmapOr needs an index on each);
    an arm no index serves makes the whole OR unserved."""
    status, title = ("posts", "status", E), ("posts", "title", E)
    assert reading("((posts.status = $1) OR (posts.title = $2))") == ([], [], [[[status], [title]]])
    assert reading("((posts.status = $1) OR (posts.status = $2))") == (
        [],
        [],
        [[[status], [status]]],
    )
    assert reading("((posts.status = $1) OR ((posts.title = $2) AND (posts.id > $3)))")[2] == [
        [[status], [title, ("posts", "id", R)]]
    ]
    assert reading("((posts.status = $1) OR (posts.title ~~ $2))") == ([], [], [])
    assert reading("((posts.status = $1) OR (posts.title = $2)) AND (posts.id = $3)") == (
        [("posts", "id", E)],
        [],
        [[[status], [title]]],
    )


def test_an_unqualified_column_belongs_to_the_only_alias() -> None:
    assert reading("(email = $1)", {"users"}) == ([("users", "email", E)], [], [])
    assert reading("(email = $1)", {"users", "items"}) == ([], [], [])
    assert reading("(email = $1)") == ([], [], [])


def test_unreadable_conditions_read_as_nothing() -> None:
    assert reading("((") == ([], [], [])
    assert reading("(a.b = ") == ([], [], [])
    assert columns_named("((") == []


def test_columns_named() -> None:
    assert columns_named("((posts.author_id = $2) AND (posts.created_at > $1))") == [
        "author_id",
        "created_at",
    ]
    assert columns_named('("Order Items"."Order Id" = $1)') == ["Order Id"]


def test_every_recorded_condition_is_read_without_error(major: int) -> None:
    for rec in recordings_of(major):
        _check_conditions(rec)


def _check_conditions(rec: Recording) -> None:
    """Every condition of every recorded plan, generic or with the case's values bound (literals,
    casts, arrays, quoted names, SubPlan references): read without raising, and every
    comparison and join it finds names a relation of the plan."""
    for which, plan in rec.plans():
        aliases = {
            n.get("Alias") or n["Relation Name"] for n in plan_nodes(plan) if "Relation Name" in n
        }
        aliases |= {n["Alias"] for n in plan_nodes(plan) if "Alias" in n}  # CTE and subquery scans
        for node in plan_nodes(plan):
            own = {node.get("Alias") or node["Relation Name"]} if "Relation Name" in node else None
            for key in ("Filter", "Join Filter", "Index Cond", "Recheck Cond", "Hash Cond"):
                if key not in node:
                    continue
                found = _read(node[key], frozenset(own) if own else None)
                for comparison in found.comparisons:
                    assert comparison.alias in aliases, (which, node[key])
                for join in found.joins:
                    assert {join.left_alias, join.right_alias} <= aliases, (which, node[key])
                if which == AS_IS:  # bound values are read like the generic plan's parameters
                    generic = _generic_twin(rec, node, key)
                    # (unless PostgreSQL folded the constant: archived = false -> NOT archived)
                    if generic is not None and normalize_text(generic) == normalize_text(node[key]):
                        twin = _read(generic, frozenset(own) if own else None)
                        assert _kinds(found) == _kinds(twin), node[key]


@functools.cache
def _read(condition: str, aliases: frozenset[str] | None) -> Reading:
    """``read_condition`` once per text: the versions and cases share most conditions."""
    return read_condition(condition, set(aliases) if aliases else None)


def _generic_twin(rec: Recording, node: dict[str, object], key: str) -> str | None:
    """The same node's condition in the indexed plan, when that plan has a node of the same
    type on the same alias with that key."""
    for other in plan_nodes(rec.plan()):
        if (other["Node Type"], other.get("Alias")) == (node["Node Type"], node.get("Alias")):
            value = other.get(key)
            return value if isinstance(value, str) else None
    return None


def _kinds(found: Reading) -> set[tuple[str, str, str]]:
    return {(c.alias, c.column, c.kind) for c in found.comparisons}


def test_sort_columns() -> None:
    """The plain columns of one table leading a Sort Key (an index gives the order only for a
    prefix of the keys); the recorded keys first."""
    assert sort_columns(["posts.created_at DESC"], {"posts"}) == ["created_at"]
    assert sort_columns(["posts.author_id", "posts.created_at"], {"posts"}) == [
        "author_id",
        "created_at",
    ]
    assert sort_columns(["bills.id DESC"], {"bills"}) == ["id"]
    assert sort_columns(["items.created_at DESC NULLS LAST", "items.id"], {"items"}) == [
        "created_at",
        "id",
    ]
    assert sort_columns(["users.status", "items.id"], {"users"}) == ["status"]  # another table
    assert sort_columns(["items.id", "users.status"], {"users"}) == []  # not a prefix
    assert sort_columns(["lower(users.email)", "users.id"], {"users"}) == []  # an expression
    assert sort_columns(["(count(*)) DESC"], {"users"}) == []
    assert sort_columns(["created_at"], {"posts"}) == ["created_at"]  # the only table
    assert sort_columns(['"Order Items"."Order Id" DESC'], {"Order Items"}) == ["Order Id"]


def test_the_recorded_sort_keys(major: int) -> None:
    for node in (node for rec in recordings_of(major) for node in plan_nodes(rec.plan())):
        keys = node.get("Sort Key")
        if not keys:
            continue
        tables = {key.split(".", 1)[0] for key in keys}
        expected = [key.split(".", 1)[1].split(" ", 1)[0] for key in keys]
        assert sort_columns(keys, tables if len(tables) == 1 else set()) == (
            expected if len(tables) == 1 else []
        ), keys


def test_comparison_and_join_are_values() -> None:
    assert Comparison("users", "email", E) == Comparison("users", "email", E)
    assert len({Join("a", "x", "b", "y"), Join("a", "x", "b", "y")}) == 1
