"""Plans: EXPLAIN JSON normalized into a stable tree, rendered as text a reviewer reads and
parsed back exactly.

The tree keeps what a reviewer compares (node types, relations, indexes, join types,
strategies, conditions and keys), with parameter values, the casts drivers put on them and
SQLAlchemy's numbered aliases normalized. Figures (estimated cost and rows) are kept beside
the structure, and only for *as-is* plans.

*Indexed* plans (the probe's default profile, see ``probe/profile.py``) are made canonical: what
a small table's statistics decide is left out, so that the tree does not depend on the
database's history. An Index Only Scan, or a Bitmap Heap Scan over one Bitmap Index Scan, is an
Index Scan of that index; in an inner Nested Loop the two sides are listed in name order and the
conditions that join them (a parameterized Index Cond of the inner side) are the join's
``Join Cond``, because which side PostgreSQL reads first follows the tables' sizes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..capture.fingerprint import fingerprint
from .identifiers import qualified, quote

# EXPLAIN JSON keys kept in the tree, in the order they are rendered.
PROPERTIES = (
    "Join Type",
    "Strategy",
    "Partial Mode",
    "Operation",
    "Command",
    "Scan Direction",
    "Subplan Name",
    "CTE Name",
    "Function Name",
    "Join Cond",  # canonical indexed plans only
    "Hash Cond",
    "Merge Cond",
    "Index Cond",
    "Recheck Cond",
    "Join Filter",
    "Filter",
    "One-Time Filter",
    "Sort Key",
    "Presorted Key",
    "Group Key",
)
#: The keys of a plan node that hold a condition.
CONDITIONS = frozenset(
    {
        "Join Cond",
        "Hash Cond",
        "Merge Cond",
        "Index Cond",
        "Recheck Cond",
        "Join Filter",
        "Filter",
        "One-Time Filter",
    }
)
_INDEX_SCANS = ("Index Scan", "Index Only Scan")
# The type a driver gave a parameter depends on its value (psycopg sends 2 as smallint and
# 40000 as integer), so a cast on a parameter is not part of the plan's shape.
_TYPE_NAME = (
    r"(?:character varying|double precision|bit varying|time(?:stamp)? with(?:out)? time zone"
    r"|\"?[A-Za-z_][\w.]*\"?)"
)
_TYPE_MODIFIERS = r"(?:\((?:\?(?:, ?\?)*|\.\.\.)\))?(?:\[\])*"
_PARAMETER_CAST = re.compile(rf"\?(?:::{_TYPE_NAME}{_TYPE_MODIFIERS})+")
# ($1)::text in a generic plan is $1::text (a cast of the parameter, which goes)
_GENERIC_PARAMETER = re.compile(r"\(\$\d+\)(?=::)|\$\d+")


@dataclass
class PlanNode:
    node_type: str
    relation: str | None = None  # as SQL names it (quoted, schema-qualified when needed)
    alias: str | None = None
    index: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    children: list[PlanNode] = field(default_factory=list)
    total_cost: float | None = None  # as-is plans only
    rows: int | None = None

    def structure(self) -> dict[str, Any]:
        """The tree without figures: what must not change unnoticed."""
        return {
            "node": self.node_type,
            "relation": self.relation,
            "alias": self.alias,
            "index": self.index,
            "properties": dict(self.properties),
            "children": [child.structure() for child in self.children],
        }

    def walk(self) -> Iterator[PlanNode]:
        yield self
        for child in self.children:
            yield from child.walk()


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child)


def normalize_text(text: str) -> str:
    """A plan condition or key without values: literals, ``$n`` parameters and the casts
    drivers put on parameters become ``?``."""
    return _PARAMETER_CAST.sub("?", fingerprint(_GENERIC_PARAMETER.sub("?", text)))


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


_NUMBERED_ALIAS = re.compile(r"^(?P<base>.+)_\d+$")


class _Aliases:
    """SQLAlchemy numbers its aliases (``users_1``, ``anon_2``) by their place in the statement;
    they are renumbered by their place in the plan so that unrelated edits do not show. Aliases
    a user wrote (``o``, ``u``) stay as they are."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def add(self, alias: str) -> None:
        numbered = _NUMBERED_ALIAS.match(alias)
        if alias in self.names or numbered is None:
            return
        base = str(numbered.group("base"))
        self._counts[base] = self._counts.get(base, 0) + 1
        self.names[alias] = f"{base}_{self._counts[base]}"

    def apply(self, text: str) -> str:
        if not self.names:
            return text
        pattern = r"(?<![\w.\"])(" + "|".join(map(re.escape, self.names)) + r")\b(?=\.)"
        return re.sub(pattern, lambda match: self.names[match.group(1)], text)


