"""``rules/plans.py`` on recorded plans: the normalized tree, its text (rendered and parsed back
exactly), values normalized away, the canonical form of indexed plans, and the disable cost of
PostgreSQL before 18.

Plan stability: ``scripts/check_plan_stability.py`` takes each case's indexed plan in six states
of one database. The recordings hold one state per case and version, but several cases share
their statement and indexes with another case recorded in another state (3,000 analyzed rows,
the index created in the trial's savepoint rather than by the schema), and some versions
recorded what another version's other states give: those pairs must normalize to one tree.
"""

from __future__ import annotations

import copy
import json
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from recordings import (
    AS_IS,
    CASES,
    CURRENT_SCHEMA,
    INDEXED,
    INDEXED_WITH,
    VERSIONS,
    Recording,
    all_recordings,
    recording,
    recordings_of,
)

from pytest_dbguard.rules.plans import (
    PROPERTIES,
    PlanNode,
    PlanSyntaxError,
    disable_cost_free,
    normalize,
    normalize_text,
    parse,
    plan_nodes,
    render,
)


def tree(rec: Recording, which: str = INDEXED, *, canonical: bool | None = None) -> PlanNode:
    """The tree the plugin makes of a plan: canonical for indexed plans, with figures for
    as-is plans."""
    return normalize(
        rec.plan(which),
        current_schema=CURRENT_SCHEMA,
        canonical=which != AS_IS if canonical is None else canonical,
        index_columns=rec.index_columns(which),
    )


def for_each_case(major: int, check: Callable[[Recording], None]) -> None:
    """``check`` on every case recorded on ``major``; a failure names the case."""
    for rec in recordings_of(major):
        try:
            check(rec)
        except AssertionError as error:
            raise AssertionError(f"{rec.id}: {error}") from error


def key(node: PlanNode) -> str:
    return json.dumps(node.structure(), sort_keys=True)


# -- text: render and parse -----------------------------------------------------------------


def test_every_recorded_plan_renders_and_parses_back(major: int) -> None:
    for_each_case(major, _every_recorded_plan_renders_and_parses_back)


def _every_recorded_plan_renders_and_parses_back(rec: Recording) -> None:
    for which, _ in rec.plans():
        for canonical in {which != AS_IS, False}:
            original = tree(rec, which, canonical=canonical)
            lines = render(original)
            parsed = parse(lines)
            assert parsed.structure() == original.structure(), (which, lines)
            figures = [(n.total_cost, n.rows) for n in original.walk()]
            assert [(n.total_cost, n.rows) for n in parsed.walk()] == figures
            assert render(parsed) == lines


def test_quoted_names_survive_the_text() -> None:
    """Names from the recordings that need quoting, and a schema outside the search path with
    a quoted alias (a plan node made for the test)."""
    for case, line in (
        ("quoted_table_name", '  -> Index Scan using "ix_Order Items_Order Id" on "Order Items"'),
        ("reserved_word_table", '  -> Index Scan using ix_user_email on "user"'),
        ("unicode_column", '  -> Index Scan using "ix_kunden_straße" on kunden'),
        (
            "other_schema",
            "  -> Index Scan using ix_archive_items_title on archive.items archive_items",
        ),
    ):
        lines = render(tree(recording(case, 18), INDEXED_WITH))
        assert lines[0] == line
        assert parse(lines).structure() == tree(recording(case, 18), INDEXED_WITH).structure()
    node = {
        "Node Type": "Seq Scan",
        "Schema": "Sales Data",
        "Relation Name": 'Order "Items"',
        "Alias": "Order Items 2",
        "Filter": '("Order Items 2"."Unit Price" > $1)',
    }
    lines = render(normalize(node, current_schema="public"))
    assert lines[0] == (
        '  -> Seq Scan on "Sales Data"."Order ""Items""" "Order Items 2"  (cost=0.00 rows=0)'
    )
    parsed = parse(lines)
    assert (parsed.relation, parsed.alias) == ('"Sales Data"."Order ""Items"""', "Order Items 2")
    assert parsed.structure() == normalize(node, current_schema="public").structure()


