"""The contract module stays what clients can rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec

from aod import __version__
from aod.handlers import all_handlers
from aod.protocol import ERROR_DOCS, METHODS, ErrorCode, Request, openrpc_document

ROOT = Path(__file__).resolve().parents[2]


def test_every_method_has_exactly_one_handler() -> None:
    assert set(all_handlers()) == set(METHODS)


def test_every_error_code_is_documented_and_in_range() -> None:
    codes = {v for k, v in vars(ErrorCode).items() if not k.startswith("_")}
    assert codes == set(ERROR_DOCS)
    for code in codes:
        assert -32768 <= code <= -32000
    docs = (ROOT / "docs" / "protocol.md").read_text()
    for code, (name, _) in ERROR_DOCS.items():
        assert str(code) in docs and name in docs, f"{code} {name} missing from docs/protocol.md"


def test_every_method_is_documented() -> None:
    docs = (ROOT / "docs" / "protocol.md").read_text()
    for name in METHODS:
        assert f"`{name}`" in docs, f"{name} missing from docs/protocol.md"


def test_committed_openrpc_document_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "openrpc.json").read_text())
    assert committed == json.loads(json.dumps(openrpc_document(__version__))), (
        "regenerate with: aod openrpc > docs/openrpc.json"
    )


def test_request_encoding_leaves_out_unset_members_but_never_jsonrpc() -> None:
    assert json.loads(msgspec.json.encode(Request(method="m"))) == {"jsonrpc": "2.0", "method": "m"}
    assert json.loads(msgspec.json.encode(Request(method="m", id=None, params={}))) == {
        "jsonrpc": "2.0", "method": "m", "id": None, "params": {}
    }


def test_protocol_module_imports_only_stdlib_and_msgspec() -> None:
    code = (
        "import sys; import aod.protocol; "
        "print(' '.join(sorted(m for m in sys.modules if not m.startswith('_'))))"
    )
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert {"trio", "pydantic", "yaml", "structlog", "click"}.isdisjoint(loaded)
