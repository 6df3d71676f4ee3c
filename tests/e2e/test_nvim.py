"""The Neovim plugin (aod/editors/nvim) end to end: Debian's `nvim --headless` with the plugin
installed by `aoctl editor install nvim` into the test's XDG_DATA_HOME (found there by Neovim's
own packpath, no runtimepath tricks), against a real aod with the scripted agent in a private
tmux server. Keys are typed with nvim_input, as a person would; the list buffer is waited on
with a deadline. A screenshot of `:Ao` is taken from nvim running in a tmux pane
(docs/editors/nvim.png, the pane's capture drawn by xterm.js, with $AOD_SCREENSHOTS set)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, start_fleet
from tests.support.nvim import Nvim, nvim_env
from tests.support.terminal_shot import terminal_screenshot
from tests.support.tmux import tmux_server

pytestmark = pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim is not installed (apt-get install neovim)")

REPO = Path(__file__).resolve().parents[2]
MESSAGE = 'line one with "double" and \'single\' quotes\n  second: ünïcødé ✓ — 日本語\n\nlast line \\ backslash $HOME `tick`'


def _install(fleet: Fleet) -> Path:
    result = fleet.aod.aoctl("editor", "install", "nvim")
    assert result.returncode == 0, result.stderr
    dest = Path(fleet.aod.env()["XDG_DATA_HOME"]) / "nvim/site/pack/ao/start/ao"
    assert (dest / "plugin/ao.lua").is_file() and (dest / "lua/ao/rpc.lua").is_file()
    return dest


def _rows(text: str) -> dict[str, list[str]]:
    """Session id -> the row's cells (split on 2+ spaces), from the list buffer's text."""
    rows = {}
    for line in text.splitlines()[2:]:
        cells = [c for c in line.split("  ") if c.strip()]
        if cells:
            rows[cells[0].strip()] = [c.strip() for c in cells]
    return rows


def _notes(nv: Nvim) -> list[str]:
    return nv.lua("return _G.ao_test_notes")


def test_nvim_plugin_lists_updates_sends_kills_and_shows_readiness(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux)
        _install(fleet)
        first = fleet.ok("spawn", "--task", "first task")["id"]
        second = fleet.ok("spawn", "--task", "second task")["id"]
        for sid in (first, second):
            fleet.wait_state(sid, lambda s: s["state"] == "working", f"{sid} to work", 60)

        with Nvim(nvim_env(fleet.aod.env(), fleet.aod.root)) as nv:
            # vim.notify recorded (the plugin looks it up at each call).
            nv.lua("_G.ao_test_notes = {}; vim.notify = function(m) table.insert(_G.ao_test_notes, m) end")
            assert nv.lua("return vim.g.loaded_ao") is True  # loaded from the pack dir aoctl wrote
            assert nv.lua("return require('ao').statusline()") == ""  # not started yet
            nv.command("Ao")
            text = nv.wait_buffer(lambda t: first in t and second in t, "the list to show both sessions")
            lines = text.splitlines()
            assert lines[1].split() == ["ID", "STATE", "ACTIVITY", "PR", "AGE", "TITLE"]
            rows = _rows(text)
            assert rows[first][1] == "working" and rows[first][-1] == "first task"
            assert rows[second][1] == "working" and rows[second][3] == "-"
            assert "0 need you" in lines[0]
            assert nv.lua("return require('ao').statusline()") == ""

            # A state change reaches the list by events: the agent asks, the session needs you.
            fleet.aod.result("human.ask", {"id": first, "question": "Which database should I use?"})
            text = nv.wait_buffer(lambda t: _rows(t)[first][1] == "needs_input", "the list to show needs_input")
            assert "1 needs you" in text.splitlines()[0]
            assert nv.lua("return require('ao').statusline()") == "ao: 1 needs you"
            wait_for(lambda: any(first in n and "needs input" in n for n in _notes(nv)), 10, "the needs-input notification")

            # s: a message buffer, typed, sent with <C-s>; it reaches the agent byte-exact.
            nv.command(f"call search('^{second} ')")
            assert nv.lua("return require('ao.list').current().id") == second
            nv.input("s")
            wait_for(lambda: nv.lua("return vim.b.ao_send_to") == second, 10, "the message buffer")
            typed = MESSAGE.replace("<", "<lt>").replace("\n", "<CR>")
            # Typed as it is: no automatic indent carried from one line to the next.
            nv.command("setlocal noautoindent nosmartindent indentexpr=")
            nv.input("i" + typed)
            wait_for(lambda: nv.lua("return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')") == MESSAGE, 10, "the typed message")
            nv.input("<C-s>")
            fleet.wait_received(second, MESSAGE, 60)
            assert fleet.received(second)[-1] == MESSAGE
            wait_for(lambda: any(f"sent to {second}" in n for n in _notes(nv)), 10, "the sent notification")

            # :w sends too (the buffer is acwrite).
            nv.command(f"AoSend {first}")
            nv.lua("vim.api.nvim_buf_set_lines(0, 0, -1, false, {'Postgres.', 'Thanks!'})")
            nv.command("write")
            fleet.wait_received(first, "Postgres.\nThanks!", 60)

            # r: readiness in a float (no PR yet for these sessions).
            nv.command("Ao")
            nv.command(f"call search('^{second} ')")
            nv.input("r")
            wait_for(lambda: nv.lua("return vim.api.nvim_win_get_config(0).relative") == "editor", 10, "the readiness float")
            float_text = nv.lua("return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')")
            assert float_text == f"{second} has no PR yet"
            nv.input("q")
            wait_for(lambda: nv.lua("return vim.api.nvim_win_get_config(0).relative") == "", 10, "the float to close")

            # h: the history float has the journal.
            nv.command(f"call search('^{second} ')")
            nv.input("h")
            wait_for(lambda: nv.lua("return vim.api.nvim_win_get_config(0).relative") == "editor", 10, "the history float")
            hist = nv.lua("return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')")
            assert hist.startswith(f"history of {second}") and "delivery" in hist
            nv.input("q")
            wait_for(lambda: nv.lua("return vim.api.nvim_win_get_config(0).relative") == "", 10, "the float to close")

            # k: asks first; "n" keeps it running, "y" kills it.
            nv.command(f"call search('^{second} ')")
            nv.input("kn<CR>")
            wait_for(lambda: any("not killed" in n for n in _notes(nv)), 10, "the refusal")
            assert fleet.session(second)["state"] == "working"
            nv.input("ky<CR>")
            fleet.wait_state(second, lambda s: s["state"] == "killed", "the kill", 30)
            nv.wait_buffer(lambda t: _rows(t)[second][1] == "killed", "the list to show the kill")

            # a: attach in a terminal split, running the argv aod answered (tmux attach).
            nv.command("Ao")
            nv.command(f"call search('^{first} ')")
            nv.input("a")
            wait_for(lambda: nv.lua("return vim.bo.buftype") == "terminal", 10, "the terminal split")
            assert nv.lua("return #vim.api.nvim_tabpage_list_wins(0)") == 2
            clients = lambda: subprocess.run(["tmux", "-L", tmux, "list-clients", "-F", "#{session_name}"], capture_output=True, text=True).stdout.split()
            wait_for(lambda: first in clients(), 15, "the terminal to attach to the session's tmux")
            nv.command("stopinsert")
            nv.command("bwipeout!")
            wait_for(lambda: first not in clients(), 15, "the terminal client to go")

            # <CR>: the worktree in a new tab, with a tab-local cwd.
            workspace = fleet.session(first)["workspace"]
            nv.command(f"call search('^{first} ')")
            nv.input("<CR>")
            wait_for(lambda: nv.lua("return #vim.api.nvim_list_tabpages()") == 2, 10, "the new tab")
            assert nv.lua("return vim.fn.getcwd(-1, 0)") == workspace

            # :checkhealth ao
            nv.command("checkhealth ao")
            health = nv.lua("return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')")
            assert "ERROR" not in health, health
            assert "OK" in health and "answers" in health and "mode 700" in health, health

            # :help ao, from the doc/tags shipped with the plugin.
            nv.command("help ao-keys")
            assert nv.lua("return vim.api.nvim_buf_get_name(0)").endswith("pack/ao/start/ao/doc/ao.txt")

            # The daemon goes away and comes back: the plugin says so and reconnects by itself.
            fleet.aod.stop()
            wait_for(lambda: any("lost the connection" in n for n in _notes(nv)), 20, "the lost-connection message")
            assert nv.lua("return require('ao').statusline()") == "ao: offline"
            fleet.aod.start()
            wait_for(lambda: any("reconnected" in n for n in _notes(nv)), 30, "the reconnection")
            nv.command("Ao")
            nv.wait_buffer(lambda t: first in t and t.startswith("aod: "), "the list after reconnecting")


def test_nvim_screenshot_in_a_tmux_pane(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux, tmux_server() as screen:
        fleet = start_fleet(make_aod, tmp_path, tmux)
        _install(fleet)
        for task in ("add the login page", "fix the flaky test"):
            sid = fleet.ok("spawn", "--task", task)["id"]
            fleet.wait_state(sid, lambda s: s["state"] == "working", f"{sid} to work", 60)
        fleet.aod.result("human.ask", {"id": sid, "question": "Retry or skip?"})
        env = nvim_env(fleet.aod.env(), fleet.aod.root)
        env["TERM"] = "xterm-256color"
        argv = ["env", *[f"{k}={v}" for k, v in env.items() if k.startswith(("AOD_", "XDG_", "HOME", "PATH"))],
                "nvim", "-u", "NORC", "-i", "NONE", "-n", "+Ao"]
        subprocess.run(["tmux", "-L", screen, "new-session", "-d", "-x", "120", "-y", "12", "-s", "shot", *argv], check=True)

        def capture(*flags: str) -> str:
            return subprocess.run(["tmux", "-L", screen, "capture-pane", "-p", *flags, "-t", "shot"], capture_output=True, text=True).stdout

        wait_for(lambda: "needs_input" in capture() and "1 needs you" in capture(), 30, "the :Ao list in the pane")
        plain, colour = capture(), capture("-e")
        # The picture (docs/editors/nvim.png): the capture drawn by xterm.js in Chromium, when
        # $AOD_SCREENSHOTS says where.
        terminal_screenshot(colour, "nvim.png", cols=120, rows=12)
        lines = plain.splitlines()
        assert lines[0].startswith("aod: 2 sessions, 1 needs you") and lines[1].split()[:3] == ["ID", "STATE", "ACTIVITY"]
        assert "\x1b[" in colour