def test_a_broken_plan_text_names_its_line() -> None:
    lines = render(tree(recording("fk_join_unindexed", 16)))
    with pytest.raises(PlanSyntaxError) as error:
        parse([*lines[:3], "       Cost: 12", *lines[3:]])
    assert error.value.offset == 3
    assert "unknown plan property 'Cost'" in str(error.value)
    with pytest.raises(PlanSyntaxError) as error:
        parse([lines[0], "    " + lines[3]])
    assert error.value.offset == 1
    with pytest.raises(PlanSyntaxError, match="one root"):
        parse([lines[0], lines[0]])
    with pytest.raises(PlanSyntaxError, match="empty"):
        parse([])


# -- values never survive normalization -----------------------------------------------------


def _forms(value: Any) -> list[str]:
    """How a parameter value may appear in a plan's text."""
    if isinstance(value, list):
        return [form for item in value for form in _forms(item)]
    if isinstance(value, bool):
        return [str(value).lower()]
    if isinstance(value, str):
        dates = re.match(r"\d{4}-\d\d-\d\d", value)
        return [value, *([dates.group()] if dates else []), *value.split()]
    return [str(value)]


def _found(form: str, text: str) -> bool:
    return re.search(rf"(?<![\w.$]){re.escape(form)}(?![\w])", text) is not None


# Parameters that appear nowhere in the as-is plan's conditions: an INSERT's values (its
# Output only, which the tree leaves out), OFFSET's, and archived = false, which PostgreSQL
# folds into NOT archived.
VALUES_NOT_IN_CONDITIONS = {
    "insert_on_conflict",
    "insert_values",
    "offset_pagination",
    "boolean_equals_false_unindexed",
}


def test_the_as_is_plans_hold_the_parameter_values(major: int) -> None:
    """What makes the next test bite: the conditions of the as-is plans hold the values."""
    for_each_case(major, _the_as_is_plans_hold_the_parameter_values)


def _the_as_is_plans_hold_the_parameter_values(rec: Recording) -> None:
    conditions = " ".join(
        str(node[name])
        for node in plan_nodes(rec.plan(AS_IS))
        for name in PROPERTIES
        if name in node
    )
    held = [
        value
        for value in rec.data["parameters"]
        if any(_found(form, conditions) for form in _forms(value))
    ]
    if rec.case in VALUES_NOT_IN_CONDITIONS or not rec.data["parameters"]:
        assert held == []
    else:
        assert held, (rec.data["parameters"], conditions)


def test_no_parameter_value_survives_normalization(major: int) -> None:
    """Parameter values can be secrets: none appears in the rendered tree of any plan of any
    recording (the as-is plans hold them as constants). Strings are looked for in every line;
    numbers in the conditions and keys (a node's line has its cost and rows)."""
    for_each_case(major, _no_parameter_value_survives_normalization)


def _no_parameter_value_survives_normalization(rec: Recording) -> None:
    forms = [
        form
        for value in rec.data["parameters"]
        for form in _forms(value)
        if len(form) > 1 or form.isdigit()
    ]
    strings = [form for form in forms if not form.replace(".", "", 1).isdigit()]
    for which, _ in rec.plans():
        lines = render(tree(rec, which))
        properties = "\n".join(line for line in lines if not line.lstrip().startswith("->"))
        for form in strings:
            assert not _found(form, "\n".join(lines)), (which, form)
        for form in forms:
            assert not _found(form, properties), (which, form)
        assert "'" not in properties  # no literal at all, not only the case's own


