"""The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium), headless, driven by
Playwright's sync API. Never `playwright install`: the browser comes from the system's package
manager (.ci/run installs it), Playwright only drives it (executable_path).

    with browser_page() as page:          # skips the test when chromium or playwright is missing
        page.goto(url)

The sync API suits a plain (non-async) test function: the suite runs in trio mode, and only
`async def` tests run inside trio, so Playwright's own event loop never meets it.

Each page records what the browser complained about (`problems`): uncaught exceptions, console
errors, and Content-Security-Policy refusals; tests assert it stays empty, so an inline script or
style the CSP blocks fails a test instead of silently breaking the page.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("AOD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # containers and CI runners as root have no user namespaces for it
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1440, "height": 900}


def _playwright() -> Any:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"the dashboard's browser tests need Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the dashboard's browser tests need Playwright for Python (pip install -e '.[test]')")
    return sync_playwright


@contextmanager
def browser_page() -> Iterator[Any]:
    """A page in a fresh headless Chromium with a user data dir of its own, closed afterwards."""
    sync_playwright = _playwright()
    profile = Path(tempfile.mkdtemp(prefix="aod-chromium-"))
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT,
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.problems = []  # type: ignore[attr-defined]
                page.on("pageerror", lambda error: page.problems.append(f"uncaught: {error}"))
                page.on("console", lambda message: _console(page, message))
                yield page
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _console(page: Any, message: Any) -> None:
    text = message.text
    if message.type == "error" or "Content Security Policy" in text or "Refused to" in text:
        page.problems.append(f"console {message.type}: {text}")


def screenshot(page: Any, name: str, locator: Any = None, height: int | None = None) -> None:
    """Saved only when $AOD_SCREENSHOTS names a folder (docs/dashboard/ holds the committed ones).
    `height`: a taller window for the picture, so a long panel is shown whole."""
    folder = os.environ.get("AOD_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    if height:
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    try:
        (locator or page).screenshot(path=str(Path(folder) / name))
    finally:
        if height:
            page.set_viewport_size(VIEWPORT)
