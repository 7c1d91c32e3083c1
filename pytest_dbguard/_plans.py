"""Plans: EXPLAIN JSON normalized into a stable tree, kept apart from its volatile figures.

The tree keeps what a reviewer compares (node types, relations, indexes, join types,
strategies, sort and group keys, conditions), with parameter values and SQLAlchemy's numbered
aliases normalized. Estimated cost and rows are carried beside it, compared with a tolerance.
Trees render to an indented text that reads like psql's EXPLAIN and parses back exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._fingerprint import fingerprint

# EXPLAIN JSON keys kept in the tree, in the order they are rendered.
_PROPERTIES = (
    "Join Type",
    "Strategy",
    "Partial Mode",
    "Operation",
    "Command",
    "Scan Direction",
    "Subplan Name",
    "CTE Name",
    "Function Name",
    "Hash Cond",
    "Merge Cond",
    "Index Cond",
    "Recheck Cond",
    "Join Filter",
    "Filter",
    "Sort Key",
    "Presorted Key",
    "Group Key",
)
#: The keys of a plan node that hold a condition.
CONDITIONS = frozenset(
    {"Hash Cond", "Merge Cond", "Index Cond", "Recheck Cond", "Join Filter", "Filter"}
)
# The type a driver gave a parameter depends on its value (psycopg sends 2 as smallint and
# 40000 as integer), so a cast on a parameter is not part of the plan's shape.
_TYPE_NAME = (
    r"(?:character varying|double precision|bit varying|time(?:stamp)? with(?:out)? time zone"
    r"|\"?[A-Za-z_][\w.]*\"?)"
)
_TYPE_MODIFIERS = r"(?:\((?:\?(?:, ?\?)*|\.\.\.)\))?(?:\[\])*"
_PARAMETER_CAST = re.compile(rf"\?(?:::{_TYPE_NAME}{_TYPE_MODIFIERS})+")


@dataclass
class PlanNode:
    node_type: str
    relation: str | None = None
    alias: str | None = None
    index: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    children: list[PlanNode] = field(default_factory=list)
    total_cost: float = 0.0
    rows: int = 0

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

    def walk(self) -> list[PlanNode]:
        nodes = [self]
        for child in self.children:
            nodes += child.walk()
        return nodes


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


class _Aliases:
    """SQLAlchemy numbers its aliases (``users_1``, ``anon_2``) by their place in the statement;
    they are renumbered by their place in the plan so that unrelated edits do not show."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def add(self, alias: str, relation: str | None) -> str:
        if alias not in self.names:
            base = relation or re.sub(r"_\d+$", "", alias)
            self._counts[base] = self._counts.get(base, 0) + 1
            self.names[alias] = f"{base}_{self._counts[base]}"
        return self.names[alias]

    def apply(self, text: str) -> str:
        if not self.names:
            return text
        pattern = r"\b(" + "|".join(map(re.escape, self.names)) + r")\b(?=\.)"
        return re.sub(pattern, lambda match: self.names[match.group(1)], text)


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child)


def normalize_condition(condition: str) -> str:
    """A plan condition without parameter values or the casts drivers put on them."""
    return _PARAMETER_CAST.sub("?", fingerprint(condition))


def normalize(plan: dict[str, Any]) -> PlanNode:
    """Turn EXPLAIN (FORMAT JSON)'s ``Plan`` into a ``PlanNode`` tree."""
    aliases = _Aliases()
    _collect_aliases(plan, aliases)
    return _node(plan, aliases)


def _collect_aliases(plan: dict[str, Any], aliases: _Aliases) -> None:
    alias = plan.get("Alias")
    if alias and alias != plan.get("Relation Name"):
        aliases.add(alias, plan.get("Relation Name"))
    for child in plan.get("Plans", ()):
        _collect_aliases(child, aliases)


def _node(plan: dict[str, Any], aliases: _Aliases) -> PlanNode:
    relation = plan.get("Relation Name")
    alias = plan.get("Alias")
    properties = {}
    for key in _PROPERTIES:
        if key == "Scan Direction" and plan.get(key) == "Forward":
            continue  # the default: only a backward scan says something
        if key in plan:
            value = aliases.apply(_text(plan[key]))
            if key in CONDITIONS:
                value = normalize_condition(value)
            properties[key] = value
    return PlanNode(
        node_type=plan["Node Type"],
        relation=relation,
        alias=aliases.names.get(alias) if alias and alias != relation else None,
        index=plan.get("Index Name"),
        properties=properties,
        children=[_node(child, aliases) for child in plan.get("Plans", ())],
        total_cost=round(float(plan.get("Total Cost", 0.0)), 2),
        rows=int(plan.get("Plan Rows", 0)),
    )


def render(node: PlanNode, *, figures: bool = True, depth: int = 0) -> list[str]:
    """The tree as indented text: ``-> Index Scan using ix on items  (cost=8.17 rows=1)``."""
    indent = "  " + "     " * depth
    label = node.node_type
    if node.index:
        label += f" using {node.index}"
    if node.relation:
        label += f" on {node.relation}" + (f" {node.alias}" if node.alias else "")
    elif node.alias:
        label += f" on ({node.alias})"
    if figures:
        label += f"  (cost={node.total_cost:.2f} rows={node.rows})"
    lines = [f"{indent}-> {label}"]
    lines += [f"{indent}     {key}: {value}" for key, value in node.properties.items()]
    for child in node.children:
        lines += render(child, figures=figures, depth=depth + 1)
    return lines


_NODE_LINE = re.compile(
    r"^(?P<indent> *)-> (?P<type>.+?)(?: using (?P<index>\S+))?"
    r"(?: on (?:\((?P<subalias>[^)]+)\)|(?P<relation>\S+)(?: (?P<alias>\S+))?))?"
    r"  \(cost=(?P<cost>\d+(?:\.\d+)?) rows=(?P<rows>\d+)\)$"
)
_PROPERTY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Z][A-Za-z ]*): (?P<value>.*)$")


class PlanSyntaxError(ValueError):
    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(problem)
        self.offset = offset  # the line within the plan text


def parse(lines: list[str]) -> PlanNode:
    """Parse ``render(...)``'s output back into a tree; ``PlanSyntaxError`` names the line."""
    stack: list[tuple[int, PlanNode]] = []
    root: PlanNode | None = None
    for offset, line in enumerate(lines):
        node_match = _NODE_LINE.match(line)
        if node_match:
            depth = _depth(len(node_match.group("indent")), offset)
            node = PlanNode(
                node_type=node_match.group("type"),
                relation=node_match.group("relation"),
                alias=node_match.group("alias") or node_match.group("subalias"),
                index=node_match.group("index"),
                total_cost=float(node_match.group("cost")),
                rows=int(node_match.group("rows")),
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
            if key not in _PROPERTIES:
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