def test_normalize_text_on_recorded_conditions() -> None:
    cases = {
        "(users.email = 'user3@example.com'::text)": "(users.email = ?)",
        "(posts.author_id = '3'::smallint)": "(posts.author_id = ?)",  # psycopg's smallint
        "(posts.created_at > '2024-01-01 20:00:00+00'::timestamp with time zone)": (
            "(posts.created_at > ?)"
        ),
        "(posts.created_at > (now() - '7 days'::interval))": "(posts.created_at > (now() - ?))",
        '(posts.attributes @> \'{"lang": "fr"}\'::jsonb)': "(posts.attributes @> ?)",
        "(users.id = ANY ('{1,2,3}'::integer[]))": "(users.id = ANY (...))",
        "(users.status <> ALL ('{banned,pending}'::text[]))": "(users.status <> ALL (...))",
        "(kunden.\"straße\" = 'Hauptstraße 3'::text)": '(kunden."straße" = ?)',
        "(users.email = $1)": "(users.email = ?)",
        "(comments.post_id = ANY ($1))": "(comments.post_id = ANY (...))",
        "(items.title = users.name)": "(items.title = users.name)",
        "(NOT (hashed SubPlan 1))": "(NOT (hashed SubPlan ?))",
        "InitPlan 1 (returns $0)": "InitPlan ? (returns ?)",
    }
    assert {text: normalize_text(text) for text in cases} == cases


def test_the_generic_and_the_bound_condition_normalize_alike(major: int) -> None:
    """A scan's condition with ``$n`` (indexed plan) and with the case's values (as-is plan)
    reads the same once normalized, where both plans scan the table the same way (an array
    differs: ``ARRAY[$1, $2]`` against ``'{banned,pending}'::text[]``; and PostgreSQL folds
    archived = false into NOT archived)."""
    for_each_case(major, _the_generic_and_the_bound_condition_normalize_alike)


def _the_generic_and_the_bound_condition_normalize_alike(rec: Recording) -> None:
    generic = {
        (n["Node Type"], n.get("Alias"), name): n[name]
        for n in plan_nodes(rec.plan())
        for name in ("Filter", "Index Cond")
        if name in n
    }
    for node in plan_nodes(rec.plan(AS_IS)):
        for name in ("Filter", "Index Cond"):
            twin = generic.get((node["Node Type"], node.get("Alias"), name))
            if (
                twin is None
                or "$" not in twin
                or "ARRAY" in twin
                or rec.case == "boolean_equals_false_unindexed"
            ):
                continue
            assert normalize_text(node[name]) == normalize_text(twin), (node[name], twin)


# -- the disable cost of PostgreSQL before 18 -------------------------------------------------


def test_disable_cost_free_on_the_subplan_case() -> None:
    """subplan_disabled_seqscan: users (560 rows) read by a disabled Seq Scan, each row running
    a SubPlan with a disabled Seq Scan of items: before 18 the total holds 1e10 once for the
    outer scan and once per loop, 561 x 1e10; 18 counts disabled nodes apart."""
    pg15, pg16, pg18 = (recording("subplan_disabled_seqscan", major) for major in VERSIONS)
    for old in (pg15, pg16):
        cost = float(old.plan()["Total Cost"])
        assert cost == pytest.approx(561 * 1.0e10 + 11296.8)
        assert disable_cost_free(cost) == pytest.approx(11296.8, abs=0.01)
        assert disable_cost_free(cost) == pytest.approx(float(old.plan(AS_IS)["Total Cost"]))
    assert float(pg18.plan()["Total Cost"]) == 11296.8
    assert disable_cost_free(11296.8) == 11296.8
    assert pg18.plan().get("Disabled") is True  # 18 says so instead


def test_disable_cost_free_on_every_indexed_plan(major: int) -> None:
    """Free of the disable cost, an indexed plan costs what its shape costs: under 1e10, and on
    18 (which never adds it) unchanged."""
    for_each_case(major, _disable_cost_free_on_every_indexed_plan)


def _disable_cost_free_on_every_indexed_plan(rec: Recording) -> None:
    for node in plan_nodes(rec.plan()):
        cost = float(node["Total Cost"])
        assert 0 <= disable_cost_free(cost) < 1.0e10
        if rec.major >= 18:
            assert disable_cost_free(cost) == cost


