"""The dashboard's token on disk (aod/store/web_token.py): minted once, rotated on request, a
0600 file that is never reached through a link."""

from __future__ import annotations

import os
from pathlib import Path

from aod.store import Store


def make_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state")
    store.prepare()
    return store


def test_minted_on_first_use_then_kept_until_rotated(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.get_web_token_sync() is None
    first, minted = store.mint_web_token_sync(rotate=False, now="2026-01-01T00:00:00Z")
    assert minted and len(first.token) == 64 and int(first.token, 16) >= 0
    again, minted = store.mint_web_token_sync(rotate=False, now="later")
    assert not minted and again.token == first.token
    rotated, minted = store.mint_web_token_sync(rotate=True, now="2026-01-02T00:00:00Z")
    assert minted and rotated.token != first.token and rotated.created_at == "2026-01-02T00:00:00Z"
    assert store.get_web_token_sync() == rotated
    path = store.root / "web-token.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert Store(store.root).get_web_token_sync() == rotated  # read again from disk by a new aod


def test_a_link_at_its_place_is_quarantined_never_followed(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("not aod's\n")
    os.symlink(elsewhere, store.root / "web-token.json")
    assert store.get_web_token_sync() is None
    token, minted = store.mint_web_token_sync(rotate=False, now="now")
    assert minted and elsewhere.read_text() == "not aod's\n"
    assert not (store.root / "web-token.json").is_symlink()
    assert [p.name for p in (store.root / "quarantine").iterdir()][0].endswith("web-token.json")
    assert store.get_web_token_sync() == token


def test_an_unreadable_token_is_quarantined_and_a_new_one_minted(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    (store.root / "web-token.json").write_text("{torn")
    token, minted = store.mint_web_token_sync(rotate=False, now="now")
    assert minted and len(token.token) == 64
    assert any((store.root / "quarantine").iterdir())
