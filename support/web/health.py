"""Liveness and readiness in one answer, for load balancers and people alike."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from support.data import db


async def healthz(request: Request) -> JSONResponse:
    state = await db.database_state()
    worker = request.app.state.worker_task
    body = {
        "status": "ok" if state == "ok" else "degraded",
        "database": state,
        "worker": "running" if worker is not None and not worker.done() else "off",
    }
    return JSONResponse(body, status_code=200 if state == "ok" else 503)