# -- the canonical form of indexed plans ------------------------------------------------------


def test_a_bitmap_scan_of_one_index_reads_as_an_index_scan(major: int) -> None:
    rec = recording("equality_indexed", major)
    assert [n["Node Type"] for n in plan_nodes(rec.plan())] == [
        "Bitmap Heap Scan",
        "Bitmap Index Scan",
    ]
    assert render(tree(rec)) == [
        "  -> Index Scan using ix_users_email on users",
        "       Index Cond: (users.email = ?)",
    ]
    # The same statement on 3,000 analyzed rows is a plain Index Scan: one tree.
    large = recording("equality_indexed_large", major)
    assert [n["Node Type"] for n in plan_nodes(large.plan())] == ["Index Scan"]
    assert key(tree(large)) == key(tree(rec))


def test_an_inner_nested_loop_s_sides_are_unordered(major: int) -> None:
    """update_from_join on 15 reads items, then probes users by primary key (an Index Cond
    on items.user_id); 18 walks users, then scans items for each (a Join Filter). Canonical:
    one tree, the join condition in ``Join Cond``, the sides in name order."""
    expected = [
        "  -> ModifyTable on items",
        "       Operation: Update",
        "       -> Nested Loop",
        "            Join Type: Inner",
        "            Join Cond: (items.user_id = users.id)",
        "            -> Seq Scan on items",
        "            -> Index Scan using users_pkey on users",
        "                 Filter: (users.status = ?)",
    ]
    rec = recording("update_from_join", major)
    assert render(tree(rec)) == expected
    loop = rec.plan()["Plans"][0]
    outer = loop["Plans"][0]["Relation Name"]
    assert outer == ("users" if major >= 18 else "items")
    assert ("Join Filter" in loop) == (major >= 18)


def test_the_fk_join_in_canonical_form(major: int) -> None:
    assert render(tree(recording("fk_join_unindexed", major))) == [
        "  -> Nested Loop",
        "       Join Type: Inner",
        "       Join Cond: (billowers.bill_id = bills.id)",
        "       -> Index Scan using ix_billowers_bill_id on billowers",
        "            Filter: (billowers.person_id = ?)",
        "       -> Index Scan using bills_pkey on bills",
    ]


def test_canonical_trees_hold_no_choice_a_table_s_size_makes(major: int) -> None:
    for_each_case(major, _canonical_trees_hold_no_choice_a_table_s_size_makes)


def _canonical_trees_hold_no_choice_a_table_s_size_makes(rec: Recording) -> None:
    for which, _ in rec.plans():
        canonical = tree(rec, which, canonical=True)
        parent = {id(child): node for node in canonical.walk() for child in node.children}
        for node in canonical.walk():
            assert node.node_type != "Index Only Scan"
            if node.node_type == "Bitmap Index Scan":  # one of several (a BitmapOr's arm)
                assert parent[id(node)].node_type in ("BitmapOr", "BitmapAnd")
            assert (node.total_cost, node.rows) == (None, None)
            assert "Scan Direction" not in node.properties
            if node.node_type == "Bitmap Heap Scan":
                assert len(node.children) == 1
                assert node.children[0].node_type.startswith("Bitmap")
            if node.node_type == "Nested Loop" and node.properties.get("Join Type") == "Inner":
                assert "Join Filter" not in node.properties
                names = [sorted(_names(child)) for child in node.children]
                assert names == sorted(names)
                outer, inner = node.children
                for child in inner.walk():
                    for condition in child.properties.values():
                        assert not any(f"{name}." in condition for name in _names(outer)), condition


def _names(node: PlanNode) -> set[str]:
    return {
        n.alias or (n.relation or "").rsplit(".", 1)[-1]
        for n in node.walk()
        if n.relation or n.alias
    }


