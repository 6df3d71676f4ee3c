"""The state directory. Nothing else in aod reads or writes it (docs/storage.md).

    <root>/aod.lock                      flock'd by the running aod; holds its pid
    <root>/sessions/<id>/session.json    the session record (pretty JSON, atomic replace)
    <root>/sessions/<id>/journal.jsonl   append-only events, one JSON object per line
    <root>/sessions/<id>/reactions.json  the reaction ledger; usage.json the usage reading
    <root>/sessions/<id>/pr.json         the PR as last seen (checks, log excerpts, comments)
    <root>/sessions/<id>/outbox/         messages waiting to be delivered to the agent
    <root>/projects/<name>.json          the project registry
    <root>/counters/<prefix>.json        the next session number of each prefix
    <root>/ledger/cost-YYYY-MM.jsonl     the cost ledger (outlives sessions)
    <root>/intake/<project>.json         the issues intake took (outlives sessions)
    <root>/groups/<id>.json              a group of attempts at one issue, and the one picked
    <root>/forge/<project>/              the local forge's issues, PRs and CI logs
    <root>/archive/<id>/                 ended sessions, moved here whole and kept
    <root>/quarantine/                   files that failed to decode, moved aside, never deleted
    <root>/ports.json                    the port blocks held by sessions (AO_PORT_BASE)
    <root>/web-token.json                the dashboard's token (a secret; 0600 like every file)

Guarantees: a crash at any instant leaves every record old or new, never torn; a write based on
a stale `rev` is refused (`StaleRevision`), so concurrent read-modify-write cycles cannot lose
updates; a record this aod cannot decode is quarantined and reported, and aod carries on.

The package, bottom up: `files` (the file primitives; never through a symbolic link), `codec`
(records as bytes), `errors`, `state` (the root every record kind shares: locks, quarantine
reporting, compare-and-set), one module per record kind (`sessions`, `journal`, `outbox`,
`session_files` for the ledger and usage, `tick` for what a tick reads of them, `cost`, `projects`, `ids`, `ports`, `forge`,
`web_token`, `intake`, `groups`), `instance` (the lock, the layout), `faces` (each operation's async and sync face, written
once) and `facade` (`Store`). Other modules import from `aod.store` only, the names below.

May import: its own modules.
"""

from aod.store.codec import encode_record
from aod.store.errors import AlreadyRunning, NoFreePorts, NoSuchSession, StaleRevision, UnsupportedSchema
from aod.store.facade import Store
from aod.store.files import Quarantined, replace_atomically
from aod.store.files import complete_lines_backwards as _complete_lines_backwards  # tests/unit/test_store.py
from aod.store.state import QuarantineCallback
from aod.store.tick import TickRead

__all__ = [
    "AlreadyRunning",
    "NoFreePorts",
    "NoSuchSession",
    "Quarantined",
    "QuarantineCallback",
    "StaleRevision",
    "TickRead",
    "Store",
    "UnsupportedSchema",
    "encode_record",
    "replace_atomically",
]