def normalize(
    plan: dict[str, Any],
    *,
    current_schema: str | None = None,
    canonical: bool = False,
    index_columns: dict[str, tuple[str | None, ...]] | None = None,
) -> PlanNode:
    """EXPLAIN (FORMAT JSON)'s ``Plan`` as a ``PlanNode`` tree; ``canonical`` for indexed plans
    (no figures, the canonical forms described above; ``index_columns`` tells the order a
    bitmap scan's index gives)."""
    aliases = _Aliases()
    for node in plan_nodes(plan):
        alias = node.get("Alias")
        if alias and alias != node.get("Relation Name"):
            aliases.add(alias)
    tree = _node(plan, aliases, current_schema, figures=not canonical)
    return _canonical(tree, index_columns or {}) if canonical else tree


def _node(
    plan: dict[str, Any], aliases: _Aliases, current_schema: str | None, *, figures: bool
) -> PlanNode:
    relation = plan.get("Relation Name")
    alias = plan.get("Alias")
    properties = {}
    for key in PROPERTIES:
        if key == "Scan Direction" and plan.get(key) == "Forward":
            continue  # the default: only a backward scan says something
        if key in plan:
            properties[key] = normalize_text(aliases.apply(_text(plan[key])))
    return PlanNode(
        node_type=plan["Node Type"],
        relation=qualified(plan.get("Schema"), relation, current_schema) if relation else None,
        alias=aliases.names.get(alias, alias) if alias and alias != relation else None,
        index=quote(plan["Index Name"]) if plan.get("Index Name") else None,
        properties=properties,
        children=[
            _node(child, aliases, current_schema, figures=figures)
            for child in plan.get("Plans", ())
        ],
        total_cost=round(float(plan.get("Total Cost", 0.0)), 2) if figures else None,
        rows=int(plan.get("Plan Rows", 0)) if figures else None,
    )


def _canonical(node: PlanNode, index_columns: dict[str, tuple[str | None, ...]]) -> PlanNode:
    node.children = [_canonical(child, index_columns) for child in node.children]
    node.properties.pop("Scan Direction", None)  # a backward walk, or a sort: same index
    if node.node_type == "Index Only Scan":
        node.node_type = "Index Scan"
    if node.node_type == "Bitmap Heap Scan" and len(node.children) == 1:
        (child,) = node.children
        if child.node_type == "Bitmap Index Scan":
            properties = dict(node.properties)
            properties.pop("Recheck Cond", None)
            if "Index Cond" in child.properties:
                properties["Index Cond"] = child.properties["Index Cond"]
            node.node_type, node.index, node.children = "Index Scan", child.index, []
            node.properties = _ordered(properties)
    if node.node_type == "Sort" and len(node.children) == 1:
        (child,) = node.children
        if _gives_order(child, node.properties.get("Sort Key", ""), index_columns):
            return child  # a bitmap scan lost the order its index gives: not a change
    if node.node_type == "Nested Loop" and node.properties.get("Join Type") == "Inner":
        _canonical_inner_join(node)
    return node


def _gives_order(
    node: PlanNode, sort_key: str, index_columns: dict[str, tuple[str | None, ...]]
) -> bool:
    """Whether an index scan's index gives the rows in ``sort_key``'s order: the sort keys are
    its key columns in order (in either direction), after the leading ones its Index Cond fixes
    by equality (an index on (author_id, created_at) with author_id = ? gives created_at's
    order)."""
    if node.node_type != "Index Scan" or node.index is None or not sort_key:
        return False
    keys = [
        re.sub(r"\s+(ASC|DESC|NULLS (FIRST|LAST))\b", "", key).strip()
        for key in sort_key.split(", ")
    ]
    name = node.alias or (node.relation or "").rsplit(".", 1)[-1]
    columns = list(index_columns.get(node.index.strip('"'), ()))
    fixed = node.properties.get("Index Cond", "")
    while columns and columns[0] and _fixed_by_equality(fixed, name, columns[0]):
        if keys and keys[0] in (f"{name}.{columns[0]}", columns[0]):
            break  # the key itself: it orders by it
        columns.pop(0)
    if len(keys) > len(columns):
        return False
    return all(
        key in (f"{name}.{column}", column) for key, column in zip(keys, columns, strict=False)
    )


