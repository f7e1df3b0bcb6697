"""One logging setup for uvicorn's loggers and ours: text or JSON lines, a context per request or socket,
and no token in any line.

The context (request id, connection id, user id) lives in context variables: a request or a socket runs in
its own task, so what it sets stays with its own lines (and those of the tasks it starts).
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
connection_id: ContextVar[str | None] = ContextVar("connection_id", default=None)
user_id: ContextVar[str | None] = ContextVar("user_id", default=None)
_CONTEXT = (("request_id", request_id), ("connection_id", connection_id), ("user_id", user_id))

REDACTED = "[redacted]"
# A value ends at a quote or a backslash too, so redacting a JSON line never eats the escape of its quote.
_SECRETS = re.compile(
    r"(?P<query>(?:access_token|refresh_token)=)[^&\s\"'\\\]]+"  # query strings and form bodies
    r"|(?P<protocol>access_token\.)[^,\s\"'\\\]]+"  # the WebSocket subprotocol that carries a token
    r"|(?P<bearer>[Bb]earer\s+)[^\s\"'\\,]+"  # Authorization headers
    r"|eyJ[\w-]*\.[\w-]+\.[\w-]*"  # any JWT, wherever it appears
)


_public: set[str] = set()


def mark_public(value: str) -> None:
    """Never redact ``value``: a key that is public by design (the anon key supabase-js puts in browsers)."""
    _public.add(value)


def redact(text: str) -> str:
    """``text`` with every token replaced by ``[redacted]`` (the name of the parameter stays)."""
    return _SECRETS.sub(_keep_prefix, text)


def _keep_prefix(match: re.Match[str]) -> str:
    prefix = match.group("query") or match.group("protocol") or match.group("bearer") or ""
    if match.group(0)[len(prefix) :] in _public:
        return match.group(0)
    return prefix + REDACTED


@contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """Set context fields (``request_id``, ``connection_id``, ``user_id``) for the lines logged inside."""
    variables = dict(_CONTEXT)
    tokens = [(variables[name], variables[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def bind(**values: str | None) -> None:
    """Set context fields for the rest of the current task, which must serve one thing only (a socket): its
    context is its own copy, so there is nothing to undo, and nothing is held for the task's life."""
    variables = dict(_CONTEXT)
    for name, value in values.items():
        variables[name].set(value)


def context() -> dict[str, str]:
    """The context fields that are set now."""
    return {name: value for name, variable in _CONTEXT if (value := variable.get()) is not None}


class ContextFilter(logging.Filter):
    """Copies the context onto each record, so both formatters can print it."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, variable in _CONTEXT:
            setattr(record, name, variable.get())
        return True


class TextFormatter(logging.Formatter):
    """``time level logger: message [request_id=… connection_id=… user_id=…]``, tokens redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{name}={value}" for name, _ in _CONTEXT if (value := getattr(record, name, None)))
        if fields:
            head, newline, rest = line.partition("\n")  # after the message, before a traceback
            line = f"{head} [{fields}]{newline}{rest}"
        return redact(line)


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the context, ``exc_info``."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601 in UTC
            reserved_attrs=[*_RESERVED, "color_message", *(name for name, _ in _CONTEXT)],
            json_ensure_ascii=False,
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        for name, _ in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                log_data[name] = value

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# The standard attributes of a LogRecord, which the JSON formatter must not repeat as extra fields.
_RESERVED = list(vars(logging.makeLogRecord({}))) + ["message", "asctime", "taskName"]

_HANDLED = ("server", "protocol", "uvicorn")
"""Loggers with the handler; ``uvicorn.error`` and ``uvicorn.access`` reach it through ``uvicorn``."""


def log_config(level: str, fmt: str) -> dict[str, Any]:
    """A ``dictConfig`` for our loggers and uvicorn's (pass it to ``uvicorn.run(log_config=…)``).

    Other libraries log through the root logger at ``WARNING`` (httpx's per-request ``INFO`` lines stay out).
    """
    level = level.upper()
    handler = {"handlers": ["stderr"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"line": {"()": JsonLineFormatter if fmt == "json" else TextFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            **{name: handler for name in _HANDLED},
            "uvicorn.error": {"level": level, "propagate": True},
            "uvicorn.access": {"level": level, "propagate": True},
        },
    }


def configure(level: str, fmt: str) -> None:
    logging.config.dictConfig(log_config(level, fmt))


def log_task_failure(logger: logging.Logger, task: asyncio.Task[Any]) -> None:
    """Done callback for a background task (``add_done_callback(partial(log_task_failure, logger))``): the
    exception it ended with is logged with its traceback and the task's name, never lost."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.error("%s failed", task.get_name(), exc_info=exc)
