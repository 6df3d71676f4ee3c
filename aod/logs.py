"""structlog set-up: JSON lines for journald and files, readable output on a terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import structlog


def configure_logging(level: str = "info", fmt: str = "auto", redact: Callable[[Any], Any] | None = None) -> None:
    """`redact` is applied to every value of every line (aod's log is stored too: journald)."""
    stream = sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if as_json:
        processors += [structlog.processors.dict_tracebacks]
    if redact is not None:
        processors.append(lambda _logger, _method, event: {k: redact(v) for k, v in event.items()})
    processors.append(renderer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
