from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.aod_process import AodProcess, aod_processes


@pytest.fixture
def make_aod() -> Iterator[Callable[..., AodProcess]]:
    """A factory of aod processes, each in its own temp dirs; all are stopped afterwards."""
    yield from aod_processes()


@pytest.fixture
def aod(make_aod: Callable[..., AodProcess]) -> AodProcess:
    """One running aod with default config."""
    return make_aod().start()


@pytest.fixture
def sink() -> Iterator[Any]:
    """A webhook receiver on loopback (tests/support/http_sink.py), closed afterwards."""
    from tests.support.http_sink import HttpSink

    receiver = HttpSink()
    yield receiver
    receiver.close()


@pytest.fixture
def short_dir() -> Iterator[Any]:
    from tests.support.aod_process import short_tempdir
    import shutil

    path = short_tempdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)