def _fixed_by_equality(condition: str, name: str, column: str) -> bool:
    """Whether one part of ``condition`` is ``column = <a value, or another table's column>``."""
    side = rf"\(?(?:{re.escape(name)}\.)?\(?{re.escape(column)}\)?(?:::\w+)?\)?"
    pattern = rf"^\(?{side} = [^=]+$|^\(?[^=]+ = {side}$"
    return any(re.search(pattern, part) for part in split_and(condition))


def _canonical_inner_join(join: PlanNode) -> None:
    outer, inner = join.children if len(join.children) == 2 else (None, None)
    if outer is None or inner is None:
        return
    outer_names = _names(outer)
    moved: list[str] = split_and(join.properties.pop("Join Filter", ""))
    for node in inner.walk():
        for key in ("Index Cond", "Recheck Cond", "Filter"):
            condition = node.properties.get(key)
            if condition is None:
                continue
            kept: list[str] = []
            for part in split_and(condition):
                (moved if _references(part, outer_names) else kept).append(part)
            if kept:
                node.properties[key] = join_and(kept)
            else:
                del node.properties[key]
    if moved:
        parts = sorted({_ordered_equality(part) for part in moved})
        join.properties["Join Cond"] = join_and(parts)
    join.properties = _ordered(join.properties)
    join.children = sorted(join.children, key=lambda child: sorted(_names(child)))


def _ordered(properties: dict[str, str]) -> dict[str, str]:
    return {key: properties[key] for key in PROPERTIES if key in properties}


def _names(node: PlanNode) -> set[str]:
    """The names a subtree's conditions use for its relations (aliases, or the table)."""
    names = set()
    for child in node.walk():
        if child.alias:
            names.add(child.alias)
        elif child.relation:
            names.add(child.relation.rsplit(".", 1)[-1])
    return names


def _references(condition: str, names: set[str]) -> bool:
    return any(re.search(rf"(?<![\w\"]){re.escape(name)}\.", condition) for name in names)


_EQUALITY = re.compile(r"^\((?P<left>[^()=<>!]+?) = (?P<right>[^()=<>!]+?)\)$")


def _ordered_equality(part: str) -> str:
    """``(users.id = items.user_id)`` -> ``(items.user_id = users.id)``: one way to write a
    join equality, whichever side EXPLAIN put first."""
    match = _EQUALITY.match(part)
    if match is None:
        return part
    left, right = sorted((match.group("left"), match.group("right")))
    return f"({left} = {right})"


def _top_level(text: str) -> Iterator[tuple[int, int]]:
    """(index, depth) of each character of ``text`` outside quotes, the depth of parentheses
    counted before a ``(`` and after a ``)``."""
    depth, quote_char = 0, ""
    for index, char in enumerate(text):
        if quote_char:
            quote_char = "" if char == quote_char else quote_char
        elif char in "'\"":
            quote_char = char
        else:
            if char == ")":
                depth -= 1
            yield index, depth
            if char == "(":
                depth += 1


def split_and(condition: str) -> list[str]:
    """The parts of a condition joined by a top-level AND: ``((a = 1) AND (b = 2))`` ->
    ``["(a = 1)", "(b = 2)"]``."""
    text = condition.strip()
    closing = next((i for i, depth in _top_level(text) if depth == 0 and text[i] == ")"), -1)
    if not (text.startswith("(") and closing == len(text) - 1):
        return [text] if text else []
    inner = text[1:-1]
    cuts = [i for i, depth in _top_level(inner) if depth == 0 and inner.startswith(" AND ", i)]
    if not cuts:
        return [text]
    bounds = [0, *(i + 5 for i in cuts)]
    ends = [*cuts, len(inner)]
    return [inner[start:stop].strip() for start, stop in zip(bounds, ends, strict=True)]


