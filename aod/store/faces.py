"""Each store operation written once, as a plain synchronous method of its record kind, and
given its two faces here: `store.x(...)` for the daemon awaits it in a worker thread (with the
current task's limiter, aod.lanes.thread_limiter) so a slow disk never stalls the event loop;
`store.x_sync(...)` runs it in the calling thread (scripts, tests, threads). Both report the
files it quarantined in their caller's thread (for the async face: in the calling trio task,
after the worker thread has finished).

    @operation("get_session")            # in aod/store/sessions.py, on SessionRecords.get
    install(Store, (SessionRecords, ...))  # Store.get_session and Store.get_session_sync

May import: trio, aod.lanes, aod.store.state, aod.store.files.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import trio

from aod.lanes import thread_limiter
from aod.store.files import Quarantined
from aod.store.state import StateDir

Select = Callable[[Any], Callable[..., Any]]
"""From a Store, the bound method that does the work."""


class _Face:
    """A non-data descriptor: an instance may still shadow it (tests monkeypatch operations)."""

    def __init__(self, select: Select) -> None:
        self.select = select
        self.name = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, store: Any, owner: type | None = None) -> Any:
        if store is None:
            return self
        body = self.select(store)
        face = self.face(store.state, body)
        face.__name__, face.__doc__ = self.name, body.__doc__
        return face

    def face(self, state: StateDir, body: Callable[..., Any]) -> Callable[..., Any]:
        raise NotImplementedError


class _InThread(_Face):
    def face(self, state: StateDir, body: Callable[..., Any]) -> Callable[..., Any]:
        async def in_thread(*args: Any, **kwargs: Any) -> Any:
            found: list[Quarantined] = []
            call = functools.partial(body, *args, **kwargs)
            try:
                return await trio.to_thread.run_sync(state.collecting, found, call, limiter=thread_limiter())
            finally:
                state.announce(found)

        return in_thread


class _Inline(_Face):
    def face(self, state: StateDir, body: Callable[..., Any]) -> Callable[..., Any]:
        return lambda *args, **kwargs: _run_inline(state, functools.partial(body, *args, **kwargs))


def _run_inline(state: StateDir, call: Callable[[], Any]) -> Any:
    """Run `call` in this thread as one operation: what it quarantines is reported on return."""
    found: list[Quarantined] = []
    try:
        return state.collecting(found, call)
    finally:
        state.announce(found)


def install(store_class: type, kinds: tuple[type, ...]) -> None:
    """Give `store_class` both faces of every method its record kinds mark with
    @operation(name). A Store holds one instance of each kind in `store._parts[kind]`."""
    for kind in kinds:
        for attribute in dir(kind):
            name = getattr(getattr(kind, attribute), "store_operation", None)
            if name is None:
                continue
            name = name.format(noun=getattr(kind, "NOUN", ""))
            select = functools.partial(_method_of_part, kind=kind, attribute=attribute)
            for face, suffix in ((_InThread(select), ""), (_Inline(select), "_sync")):
                if name + suffix in store_class.__dict__:
                    raise TypeError(f"two store operations named {name + suffix}")
                face.__set_name__(store_class, name + suffix)
                setattr(store_class, name + suffix, face)


def _method_of_part(store: Any, kind: type, attribute: str) -> Callable[..., Any]:
    return getattr(store._parts[kind], attribute)
