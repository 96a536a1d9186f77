"""The stack's own limit for B1: Starlette parses the same multipart body, writes the file
and inserts one row through Tortoise, and nothing else (no checks, no workflow, no outbox).

Run by b1_submit.py as ``uvicorn bench.bare_app:app`` with BENCH_DB_URL and BENCH_UPLOAD_DIR.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from tortoise import Tortoise, fields
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.models import Model

UPLOADS = Path(os.environ.get("BENCH_UPLOAD_DIR", "/tmp/bench-uploads"))


class Submission(Model):
    id = fields.IntField(primary_key=True)
    account_id = fields.CharField(max_length=32)
    phone = fields.CharField(max_length=32)
    path = fields.CharField(max_length=255)

    class Meta:
        table = "bench_submission"


async def submit(request: Request) -> Response:
    async with request.form(max_files=4, max_fields=32) as form:
        upload = form["receipt"]
        name = secrets.token_hex(16)
        with (UPLOADS / name).open("wb") as out:
            shutil.copyfileobj(upload.file, out)  # type: ignore[union-attr]
        await Submission.create(account_id=str(form["account_id"]), phone=str(form["phone"]),
                                path=name)
    return RedirectResponse(f"/done/{name}", status_code=303)


def _connection(url: str) -> dict[str, Any]:
    """Tortoise's own clients, with the one setting of support's connections that changes
    what a query costs, so the bare app is not measured at a disadvantage: PostgreSQL
    connections go back to the pool without a reset round trip (support/data/db.py,
    ``_keep_session``). Both apps commit with SQLite's default durability
    (``synchronous=FULL``) and PostgreSQL's."""
    connection = expand_db_url(url)
    if not url.startswith("sqlite://"):
        connection["credentials"]["reset"] = _keep_session
    return connection


async def _keep_session(connection: object) -> None:
    """Nothing to undo: see support/data/db.py."""


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    UPLOADS.mkdir(parents=True, exist_ok=True)
    await Tortoise.init(config={
        "connections": {"default": _connection(os.environ["BENCH_DB_URL"])},
        "apps": {"models": {"models": [__name__], "default_connection": "default"}},
    }, _enable_global_fallback=True)
    await Tortoise.generate_schemas(safe=True)
    try:
        yield
    finally:
        await Tortoise.close_connections()


app = Starlette(routes=[Route("/apply/unlock", submit, methods=["POST"])], lifespan=lifespan)