def join_and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


# -- text -------------------------------------------------------------------------------------

_NAME = r'(?:"(?:[^"]|"")+"|[^\s"]+)'
_RELATION = rf"{_NAME}(?:\.{_NAME})?"


def render(node: PlanNode, *, depth: int = 0) -> list[str]:
    """The tree as indented text: ``-> Index Scan using ix on items  (cost=8.17 rows=1)``
    (figures only for as-is plans)."""
    indent = "  " + "     " * depth
    label = node.node_type
    if node.index:
        label += f" using {node.index}"
    if node.relation:
        label += f" on {node.relation}" + (f" {quote(node.alias)}" if node.alias else "")
    elif node.alias:
        label += f" on ({node.alias})"
    if node.total_cost is not None:
        label += f"  (cost={node.total_cost:.2f} rows={node.rows})"
    lines = [f"{indent}-> {label}"]
    lines += [f"{indent}     {key}: {value}" for key, value in node.properties.items()]
    for child in node.children:
        lines += render(child, depth=depth + 1)
    return lines


_NODE_LINE = re.compile(
    rf"^(?P<indent> *)-> (?P<type>[A-Z][A-Za-z ]*?)(?: using (?P<index>{_NAME}))?"
    rf"(?: on (?:\((?P<subalias>[^)]+)\)|(?P<relation>{_RELATION})(?: (?P<alias>{_NAME}))?))?"
    r"(?:  \(cost=(?P<cost>\d+(?:\.\d+)?) rows=(?P<rows>\d+)\))?$"
)
_PROPERTY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Z][A-Za-z -]*): (?P<value>.*)$")


class PlanSyntaxError(ValueError):
    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(problem)
        self.offset = offset  # the line within the plan text


def _unquote(name: str | None) -> str | None:
    if name is None or not name.startswith('"'):
        return name
    return name[1:-1].replace('""', '"')


def parse(lines: list[str]) -> PlanNode:
    """Parse ``render(...)``'s output back into a tree; ``PlanSyntaxError`` names the line."""
    stack: list[tuple[int, PlanNode]] = []
    root: PlanNode | None = None
    for offset, line in enumerate(lines):
        node_match = _NODE_LINE.match(line)
        if node_match:
            depth = _depth(len(node_match.group("indent")), offset)
            cost = node_match.group("cost")
            node = PlanNode(
                node_type=node_match.group("type"),
                relation=node_match.group("relation"),
                alias=_unquote(node_match.group("alias")) or node_match.group("subalias"),
                index=node_match.group("index"),
                total_cost=float(cost) if cost is not None else None,
                rows=int(node_match.group("rows")) if cost is not None else None,
            )
            while stack and stack[-1][0] >= depth:
                stack.pop()
            if not stack:
                if root is not None or depth != 0:
                    raise PlanSyntaxError(offset, "a plan has one root node, at the first level")
                root = node
            elif stack[-1][0] != depth - 1:
                raise PlanSyntaxError(offset, "a node is indented more than one level deeper")
            else:
                stack[-1][1].children.append(node)
            stack.append((depth, node))
            continue
        property_match = _PROPERTY_LINE.match(line)
        if property_match and stack:
            key = property_match.group("key")
            if key not in PROPERTIES:
                raise PlanSyntaxError(offset, f"unknown plan property {key!r}")
            stack[-1][1].properties[key] = property_match.group("value")
            continue
        raise PlanSyntaxError(offset, f"not a plan line: {line.strip()!r}")
    if root is None:
        raise PlanSyntaxError(0, "the plan is empty")
    return root


def _depth(indent: int, offset: int) -> int:
    if indent < 2 or (indent - 2) % 5:
        raise PlanSyntaxError(offset, "a plan node is not indented by a multiple of 5 spaces")
    return (indent - 2) // 5


def disable_cost_free(cost: float) -> float:
    """A cost without the 1e10 that PostgreSQL before 18 adds for each disabled node (a
    disabled node in a SubPlan adds it once per loop: whole multiples of 1e10)."""
    return cost % 1.0e10 if cost >= 1.0e10 else cost
