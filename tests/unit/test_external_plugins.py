"""aod/plugins/external.py and aod/config/plugins.py without installed packages: the slots'
checks fit the built-ins, the built-in names agree, typos name the choices, guards hold."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aod.config import NOTIFIER_KINDS, Config
from aod.config.plugins import BUILTIN_KINDS, known_kind
from aod.forges import SCM_KINDS, TRACKER_KINDS
from aod.model import RuntimeHandle
from aod.plugins import external
from aod.plugins.agent.registry import BUILTIN


def test_the_built_in_names_agree_with_the_plugins() -> None:
    assert sorted(BUILTIN_KINDS["agent"]) == sorted(BUILTIN)
    assert BUILTIN_KINDS["scm"] == SCM_KINDS and BUILTIN_KINDS["tracker"] == TRACKER_KINDS
    assert sorted(BUILTIN_KINDS["notifier"]) == sorted(NOTIFIER_KINDS)
    for slot in external.SLOTS:
        assert sorted(external.BUILTIN_MODULES[slot]) == sorted(BUILTIN_KINDS[slot])


def test_the_built_ins_fit_their_slots_checks() -> None:
    """What external.py requires is what aod's own plugins have: a plugin like them passes."""
    import importlib

    for slot in external.SLOTS:
        for name, where in external.BUILTIN_MODULES[slot].items():
            module, attr = where.split(":")
            cls = getattr(importlib.import_module(module), attr)
            assert external.problems(slot, cls, name, whole=False) == [], (slot, name)
    for name, factory in BUILTIN.items():
        assert external.problems("agent", factory(), name) == [], name


def test_what_a_plugin_lacks_is_named() -> None:
    class Half:
        kind = "other"
        echoes_input = True

        def create(self) -> None: ...

        snapshot = 3

    found = external.problems("runtime", Half(), "half")
    assert any("missing method(s) server_of" in f for f in found)
    assert "not callable: snapshot" in found
    assert "its kind is 'other', not the entry point's name 'half'" in found


def test_a_kind_that_is_neither_built_in_nor_installed_lists_the_choices() -> None:
    assert known_kind("runtime", "process") == "process"
    with pytest.raises(ValueError, match=r"unknown runtime 'tmxu': use tmux, process, container, kubernetes; .*aod\.runtimes"):
        known_kind("runtime", "tmxu")
    with pytest.raises(ValidationError, match="unknown tracker 'linaer'"):
        Config.model_validate({"projects": {"app": {"tracker": "linaer"}}})
    with pytest.raises(ValidationError, match="unknown workspace 'wortkree'"):
        Config.model_validate({"workspace": {"kind": "wortkree"}})
    with pytest.raises(ValidationError, match="'ntfy'"):
        Config.model_validate({"notifiers": {"team": {"kind": "nope"}}})


def test_a_guarded_runtime_says_unknown_instead_of_raising() -> None:
    class Crashing:
        kind = "crashing"

        def liveness(self, handle: object, snapshot: object) -> str:
            raise ZeroDivisionError("boom")

        def server_of(self, handle: object) -> str:
            raise KeyError("boom")

    record = external.PluginRecord(slot="runtime", name="crashing", distribution="pkg", version="1", module="pkg:Crashing")
    guarded = external.guard("runtime", Crashing(), record)
    handle = RuntimeHandle(kind="crashing", name="s-1")
    assert guarded.liveness(handle, {}) == "unknown"
    assert guarded.server_of(handle) == ""
    assert guarded.kind == "crashing"


def test_unknown_plugins_are_unavailable_with_a_hint() -> None:
    with pytest.raises(external.PluginUnavailable, match="no agent plugin 'nothing-here' is installed"):
        external.instance("agent", "nothing-here")


def test_an_installed_kind_is_accepted_and_an_scm_only_plugin_needs_a_tracker(monkeypatch: pytest.MonkeyPatch) -> None:
    from aod.config import plugins

    monkeypatch.setattr(plugins, "installed_names", lambda slot: ["acme"] if slot in ("scm", "runtime") else [])
    config = Config.model_validate({"runtime": {"kind": "acme"}, "projects": {"a": {"scm": "acme", "tracker": "local"}}})
    assert config.runtime.kind == "acme" and config.projects["a"].scm == "acme"
    with pytest.raises(ValidationError, match="forge: 'acme' is an scm plugin, not a tracker: set `tracker` too"):
        Config.model_validate({"projects": {"a": {"forge": "acme"}}})
    with pytest.raises(ValidationError, match="unknown runtime 'acme2': use tmux, process, container, kubernetes, acme "):
        Config.model_validate({"runtime": {"kind": "acme2"}})


def test_a_notifier_plugin_gets_its_own_keys_and_its_crash_is_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    import trio

    from aod.config import PluginNotifierConfig, plugins
    from aod.notify import NotificationRouter
    from aod.plugins.notifier import Notification

    monkeypatch.setattr(plugins, "installed_names", lambda slot: ["pager", "crasher"] if slot == "notifier" else [])
    sent: list[tuple[str, dict[str, object], str]] = []

    class Pager:
        def __init__(self, name: str, settings: dict[str, object]) -> None:
            self.name, self.settings = name, settings

        async def send(self, notification: Notification) -> None:
            sent.append((self.name, self.settings, notification.title))

    class Crasher(Pager):
        async def send(self, notification: Notification) -> None:
            raise ZeroDivisionError("the plugin's bug")

    made = [
        external.PluginRecord(slot="notifier", name="pager", distribution="aod-pager", version="1.0", module="m:Pager", factory=Pager),
        external.PluginRecord(slot="notifier", name="crasher", distribution="aod-crasher", version="2.0", module="m:Crasher", factory=Crasher),
    ]
    monkeypatch.setattr(external, "records", lambda reload=False: made)
    config = Config.model_validate({"notifiers": {
        "oncall": {"kind": "pager", "priorities": ["urgent"], "room": "ops"},
        "bad": {"kind": "crasher", "retries": 0},
        "desk": {"kind": "desktop"},
    }})
    oncall = config.notifiers["oncall"]
    assert isinstance(oncall, PluginNotifierConfig) and oncall.settings() == {"room": "ops"}
    assert list(config.notifiers) == ["oncall", "bad", "desk"]
    with pytest.raises(ValidationError, match="'pager' or 'crasher'|'crasher'"):
        Config.model_validate({"notifiers": {"x": {"kind": "pagr"}}})

    router = NotificationRouter(lambda: config)
    note = Notification(id="n1", title="CI failed", body="", priority="urgent", session=None, project=None, kind="ci-failed", url=None, time="2026-01-01T00:00:00Z")

    async def main() -> dict[str, str]:
        return await router.send_now(note)

    results = trio.run(main)
    assert sent == [("oncall", {"room": "ops"}, "CI failed")]
    assert results["oncall"] == "ok" and results["bad"].startswith("internal error: ZeroDivisionError")
