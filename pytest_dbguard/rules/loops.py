"""Whether a call site is inside a loop of its own function: read from the source, and only
for the call site of a finding (never while capturing).

An N+1 names the loop to fix: the call site itself when its line is in a ``for`` loop or a
comprehension, otherwise the user frame that called it (a helper called once per row)."""

from __future__ import annotations

import ast
import functools
import linecache
from types import CodeType

_LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp)
_LOOPS_AND_GENERATORS = (*_LOOPS, ast.GeneratorExp)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def in_loop(code: CodeType, lineno: int) -> bool | None:
    """True when ``lineno`` is inside a loop of the function ``code`` runs (None: unknown)."""
    if code.co_name.startswith("<") and code.co_name != "<module>":
        return True  # a comprehension's or generator expression's own code (before 3.12)
    tree = _parse(code.co_filename)
    if tree is None:
        return None
    function = _function_at(tree, code.co_firstlineno)
    if function is None:
        return None
    return _loop_around(function, lineno)


@functools.lru_cache(maxsize=64)
def _parse(filename: str) -> ast.Module | None:
    source = "".join(linecache.getlines(filename))
    if not source:
        return None
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _function_at(tree: ast.Module, firstlineno: int) -> ast.AST | None:
    """The function whose code starts at ``firstlineno`` (decorators included), or the
    module."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            starts = [node.lineno, *(decorator.lineno for decorator in node.decorator_list)]
            if firstlineno in starts:
                return node
    return tree if firstlineno == 1 else None


def _loop_around(function: ast.AST, lineno: int) -> bool:
    """A loop of this function (not of a nested one) whose body holds ``lineno``."""
    pending = list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        if isinstance(node, _FUNCTIONS):
            continue
        start = getattr(node, "lineno", None)
        end = getattr(node, "end_lineno", None)
        if start is not None and end is not None and not start <= lineno <= end:
            continue
        if isinstance(node, _LOOPS_AND_GENERATORS):
            return True
        pending.extend(ast.iter_child_nodes(node))
    return False