def test_an_index_only_scan_reads_as_an_index_scan() -> None:
    rec = recording("semi_join_indexed", 16)
    assert "Index Only Scan" in [n["Node Type"] for n in plan_nodes(rec.plan(AS_IS))]
    assert "Index Only Scan" in [n.node_type for n in tree(rec, AS_IS).walk()]
    assert "Index Only Scan" not in [n.node_type for n in tree(rec, AS_IS, canonical=True).walk()]


def test_a_backward_walk_is_the_same_index(major: int) -> None:
    """order_limit_indexed walks ix_posts_created_at backwards (ORDER BY created_at DESC): the
    as-is tree says so, the canonical tree does not (an index serves both directions)."""
    rec = recording("order_limit_indexed", major)
    assert rec.plan()["Plans"][0]["Scan Direction"] == "Backward"
    lines = render(tree(rec, canonical=False))
    assert lines[1].startswith("       -> Index Scan using ix_posts_created_at on posts  (cost=")
    assert lines[2] == "            Scan Direction: Backward"
    assert "Scan Direction" in tree(rec, canonical=False).children[0].properties
    assert "Scan Direction" not in tree(rec).children[0].properties


def test_sqlalchemy_s_numbered_aliases_are_renumbered_by_their_place() -> None:
    rec = recording("left_join_joinedload", 16)
    assert [n.alias for n in tree(rec).walk() if n.alias] == ["users_1"]
    plan = json.loads(json.dumps(rec.plan()).replace("users_1", "users_7"))
    assert key(normalize(plan, current_schema=CURRENT_SCHEMA, canonical=True)) == key(tree(rec))
    partitions = recording("partitioned_unindexed", 16)
    assert [n.alias for n in tree(partitions).walk() if n.alias] == [
        "events_1",
        "events_2",
        "events_3",
    ]


# -- one case, two states ---------------------------------------------------------------------


def _state_groups() -> dict[tuple[int, str], list[tuple[Recording, str]]]:
    """Plans of one statement on the same indexes (by definition, the index's own name left
    out), recorded by different cases: the same query in different database histories."""
    groups: dict[tuple[int, str], list[tuple[Recording, str]]] = defaultdict(list)
    for rec in all_recordings():
        for which in (INDEXED, INDEXED_WITH):
            if not rec.has(which):
                continue
            indexes = rec.data["indexes_with" if which == INDEXED_WITH else "indexes"]
            definitions = sorted(
                re.sub(r"INDEX \S+ ON", "INDEX ON", i["definition"]) for i in indexes
            )
            groups[(rec.major, rec.data["statement"] + json.dumps(definitions))].append(
                (rec, which)
            )
    return {group: members for group, members in groups.items() if len(members) > 1}


STATE_GROUPS = {
    # 12 rows never analyzed, 3,000 analyzed; the index in the schema or in the trial's savepoint
    (
        "equality_indexed",
        "equality_indexed_large",
        "equality_unindexed",
        "equality_unindexed_large",
    ),
    ("equality_unindexed", "equality_unindexed_large"),
    ("fk_join_indexed", "fk_join_unindexed"),
    ("is_null_indexed", "is_null_unindexed"),
    ("or_composite_trial", "or_no_index"),
    ("or_no_index", "or_unindexed_arm"),
    ("order_limit_indexed", "order_limit_unindexed"),
}


def test_a_statement_recorded_in_two_states_normalizes_to_one_tree() -> None:
    found = _state_groups()
    assert {
        tuple(sorted(rec.case for rec, _ in members)) for members in found.values()
    } == STATE_GROUPS
    raw_differences = 0
    for members in found.values():
        trees = {(rec.id, which): key(tree(rec, which)) for rec, which in members}
        assert len(set(trees.values())) == 1, trees
        raw = {json.dumps(normalize(rec.plan(which)).structure()) for rec, which in members}
        raw_differences += len(raw) > 1
    # The canonical form is what makes them one: at least the 12-row bitmap scan and the
    # 3,000-row Index Scan of ix_users_email on every version.
    assert raw_differences >= len(VERSIONS)


