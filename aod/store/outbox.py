"""The outbox: `sessions/<id>/outbox/<seq>.json`, messages waiting to be delivered to a
session's agent, numbered by `outbox/seq`, listed in order, their attempts counted on the file,
removed once delivered (or given up).

May import: aod.store.state, aod.store.errors, aod.store.files, aod.model, msgspec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import msgspec

from aod.model import Delivery
from aod.store.errors import NoSuchSession
from aod.store.files import fsync_dir
from aod.store.state import StateDir, operation

OUTBOX_DIR: Final = "outbox"


class Outbox:
    def __init__(self, state: StateDir) -> None:
        self.state = state

    def _dir(self, session_id: str) -> Path:
        return self.state.session_dir(session_id) / OUTBOX_DIR

    def _message(self, session_id: str, seq: int) -> Path:
        return self._dir(session_id) / f"{seq:08d}.json"

    @operation("enqueue")
    def enqueue(
        self, session_id: str, text: str, source: str, queued_at: str, fingerprint: str = "", marker: str = ""
    ) -> Delivery:
        directory = self.state.session_dir(session_id)
        outbox = directory / OUTBOX_DIR
        with self.state.lock_for(f"outbox:{session_id}"):
            if not self.state.is_dir(directory):
                raise NoSuchSession(session_id)
            self.state.mkdir(outbox)
            seq_file = outbox / "seq"
            try:
                seq = int(self.state.read(seq_file).strip() or b"0") + 1
            except (FileNotFoundError, ValueError):
                seq = 1 + max((int(p.stem) for p in outbox.glob("*.json") if p.stem.isdecimal()), default=0)
            self.state.replace(seq_file, str(seq).encode())
            delivery = Delivery(
                seq=seq, text=text, source=source, queued_at=queued_at, fingerprint=fingerprint, marker=marker
            )
            self.state.replace(self._message(session_id, seq), msgspec.json.encode(delivery))
            return delivery

    @operation("pending_deliveries")
    def pending(self, session_id: str) -> list[Delivery]:
        outbox = self._dir(session_id)
        with self.state.lock_for(f"outbox:{session_id}"):
            self.state.guard(outbox)
            try:
                paths = sorted(p for p in outbox.glob("*.json") if p.stem.isdecimal())
            except FileNotFoundError:
                return []
            pending = []
            for path in paths:
                try:
                    pending.append(msgspec.json.decode(self.state.read(path), type=Delivery))
                except FileNotFoundError:
                    continue
                except msgspec.DecodeError as error:
                    self.state.quarantine(path, str(error))
            return pending

    @operation("complete_delivery")
    def complete(self, session_id: str, seq: int) -> bool:
        """Remove a message from the outbox; True for the one call that removed it."""
        path = self._message(session_id, seq)
        with self.state.lock_for(f"outbox:{session_id}"):
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            fsync_dir(path.parent)
            return True

    @operation("note_delivery_attempt")
    def note_attempt(self, session_id: str, seq: int, attempts: int) -> None:
        """Record on the queued message how many delivery attempts it has had (a budget that
        survives restarts)."""
        path = self._message(session_id, seq)
        with self.state.lock_for(f"outbox:{session_id}"):
            try:
                delivery = msgspec.json.decode(self.state.read(path), type=Delivery)
            except (FileNotFoundError, msgspec.DecodeError):
                return  # completed meanwhile, or quarantined by the next listing
            updated = msgspec.structs.replace(delivery, attempts=attempts)
            self.state.replace(path, msgspec.json.encode(updated))
