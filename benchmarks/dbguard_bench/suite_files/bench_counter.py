"""The hand-written query counter pytest-dbguard's capture is compared with
(``-p bench_counter``): the least any counting plugin can do."""

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

count = 0


def _count(*_args: Any) -> None:
    global count
    count += 1


def pytest_configure() -> None:
    event.listen(Engine, "before_cursor_execute", _count)


def pytest_unconfigure() -> None:
    event.remove(Engine, "before_cursor_execute", _count)
