"""create_app(settings): routes, middleware, and a lifespan that owns the database
connections and, unless turned off, the delivery worker."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from support.clock import worker
from support.config import Settings
from support.data import db
from support.documents import spool, store
from support.notify import delivery
from support.platform import logs, memory
from support.platform.ratelimit import Limiter
from support.web import (
    account,
    admin,
    admin_api_keys,
    admin_responses,
    admin_webhooks,
    applicant,
    audit,
    auth,
    contact,
    deliveries,
    documents,
    errors,
    health,
    presence,
    queue,
    review,
    status,
)
from support.web import exports as web_exports
from support.web import mail as web_mail
from support.web import metrics as web_metrics
from support.web import reports as web_reports
from support.web.api.app import api_app
from support.web.language import LanguageMiddleware
from support.web.request_id import RequestIdMiddleware
from support.web.security import SecurityMiddleware, StrictTransportSecurity

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def routes() -> list[Route | Mount]:
    return [
        # The maker's API first: JSON in, JSON out, its own error answers (web/api). The
        # router tries routes in order, and the permission check is the busiest call:
        # first, it skips a hundred of the desk's patterns (B8).
        Mount("/api", app=api_app(), name="api"),
        Route("/", applicant.home, name="home"),
        Route("/healthz", health.healthz, name="healthz"),
        Route("/metrics", web_metrics.metrics_page, methods=["GET"], name="metrics"),
        Route("/apply/{kind}", applicant.apply_form, methods=["GET"], name="apply"),
        Route("/apply/{kind}", applicant.apply_submit, methods=["POST"]),
        Route("/applications/{reference}/verify", applicant.verify_form, methods=["GET"],
              name="verify"),
        Route("/applications/{reference}/verify", applicant.verify_submit, methods=["POST"]),
        Route("/applications/{reference}/verify/resend", applicant.resend_code,
              methods=["POST"], name="resend"),
        Route("/applications/{reference}/verify/resend", applicant.page_of_form,
              methods=["GET"]),
        Route("/status", status.lookup_form, methods=["GET"], name="lookup"),
        Route("/status", status.lookup_submit, methods=["POST"]),
        Route("/status/{token}", status.status_page, methods=["GET"], name="status"),
        Route("/status/{token}/withdraw", status.withdraw_confirm, methods=["GET"]),
        Route("/status/{token}/withdraw", status.withdraw, methods=["POST"], name="withdraw"),
        Route("/status/{token}/erase", status.erase_confirm, methods=["GET"]),
        Route("/status/{token}/erase", status.erase, methods=["POST"], name="erase"),
        Route("/status/{token}/reply", status.reply, methods=["POST"], name="reply"),
        Route("/status/{token}/reply", applicant.page_of_form, methods=["GET"]),
        Route("/status/{token}/appeal", status.appeal_form, methods=["GET"], name="appeal"),
        Route("/status/{token}/appeal", status.appeal_submit, methods=["POST"]),
        Route("/status/{token}/email", contact.email_form, methods=["GET"], name="email_fix"),
        Route("/status/{token}/email", contact.email_start, methods=["POST"]),
        Route("/status/{token}/email/confirm", contact.email_confirm, methods=["POST"]),
        Route("/status/{token}/email/resend", contact.email_resend, methods=["POST"]),
        Route("/status/{token}/linked", status.linked, methods=["GET"], name="linked"),
        *auth.routes(),
        *account.routes(),
        *queue.routes(),
        *review.routes(),
        *presence.routes(),
        *admin.routes(),
        *admin_responses.routes(),
        *admin_api_keys.routes(),
        *admin_webhooks.routes(),
        *documents.routes(),
        *deliveries.routes(),
        *audit.routes(),
        *web_reports.routes(),
        *web_mail.routes(),
        *web_exports.routes(),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


class _App(Starlette):
    """Request ids and request metrics wrap even Starlette's error middleware, so a 500
    is counted, carries X-Request-ID, and its log line has the id; over HTTPS,
    Strict-Transport-Security wraps them all, so every answer has it."""

    def build_middleware_stack(self) -> ASGIApp:
        stack: ASGIApp = RequestIdMiddleware(
            web_metrics.MetricsMiddleware(super().build_middleware_stack()))
        settings: Settings | None = getattr(self.state, "settings", None)
        if settings is not None and settings.base_url.startswith("https://"):
            stack = StrictTransportSecurity(stack)
        return stack


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.init(settings.database_url)
        stop = asyncio.Event()
        app.state.worker_task = None
        if settings.inprocess_worker:
            backends = delivery.Backends.from_settings(settings)
            app.state.worker_task = asyncio.create_task(worker.run(settings, backends, stop))
        try:
            yield
        finally:
            stop.set()
            if app.state.worker_task is not None:
                await app.state.worker_task
            await app.state.limiter.close()
            await db.close()
            await store.close_clients()
            spool.release(settings.spool_dir)

    secure = settings.base_url.startswith("https")
    app = _App(
        routes=routes(),
        middleware=[
            Middleware(SecurityMiddleware, secure_cookies=secure),
            Middleware(LanguageMiddleware, secure_cookies=secure),
        ],
        exception_handlers=errors.HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.limiter = Limiter(settings)
    for route in app.routes:  # the API app mounted at /api reads the same settings and limits
        if isinstance(route, Mount) and route.name == "api":
            # Starlette's mount pattern is ".*" without DOTALL: a path with an encoded
            # newline fell through to the desk's HTML 404 (schemathesis found it).
            route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)
            route.app.state.settings = settings  # type: ignore[attr-defined]
            route.app.state.limiter = app.state.limiter  # type: ignore[attr-defined]
    app.state.worker_task = None
    return app


def to_serve(settings: Settings) -> Starlette:
    """The app as a serving process runs it: built, then what building it made frozen out
    of the collector's walks (``memory.freeze_what_startup_made``). Tests build many apps
    in one process and use ``create_app``."""
    app = create_app(settings)
    memory.freeze_what_startup_made()
    return app


def from_env() -> Starlette:
    """The app as ``support serve --workers N`` starts it in each forked process."""
    memory.keep_large_blocks_apart()
    settings = Settings.from_env()
    logs.configure(settings.log_format)
    return to_serve(settings)
