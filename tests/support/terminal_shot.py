"""A picture of a terminal: what `tmux capture-pane -p -e` saw (text with its colours as ANSI
escapes) drawn by xterm.js — the dashboard's own terminal, from aod/web/assets — in headless
Chromium, saved as a PNG. The editors' tests use it for docs/editors/ (only when
$AOD_SCREENSHOTS names a folder, as the dashboard's screenshots)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.browser import browser_page

ASSETS = Path(__file__).parents[2] / "aod" / "web" / "assets" / "node_modules" / "@xterm" / "xterm"


def terminal_screenshot(ansi: str, name: str, *, cols: int, rows: int) -> Path | None:
    """Draw `ansi` (a capture's lines) on a `cols` × `rows` terminal; the PNG's path, or None
    when $AOD_SCREENSHOTS is unset (nothing is drawn then)."""
    folder = os.environ.get("AOD_SCREENSHOTS")
    if not folder:
        return None
    out = Path(folder) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    script = (ASSETS / "lib" / "xterm.js").read_text()
    css = (ASSETS / "css" / "xterm.css").read_text()
    # A capture's lines end in "\n"; a terminal needs "\r\n" to go back to the first column.
    text = ansi.rstrip("\n").replace("\n", "\r\n")
    with browser_page() as page:
        page.set_content(f"<html><head><style>{css} body{{margin:0;background:#1e1e1e}}</style></head><body><div id=t></div></body></html>")
        page.add_script_tag(content=script)
        page.evaluate(
            """([text, cols, rows]) => new Promise((done) => {
                const term = new Terminal({cols, rows, fontSize: 14, theme: {background: "#1e1e1e"}});
                term.open(document.getElementById("t"));
                term.write(text, done);
            })""",
            [text, cols, rows],
        )
        page.locator(".xterm-screen").screenshot(path=str(out))
    return out


