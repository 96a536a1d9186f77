"""Logging: one event a line, each tagged with the request it belongs to, and nothing in it
that identifies an applicant.

Why: logs are read by more people, kept longer and copied to more places than the
database. Code logs references, never phone numbers, emails, IMEIs, codes or status links;
``Redact`` on the handler is the safety net for what slips through anyway (an exception
message quoting an address, a search in a query string, a 500 on a status link): every
line passes through it, whoever logged it and in whichever format.

The request id ties the lines of one request together, and follows the request's
notifications into the worker (``PRIVATE_REQUEST_ID`` on the outbox row), so "why did this
applicant get no SMS" is one grep.

Format: ``SUPPORT_LOG_FORMAT=json`` (one JSON object a line, for journald and log
shippers), ``text`` (for a person at a terminal), or ``auto`` (the default): text when
standard error is a terminal (``make run``), JSON otherwise (systemd, containers, tests).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote

# The request (or, in the worker, the notification's request) being handled.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "support_request_id", default=None
)
# Key under which a notification's context remembers the request that queued it.
PRIVATE_REQUEST_ID = "_request_id"

_STATUS_TOKEN = re.compile(r"(/status/)([A-Za-z0-9_-]{6})[A-Za-z0-9_-]+")

# One pass, first alternative wins at each position. ISO dates and times are matched first
# and kept, so "2026-11-21 17:02" is not read as a phone number. Phones need a "+" or ten
# digits: shorter runs are counts, sizes and ids. Fifteen digits in the IMEI's grouping
# (2-6-6-1) read as an IMEI. Every repeat is bounded: a long line costs linear time.
_PII = re.compile(
    r"(?P<keep>(?<!\d)\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?)"
    r"|(?P<email>[A-Za-z0-9._%+-]{1,64}(?:@|%40)[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+)"
    r"|(?P<intl>(?:\+|%2[Bb])\d(?:[ ()-]{0,2}\d){6,14}(?!\d))"
    r"|(?P<imei>(?<![\w])\d{2}[ -]?\d{6}[ -]?\d{6}[ -]?\d(?![\w]))"
    r"|(?P<phone>(?<![\w])\(?\d(?:[ ()-]{0,2}\d){9,14}(?!\d))"
)
_MASKS = {"email": "[email]", "intl": "[phone]", "imei": "[imei]", "phone": "[phone]"}

# Query parameters whose values say nothing about a person; every other value is cut.
SAFE_QUERY_KEYS = frozenset({"lang", "tab", "kind", "notice", "flag", "next"})


def _mask_match(match: re.Match[str]) -> str:
    group = match.lastgroup or "keep"
    return match.group(0) if group == "keep" else _MASKS[group]


def mask(text: str) -> str:
    """Status tokens cut to six characters; emails, phone numbers and IMEIs replaced."""
    return _PII.sub(_mask_match, _STATUS_TOKEN.sub(r"\1\2…", text))


def redact_path(path: str) -> str:
    """A request target fit for a log: status token cut, query values kept only for
    parameters that cannot hold personal data (a reviewer's search box can)."""
    base, _, query = path.partition("?")
    base = _STATUS_TOKEN.sub(r"\1\2…", base)
    if not query:
        return base
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = "&".join(
        f"{quote(key)}={quote(value) if key in SAFE_QUERY_KEYS else '…'}" for key, value in pairs
    )
    return f"{base}?{kept}"


class RedactTokens(logging.Filter):
    """On ``uvicorn.access``: the request target in the access line, before formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            if isinstance(path, str):
                record.args = (client, method, redact_path(path), version, status)
        return True


class Redact(logging.Filter):
    """On the handler: masks the message, the traceback and string extras of every record,
    and tags it with the current request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) \
                and len(record.args) == 5:
            client, method, path, _, status = record.args
            record.client, record.method, record.status = client, method, status
            record.path = redact_path(str(path))
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format
            message = f"{record.msg} {record.args}"
        record.msg = mask(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        for key, value in _extras(record).items():
            if isinstance(value, str):
                setattr(record, key, mask(value))
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "request_id", "color_message",
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed in ``extra=``: fields of their own in the JSON line."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, request_id, the
    caller's extras, and the traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            event["request_id"] = rid
        event.update(_extras(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(self.formatException(record.exc_info))
        if record.exc_text:
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack"] = record.stack_info
        return json.dumps(event, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


_installed: logging.Handler | None = None


def resolve_format(log_format: str, stream: TextIO) -> str:
    if log_format in {"json", "text"}:
        return log_format
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


# Libraries that log what they carry at DEBUG or INFO: aioimaplib every byte of a mailbox
# (bodies, addresses).
QUIETED = ("httpx2", "httpcore2", "aioimaplib")


def configure(log_format: str = "auto", stream: TextIO | None = None,
              level: int = logging.INFO) -> logging.Handler:
    """Install the one handler on the root logger (again: replacing the previous one).
    uvicorn's loggers propagate to it (``log_config=None``)."""
    global _installed
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if resolve_format(log_format, stream) == "json"
                         else TextFormatter())
    handler.addFilter(Redact())
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    root.addHandler(handler)
    root.setLevel(level)
    _installed = handler
    # One line per SMS gateway call, with its URL (some gateways want the key in it): no.
    # httpx2's requests log as "httpx2", its connections as "httpcore2.*".
    for noisy in QUIETED:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # uvicorn's own dictConfig (any uvicorn started in this process without
    # log_config=None) gives its loggers their own handlers and stops them propagating:
    # their lines would skip the masking and the JSON. They go through the root's handler.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())
    return handler


def unconfigure() -> None:
    """Remove the handler ``configure`` installed (tests)."""
    global _installed
    if _installed is not None:
        logging.getLogger().removeHandler(_installed)
        _installed = None


@contextlib.contextmanager
def bound_request_id(value: str | None) -> Iterator[None]:
    """Lines logged inside the block carry ``value`` (None: no request id)."""
    token = request_id.set(value)
    try:
        yield
    finally:
        request_id.reset(token)
