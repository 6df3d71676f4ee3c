"""Which project a request means, and what aod knows of it: SessionService on a real store and
real git repositories (no daemon)."""

from __future__ import annotations

from pathlib import Path

from aod.config import Config, parse_config
from aod.events import EventBus
from aod.proc import COUNTER
from aod.service import Plugins, SessionService
from aod.store import Store
from tests.support.fleet import git, make_repo


def _service(tmp_path: Path, config: Config) -> SessionService:
    store = Store(tmp_path / "state")
    store.acquire_lock()
    store.prepare()
    return SessionService(
        store=store, bus=EventBus(), config=lambda: config, plugins=Plugins(runtimes={}, workspaces={}),
        data_dir=tmp_path / "data", socket_path=tmp_path / "aod.sock",
    )


async def test_a_config_only_project_gets_its_remote_detected_once(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop")
    git(repo, "remote", "add", "upstream", "https://github.com/acme/shop.git")
    config = parse_config(f"projects:\n  shop: {{path: {repo}, forge: github}}\n", "c.yaml", Config)
    service = _service(tmp_path, config)

    first = await service.project("shop")
    assert (first.remote, first.remote_url) == ("upstream", "https://github.com/acme/shop.git")
    started = COUNTER.started
    for _ in range(5):  # as five ticks would
        assert (await service.project("shop")).remote_url == "https://github.com/acme/shop.git"
    assert COUNTER.started == started  # cached: no git per look
