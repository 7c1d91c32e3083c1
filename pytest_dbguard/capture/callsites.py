"""Call sites: the first frame of the user's own code behind a statement.

Walking the stack is the expensive part of capture, so every file's classification (user
code or library) is cached by file name, and ``find`` returns a frame's code and line: the
call site is named only when asked.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import NamedTuple

try:  # async engines run the driver inside a greenlet; the caller is in its parent
    from greenlet import getcurrent as _current_greenlet
except ImportError:  # pragma: no cover - greenlet is installed with SQLAlchemy on most platforms
    _current_greenlet = None


SiteKey = tuple[CodeType, int]  # a user frame's code and line: a call site not yet named

# What a file's frames are, for the walk: the user's code, SQLAlchemy (its event dispatch apart),
# another library (whose frames between the user's and SQLAlchemy's are a wrapper or, called by
# SQLAlchemy's event dispatch, a hook), or neutral ground (the standard library, pytest,
# drivers, the plugin).
USER, SQLALCHEMY, LIBRARY, NEUTRAL, SQLALCHEMY_EVENT = 0, 1, 2, 3, 4
_NEUTRAL = frozenset(
    ("_pytest", "pytest", "pluggy", "greenlet", "psycopg", "psycopg2", "asyncpg", "pytest_dbguard")
)


class CallPath(NamedTuple):
    """Where a sampled run came from: its call site, the user frame that called the call
    site's function (``None`` when pytest or a library did), and the library whose event hook
    sent the statement, if one did."""

    site: SiteKey | None
    caller: SiteKey | None
    hook: str | None


_NO_PATH = CallPath(None, None, None)


@dataclass(frozen=True, slots=True)
class CallSite:
    """Where in the user's code a statement was sent from."""

    path: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno} in {self.function}"


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots.update(site.getsitepackages())
    roots.add(site.getusersitepackages())
    # the plugin itself, the whole package (in an editable install it is no site-packages)
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for module_name in ("sqlalchemy", "_pytest", "pluggy", "greenlet", "psycopg", "asyncpg"):
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, "__file__", None):
            roots.add(os.path.dirname(os.path.abspath(module.__file__ or "")))
    return tuple(sorted(os.path.join(os.path.abspath(root), "") for root in roots if root))


