"""The store's project registry, session-id reservation and outbox, on real files."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from aod.model import Project
from aod.store import NoSuchSession, StaleRevision, Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state")
    store.prepare()
    return store


def project(name: str = "web", **changes: object) -> Project:
    return Project(name=name, path="/src/web", default_branch="main", **changes)  # type: ignore[arg-type]


async def test_projects_round_trip_survive_a_new_store_and_refuse_stale_writes(store: Store) -> None:
    stored = await store.put_project(project(), 0)
    assert stored.rev == 1
    with pytest.raises(StaleRevision):
        await store.put_project(project(agent="codex"), 0)
    reopened = Store(store.root)
    assert [p.name for p in await reopened.list_projects()] == ["web"]
    assert (await reopened.get_project("web")) == stored


async def test_removed_project_is_archived_not_deleted(store: Store) -> None:
    await store.put_project(project(), 0)
    assert await store.remove_project("web") is True
    assert await store.get_project("web") is None
    assert await store.remove_project("web") is False
    assert (store.root / "archive" / "projects" / "web.json").exists()


async def test_corrupt_project_is_quarantined(store: Store) -> None:
    (store.root / "projects" / "bad.json").write_text("{not json")
    await store.put_project(project(), 0)
    assert [p.name for p in await store.list_projects()] == ["web"]
    assert any("bad.json" in p.name for p in (store.root / "quarantine").iterdir())


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "x" * 64, "a\nb"])
async def test_hostile_project_names_never_become_paths(store: Store, name: str) -> None:
    with pytest.raises(ValueError):
        await store.get_project(name)


async def test_session_ids_are_unique_under_concurrency_and_never_reused(store: Store) -> None:
    ids: list[str] = []

    async def reserve() -> None:
        ids.append(await store.reserve_session_id("web"))

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(reserve)
    assert sorted(ids, key=lambda i: int(i.split("-")[1])) == [f"web-{n}" for n in range(1, 21)]
    await store.release_session_id("web-20")
    assert not (store.root / "sessions" / "web-20").exists()
    # A released or archived number is not handed out again.
    assert await Store(store.root).reserve_session_id("web") == "web-21"


async def test_outbox_is_ordered_durable_and_completes(store: Store) -> None:
    session_id = await store.reserve_session_id("web")
    first = await store.enqueue(session_id, "one\nline two", "user", "t")
    second = await store.enqueue(session_id, "two", "user", "t")
    assert (first.seq, second.seq) == (1, 2)
    assert [d.text for d in await Store(store.root).pending_deliveries(session_id)] == [
        "one\nline two",
        "two",
    ]
    await store.complete_delivery(session_id, 1)
    assert [d.seq for d in await store.pending_deliveries(session_id)] == [2]
    await store.complete_delivery(session_id, 2)
    assert (await store.enqueue(session_id, "three", "user", "t")).seq == 3  # seq never repeats


async def test_enqueue_for_an_unknown_session_is_refused(store: Store) -> None:
    with pytest.raises(NoSuchSession):
        await store.enqueue("nope-1", "x", "user", "t")
