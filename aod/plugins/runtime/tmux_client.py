"""What every tmux client aod runs shares: the environment it runs in and the names it may use.

A leaf below the runtime (aod/plugins/runtime/tmux.py) and its live viewers
(aod/plugins/runtime/tmux_viewers.py), so that neither has to import the other for them.

May import: proc, plugins/runtime (values and errors).
"""

from __future__ import annotations

import re
from typing import Final

from aod.plugins.runtime import RuntimeError_
from aod.proc import child_env

NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]+")

# Variables tmux itself reads from the client's environment; an aod that runs inside somebody's
# tmux must not make the dedicated server think it is nested.
_TMUX_CLIENT_VARIABLES: Final = ("TMUX", "TMUX_PANE")


def client_env() -> dict[str, str]:
    """The environment of every tmux client aod runs. The first command may start the server,
    whose environment every agent inherits: the user's environment minus systemd's private
    handles (not the tool defaults), and minus tmux's own variables (see above)."""
    env = child_env(tool=False)
    for key in _TMUX_CLIENT_VARIABLES:
        env.pop(key, None)
    return env


def validate_name(name: str) -> str:
    """Return `name` if it is usable as a runtime session name, else raise RuntimeError_.

    tmux gives `:` and `.` meaning in targets (and rewrites them in session names), so only
    letters, digits, `_` and `-` are allowed.
    """
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise RuntimeError_(
            f"invalid runtime session name {name!r}: use letters, digits, '_' and '-' only"
        )
    return name
