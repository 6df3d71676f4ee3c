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