def _matches_module(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


_CALLER_DEPTH = 8  # frames looked at above a call site for the loop that calls it
_MAX_SITES = 20_000  # call sites cached per test before the cache restarts
_COMPREHENSIONS = (".<listcomp>", ".<dictcomp>", ".<setcomp>", ".<genexpr>")


def _readable_name(qualname: str) -> str:
    """``digest.<locals>.<listcomp>`` -> ``digest``: the function the user wrote."""
    while qualname.endswith(_COMPREHENSIONS):
        qualname = qualname.rsplit(".", 1)[0]
    return qualname.replace(".<locals>", "")


class CallSiteFinder:
    """Finds the user's frame; ``library_modules`` and ``user_modules`` override the default
    rule (code outside the standard library and installed packages is the user's)."""

    def __init__(
        self,
        rootdir: str,
        library_modules: Iterable[str] = (),
        user_modules: Iterable[str] = (),
    ) -> None:
        self._rootdir = os.path.join(os.path.abspath(rootdir), "")
        self._library_roots = _library_roots()
        self._library_modules = tuple(library_modules)
        self._user_modules = tuple(user_modules)
        self._kind: dict[str, int] = {}  # by file name: USER, SQLALCHEMY, LIBRARY or NEUTRAL
        self._display_path: dict[str, str] = {}
        self._sites: dict[SiteKey, CallSite] = {}

    def _classify(self, frame: FrameType) -> int:
        filename = frame.f_code.co_filename
        module = str(frame.f_globals.get("__name__", ""))
        if _matches_module(module, self._user_modules):
            kind = USER
        elif module.startswith("sqlalchemy.event."):
            kind = SQLALCHEMY_EVENT
        elif module == "sqlalchemy" or module.startswith("sqlalchemy."):
            kind = SQLALCHEMY
        elif _matches_module(module, self._library_modules) or filename.startswith("<"):
            kind = LIBRARY
        elif not os.path.abspath(filename).startswith(self._library_roots):
            kind = USER
        elif (top := module.partition(".")[0]) in _NEUTRAL or top in sys.stdlib_module_names:
            kind = NEUTRAL
        else:
            kind = LIBRARY
        self._kind[filename] = kind
        if kind == USER:
            self._display_path[filename] = self._relative(filename)
        return kind

    def _relative(self, filename: str) -> str:
        path = os.path.abspath(filename)
        if path.startswith(self._rootdir):
            return os.path.relpath(path, self._rootdir).replace(os.sep, "/")
        return path

    def start_test(self) -> None:
        """Call sites are named for one test only. A suite has many distinct call sites, and
        a cache kept for the session holds each one alive: those long-lived objects bring the
        garbage collector's full collections forward, into the tests (in the benchmark, one
        40 ms full collection moved into the call phases)."""
        self._sites = {}

    def is_user(self, frame: FrameType) -> bool:
        known = self._kind.get(frame.f_code.co_filename)
        return (self._classify(frame) if known is None else known) == USER

    def name(self, key: SiteKey) -> CallSite:
        """The call site a key from ``find`` stands for (named when first asked for)."""
        site = self._sites.get(key)
        if site is None:
            if len(self._sites) >= _MAX_SITES:
                self._sites.clear()
            code, lineno = key
            name = _readable_name(code.co_qualname)
            site = CallSite(self._display_path[code.co_filename], lineno, name)
            self._sites[key] = site
        return site

    def find_path(self) -> CallPath:
        """The first user frame above the caller of ``find_path``, as a key (its code and
        line), and what the N+1 rules also need: the next user frame above it (the loop that
        calls a helper), and the library whose event hook ran the statement: a library's frame
        called by SQLAlchemy's event dispatch (a versioning extension's flush listener), not a
        library's Session subclass that SQLAlchemy calls (SQLModel's ``Session.execute``).

        The hot path of sampling: a walk up the stack with one dictionary look-up per frame
        (each file's classification is cached); a key costs a tuple, and its ``CallSite`` is
        built by ``name`` only when a message or a rule asks for it, once per test and key."""
        kinds = self._kind
        frame: FrameType | None = sys._getframe(2)  # noqa: SLF001 (CPython's documented fast frame access)
        seen_sqlalchemy = False
        library: str | None = None  # a library frame entered from SQLAlchemy, being looked at
        hook: str | None = None
        while frame is not None:
            kind = kinds.get(frame.f_code.co_filename)
            if kind is None:
                kind = self._classify(frame)
            if kind == USER:
                return CallPath((frame.f_code, frame.f_lineno), self._caller(frame.f_back), hook)
            if kind == LIBRARY:
                if seen_sqlalchemy and library is None and hook is None:
                    library = str(frame.f_globals.get("__name__", "")).partition(".")[0]
            elif kind in (SQLALCHEMY_EVENT, SQLALCHEMY):
                if library is not None and hook is None and kind == SQLALCHEMY_EVENT:
                    hook = library
                library = None
                seen_sqlalchemy = True
            frame = frame.f_back
        return self._path_across_greenlets(True, hook)

    def _caller(self, frame: FrameType | None) -> SiteKey | None:
        """The next user frame within a few frames above the call site (a loop calling a
        helper, perhaps through a decorator). Bounded: above a test function the stack is
        pytest's all the way up, and walking it for every sampled run costs more than the rest
        of capture."""
        for _ in range(_CALLER_DEPTH):
            if frame is None:
                return None
            if self.is_user(frame):
                return (frame.f_code, frame.f_lineno)
            frame = frame.f_back
        return None

    def _path_across_greenlets(self, with_caller: bool, hook: str | None) -> CallPath:
        """Async engines run the driver call in a child greenlet: continue the walk in the
        parent greenlets, where the awaiting coroutine of the user's code is suspended."""
        if _current_greenlet is None:
            return _NO_PATH
        greenlet = _current_greenlet().parent
        while greenlet is not None:
            frame: FrameType | None = greenlet.gr_frame
            while frame is not None:
                if self.is_user(frame):
                    caller = self._caller(frame.f_back) if with_caller else None
                    return CallPath((frame.f_code, frame.f_lineno), caller, hook)
                frame = frame.f_back
            greenlet = greenlet.parent
        return _NO_PATH
