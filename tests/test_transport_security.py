"""Strict-Transport-Security (issue 19): on every answer when the desk is served over HTTPS,
a 500 included, and never over plain HTTP, where it would mean nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from support.app import create_app
from support.web.security import HSTS

PATHS = ["/", "/review/login", "/review/queue", "/no-such-page", "/healthz", "/boom"]


async def _boom(request: Request) -> Response:
    raise RuntimeError("a bug, for the 500 page")


async def _client(app: Starlette, base: str) -> AsyncIterator[httpx2.AsyncClient]:
    app.router.routes.insert(0, Route("/boom", _boom))
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx2.AsyncClient(transport=transport, base_url=base) as client:
            yield client


@pytest.fixture
async def https(app, settings) -> AsyncIterator[httpx2.AsyncClient]:
    async for client in _client(create_app(settings.with_(base_url="https://desk.example")),
                                "https://desk.example"):
        yield client


@pytest.fixture
async def plain(app, settings) -> AsyncIterator[httpx2.AsyncClient]:
    async for client in _client(create_app(settings), "http://testserver"):
        yield client


@pytest.mark.parametrize("path", PATHS)
async def test_every_answer_over_https_carries_hsts(https, path):
    response = await https.get(path)
    assert response.status_code in {200, 303, 404, 500}
    assert response.headers["strict-transport-security"] == HSTS
    assert "max-age=31536000" in HSTS


async def test_a_post_refused_over_https_carries_it_too(https):
    response = await https.post("/review/login", data={"email": "a@b.c", "password": "x"})
    assert response.status_code == 403
    assert response.headers["strict-transport-security"] == HSTS


@pytest.mark.parametrize("path", PATHS)
async def test_plain_http_never_sends_it(plain, path):
    response = await plain.get(path)
    assert "strict-transport-security" not in response.headers
