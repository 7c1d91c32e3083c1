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

try:  # async engines run the driver inside a greenlet; the caller is in its parent
    from greenlet import getcurrent as _current_greenlet
except ImportError:  # pragma: no cover - greenlet is installed with SQLAlchemy on most platforms
    _current_greenlet = None


SiteKey = tuple[CodeType, int]  # a user frame's code and line: a call site not yet named


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
    roots.add(os.path.dirname(os.path.abspath(__file__)))  # the plugin itself
    for module_name in ("sqlalchemy", "_pytest", "pluggy", "greenlet", "psycopg", "asyncpg"):
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, "__file__", None):
            roots.add(os.path.dirname(os.path.abspath(module.__file__ or "")))
    return tuple(sorted(os.path.join(os.path.abspath(root), "") for root in roots if root))


def _matches_module(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


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
        self._user_file: dict[str, bool] = {}
        self._display_path: dict[str, str] = {}
        self._sites: dict[SiteKey, CallSite] = {}

    def _classify(self, frame: FrameType) -> bool:
        filename = frame.f_code.co_filename
        module = str(frame.f_globals.get("__name__", ""))
        if _matches_module(module, self._user_modules):
            is_user = True
        elif _matches_module(module, self._library_modules) or filename.startswith("<"):
            is_user = False
        else:
            path = os.path.abspath(filename)
            is_user = not path.startswith(self._library_roots)
        self._user_file[filename] = is_user
        if is_user:
            self._display_path[filename] = self._relative(filename)
        return is_user

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
        known = self._user_file.get(frame.f_code.co_filename)
        return self._classify(frame) if known is None else known

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

    def find(self) -> SiteKey | None:
        """The first user frame above the caller of ``find``, as a key (its code and line).

        The hot path of sampling: a walk up the stack with one dictionary look-up per frame
        (each file's classification is cached), and a key costs a tuple; its ``CallSite`` (a
        path relative to the rootdir, a readable function name) is built by ``name`` only when
        a message or the N+1 check asks for it, once per test and key.
        """
        user_file = self._user_file
        frame: FrameType | None = sys._getframe(2)  # noqa: SLF001 (CPython's documented fast frame access)
        while frame is not None:
            known = user_file.get(frame.f_code.co_filename)
            if known is None:
                known = self._classify(frame)
            if known:
                return (frame.f_code, frame.f_lineno)
            frame = frame.f_back
        return self._find_across_greenlets()

    def _find_across_greenlets(self) -> SiteKey | None:
        """Async engines run the driver call in a child greenlet: continue the walk in the
        parent greenlets, where the awaiting coroutine of the user's code is suspended."""
        if _current_greenlet is None:
            return None
        greenlet = _current_greenlet().parent
        while greenlet is not None:
            frame: FrameType | None = greenlet.gr_frame
            while frame is not None:
                if self.is_user(frame):
                    return (frame.f_code, frame.f_lineno)
                frame = frame.f_back
            greenlet = greenlet.parent
        return None
