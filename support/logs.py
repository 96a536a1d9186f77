"""Logging set-up that keeps secrets and personal data out of log files.

The access log would otherwise record every private status link in full: anyone who can
read the log could open the applications. Tokens in paths are cut to a short prefix.
"""

from __future__ import annotations

import logging
import re

_STATUS_TOKEN = re.compile(r"(/status/)([A-Za-z0-9_-]{6})[A-Za-z0-9_-]+")


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(
                _STATUS_TOKEN.sub(r"\1\2…", arg) if isinstance(arg, str) else arg
                for arg in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        record.msg = _STATUS_TOKEN.sub(r"\1\2…", str(record.msg))
        return True


def configure() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
