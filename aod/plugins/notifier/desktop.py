"""The `desktop` notifier: a notification bubble on this machine.

Linux: `notify-send` (libnotify), macOS: `osascript`. Title and body are passed as arguments,
never as shell or AppleScript source, so no text in them can run anything.
"""

from __future__ import annotations

import sys

from aod import proc
from aod.plugins.notifier import Notification, NotifierError, cut, one_line, plain_text

# The freedesktop urgency levels; `critical` stays on screen until dismissed.
_URGENCY = {"urgent": "critical", "action": "normal", "warning": "normal", "info": "low"}
_INSTALL = {
    "notify-send": "install libnotify (Debian/Ubuntu: apt install libnotify-bin; Fedora: dnf "
    "install libnotify; Arch: pacman -S libnotify), or remove the desktop notifier",
    "osascript": "osascript ships with macOS; is /usr/bin on aod's PATH?",
}
# AppleScript reads the text from its argv: nothing in a title can close a string literal.
_APPLESCRIPT = (
    "-e", "on run argv",
    "-e", "display notification (item 2 of argv) with title (item 1 of argv)",
    "-e", "end run",
)


def _markup_escaped(text: str) -> str:
    # notify-send bodies are Pango-style markup to most notification servers: `<b>` would be bold
    # and a stray `<` could blank the body. Escaped, they show as typed.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class DesktopNotifier:
    def __init__(self, name: str, *, timeout: float, platform: str = sys.platform) -> None:
        self.name = name
        self.timeout = timeout
        self.platform = platform

    def argv(self, notification: Notification) -> list[str]:
        title = cut(one_line(notification.title), 200) or "aod"
        body = cut(plain_text(notification.body).strip(), 2000)
        link = one_line(notification.url or "")
        body = "\n".join(part for part in (body, link) if part)
        if self.platform == "darwin":
            return ["osascript", *_APPLESCRIPT, title, body]
        urgency = _URGENCY.get(notification.priority, "normal")
        # `--` ends the options: a title starting with `-` is still a title.
        return ["notify-send", "--app-name=aod", f"--urgency={urgency}", "--", title, _markup_escaped(body)]

    async def send(self, notification: Notification) -> None:
        argv = self.argv(notification)
        program = argv[0]
        try:
            result = await proc.run(argv, timeout=self.timeout)
        except proc.ToolMissing:
            raise NotifierError(f"{program} not found: {_INSTALL[program]}", retryable=False) from None
        except proc.ToolTimeout:
            raise NotifierError(f"{program} did not finish within {self.timeout:g}s", retryable=True) from None
        if not result.ok:
            # Usually no notification server on the session bus (yet): worth another try later.
            detail = cut(one_line(result.err), 200) or f"exit status {result.returncode}"
            hint = " (is a desktop session running, with DBUS_SESSION_BUS_ADDRESS set for aod?)"
            raise NotifierError(f"{program} failed: {detail}{hint if program == 'notify-send' else ''}", retryable=True)