# What the recordings of one case show differently on different versions, after normalization.
VERSION_DIFFERENCES = {
    ("boolean_not_indexed", INDEXED): "a known instability (check_plan_stability, 15): the "
    "fresh state keeps Filter (NOT users.archived) beside the Index Cond, ANALYZE drops it; "
    "16 and 18 drop it in every state",
    ("three_table_join_far_filter", INDEXED): "a known instability: the join order follows the "
    "statistics (check_plan_stability: 18's fresh state joins users to posts first, its stale "
    "state joins as 15 and 16 do)",
    ("left_join_unindexed_child", INDEXED): "16 derives items.user_id = $1 through the LEFT "
    "JOIN (no Join Filter); 15 keeps the Join Filter",
    ("left_join_unindexed_child", INDEXED_WITH): "as above",
    ("max_aggregate_indexed", INDEXED): "18 names the InitPlan without (returns $0) and drops "
    "IS NOT NULL on a NOT NULL column",
    ("not_in_subquery", INDEXED): "18 prints the hashed SubPlan as ANY (... .col1)",
    ("not_in_subquery", INDEXED_WITH): "as above",
    ("or_same_column", INDEXED): "18 turns status = $1 OR status = $2 into = ANY (ARRAY[...])",
}
SORT_OVER_BITMAP_CASES = (("filter_order_limit", INDEXED_WITH), ("lateral_top_n", INDEXED_WITH))
SORT_OVER_BITMAP = (
    "plans.py: _gives_order drops a Sort over a (canonical) bitmap scan only when the sort keys "
    "lead the index; with (author_id, created_at) and author_id = ? in the Index Cond the index "
    "gives created_at order too, so 18's bitmap scan + Sort and 15/16's plain Index Scan of the "
    "same index stay two trees (a snapshot changes when the planner flips between them)"
)


def _trees_by_version() -> dict[tuple[str, str], dict[int, str]]:
    return {
        (case, which): {major: key(tree(recording(case, major), which)) for major in VERSIONS}
        for case in CASES
        for which in (INDEXED, INDEXED_WITH)
        if recording(case, 15).has(which)
    }


def test_a_case_normalizes_alike_on_every_version() -> None:
    differ = {plan for plan, trees in _trees_by_version().items() if len(set(trees.values())) > 1}
    assert differ - set(SORT_OVER_BITMAP_CASES) == set(VERSION_DIFFERENCES)


def test_a_sort_an_index_gives_after_its_equality_columns_is_no_change() -> None:
    trees = _trees_by_version()
    for plan in SORT_OVER_BITMAP_CASES:
        assert len(set(trees[plan].values())) == 1, plan


def test_known_instabilities_show_their_recorded_state(major: int) -> None:
    """check_plan_stability.py reports, after normalization, cases whose indexed plan changes
    with the database's history; the recordings hold the fresh state of each:
    keyset_pagination (VACUUM adds a Sort over the row-comparison Index Scan),
    two_candidate_indexes (ANALYZE switches from ix_posts_status to ix_posts_author_id).
    update_from_join, unstable when only the Index Cond moves, is one tree once the Join Filter
    moves too (test_an_inner_nested_loop_s_sides_are_unordered)."""
    keyset = tree(recording("keyset_pagination", major))
    assert [n.node_type for n in keyset.walk()] == ["Limit", "Index Scan"]
    (scan,) = [n for n in tree(recording("two_candidate_indexes", major)).walk()]
    assert (scan.index, scan.properties) == (
        "ix_posts_status",
        {"Index Cond": "(posts.status = ?)", "Filter": "(posts.author_id = ?)"},
    )


def test_normalize_does_not_change_the_plan(major: int) -> None:
    for_each_case(major, _normalize_does_not_change_the_plan)


def _normalize_does_not_change_the_plan(rec: Recording) -> None:
    for which, plan in rec.plans():
        before = copy.deepcopy(plan)
        tree(rec, which)
        assert plan == before
