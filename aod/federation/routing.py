"""PURE: addresses of sessions on other hosts, and the ids in what crosses a host's link.

A session of host NAME is `NAME/ID` here (its own aod calls it `ID`); a plain `ID` is this
machine's (`local/ID` too). Requests are forwarded with the id stripped, answers come back with
it prefixed, and the remote's events are re-published with `session: NAME/ID`.

No I/O, no imports of aod's daemon parts.
"""

from __future__ import annotations

import re
from typing import Any, Final

LOCAL: Final = "local"
HOST_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")

# Methods whose params name one session in these fields: forwarded to its host.
SESSION_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    **{m: ("id",) for m in (
        "session.get", "session.send", "session.hook", "session.report", "human.ask", "session.logs",
        "session.attach", "session.pause", "session.resume", "session.done", "session.kill",
        "session.restore", "session.history", "session.diff", "session.checkpoints", "session.rollback",
        "pr.open", "pr.review", "pr.show", "pr.merge",
    )},
}
# Fields of those params that name a session of the asker (stripped when of the same host).
ASKER_FIELDS: Final = ("by",)
# Keys of an answer whose string values are session ids of the host that answered.
_ID_KEYS: Final = ("id", "session", "stack_parent", "reviews")
# Where answers nest sessions (or rows naming sessions).
_NESTED: Final = ("sessions", "spawned", "overlaps", "killed")


class BadAddress(ValueError):
    """An address that names no host this aod knows, or is malformed."""


def split(address: str) -> tuple[str | None, str]:
    """`NAME/ID` → (NAME, ID); `ID` or `local/ID` → (None, ID)."""
    host, sep, rest = address.partition("/")
    if not sep:
        return None, address
    if not rest or "/" in rest or not HOST_RE.fullmatch(host):
        raise BadAddress(f"{address!r} is not a session address: use ID for this machine's sessions, HOST/ID for a host's")
    return (None, rest) if host == LOCAL else (host, rest)


def join(host: str, session_id: str) -> str:
    return f"{host}/{session_id}"


def strip_params(method: str, params: dict[str, Any], host: str) -> dict[str, Any]:
    """The params as the host's own aod takes them: its session ids bare; an asker of another
    host (or this machine) is left out, since that aod does not know it."""
    out = dict(params)
    for name in SESSION_FIELDS.get(method, ()):
        value = out.get(name)
        if isinstance(value, str):
            out[name] = split(value)[1]
    for name in ASKER_FIELDS:
        value = out.get(name)
        if isinstance(value, str):
            asker_host, bare = split(value)
            if asker_host == host:
                out[name] = bare
            else:
                out.pop(name)
    return out


def _prefix(value: Any, host: str) -> Any:
    if isinstance(value, str) and value and "/" not in value:
        return join(host, value)
    if isinstance(value, list):
        return [_prefix(v, host) for v in value]
    return value


def _is_session(obj: dict[str, Any]) -> bool:
    return "id" in obj and "project" in obj and "state" in obj and "runtime" in obj


def prefix_result(result: Any, host: str) -> Any:
    """An answer of host `host` as this aod gives it: its session ids prefixed `host/`, and each
    session it holds marked `host`. Journals and other free text are left as they are."""
    if isinstance(result, list):
        return [prefix_result(r, host) for r in result]
    if not isinstance(result, dict):
        return result
    out = dict(result)
    for key in _ID_KEYS:
        if key in out and isinstance(out[key], str):
            out[key] = _prefix(out[key], host)
    if _is_session(out):
        out["host"] = host
        if out.get("depends_on"):
            out["depends_on"] = [_prefix(d, host) for d in out["depends_on"]]
    for key in _NESTED:
        if isinstance(out.get(key), list):
            out[key] = [prefix_result(v, host) if isinstance(v, dict) else _prefix(v, host) for v in out[key]]
    return out


def event_fields(host: str, event: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]] | None:
    """A remote `event` notification's params as this aod re-publishes them: (kind, session, data),
    the session `host/ID`, the data with `host` and `remote_seq` added. None for events about the
    remote daemon itself (config, store), which are its own business."""
    kind = event.get("kind")
    session = event.get("session")
    if not isinstance(kind, str) or not isinstance(session, str) or not session:
        return None
    data = dict(event.get("data") or {})
    # `kind` and `session` are publish()'s own arguments: an event field of that name is renamed.
    for clash in ("kind", "session"):
        if clash in data:
            data[f"remote_{clash}"] = data.pop(clash)
    data["host"] = host
    if isinstance(event.get("seq"), int):
        data["remote_seq"] = event["seq"]
    return kind, join(host, session), data


def parse_target(target: str) -> tuple[str, int | None]:
    """`user@host[:port]` (or an ~/.ssh/config alias) → (destination, port). Refuses what ssh
    would read as an option."""
    dest, port = target, None
    if ":" in target and not target.startswith("["):
        head, _, tail = target.rpartition(":")
        if tail.isdecimal():
            dest, port = head, int(tail)
    if not dest or dest.startswith("-") or not re.fullmatch(r"[A-Za-z0-9._@%+-]+", dest):
        raise BadAddress(f"hosts: ssh target {target!r} is not `user@host[:port]` or a Host alias of ~/.ssh/config")
    if port is not None and not 0 < port < 65536:
        raise BadAddress(f"hosts: ssh port {port} is out of range")
    return dest, port


SSH_OPTIONS: Final = ("-o", "BatchMode=yes", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")
CONNECT_TIMEOUT: Final = ("-o", "ConnectTimeout=10")


def link_argv(target: str | None, command: list[str] | None, aoctl: list[str], ssh_config: str | None = None) -> list[str]:
    """What runs to reach a host: `command` verbatim when set, else ssh in batch mode (never a
    password prompt; host keys checked as ~/.ssh/config and known_hosts say) running the remote
    aoctl's stdio bridge. An argv, never a shell line."""
    if command:
        return list(command)
    if not target:
        raise BadAddress("a host needs `ssh` or `command`")
    dest, port = parse_target(target)
    return ["ssh", *_config(ssh_config), *SSH_OPTIONS, *CONNECT_TIMEOUT, *(["-p", str(port)] if port else []), dest, "--", *aoctl, "rpc", "--stdio"]


def _config(ssh_config: str | None) -> list[str]:
    return ["-F", ssh_config] if ssh_config else []


def attach_argv(target: str | None, remote: list[str], ssh_config: str | None = None) -> list[str]:
    """A remote session's attach: its aod's attach command run over `ssh -t` (a terminal there).
    A host reached by `command` only: the remote command as it is (it runs here)."""
    if not target:
        return list(remote)
    dest, port = parse_target(target)
    return ["ssh", "-t", *_config(ssh_config), *(["-p", str(port)] if port else []), dest, "--", *remote]
