"""SMS through the JSON HTTP gateway backend, against a gateway served on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from support.config import ConfigError, Settings
from support.data.models import DeliveryStatus, Notification
from support.notify import delivery
from tests.conftest import UNLOCK
from tests.test_logs import json_lines  # noqa: F401 - a fixture


@dataclass
class Gateway:
    """Answers with the scripted (status, body) pairs first, then accepts."""

    received: list[dict] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    script: list[tuple[int, dict]] = field(default_factory=list)
    url: str = ""

    async def endpoint(self, request: Request) -> JSONResponse:
        self.headers.append(request.headers.get("authorization", ""))
        if self.script:
            status, body = self.script.pop(0)
            return JSONResponse(body, status_code=status)
        self.received.append(await request.json())
        return JSONResponse({"message_id": f"m{len(self.received)}"}, status_code=202)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    state = Gateway()
    app = Starlette(routes=[Route("/send", state.endpoint, methods=["POST"])])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    state.url = f"http://127.0.0.1:{port}/send"
    yield state
    server.should_exit = True
    await task


def _http(settings, gateway):
    return settings.with_(sms_backend="http", sms_http_url=gateway.url, sms_http_token="sekret",
                          sms_http_fields=("msisdn", "body", "message_id"))


async def _deliver(settings):
    return await delivery.deliver_due(settings, delivery.Backends.from_settings(settings))


async def test_the_gateway_gets_the_configured_fields_and_token(applicant, settings, gateway):
    assert (await applicant.submit("unlock", UNLOCK)).status_code == 303
    assert await _deliver(_http(settings, gateway)) == 2
    [sent] = gateway.received
    assert sent["msisdn"] == "+919876543210"
    assert "Code " in sent["body"]
    assert gateway.headers == ["Bearer sekret"]
    row = await Notification.get(channel="sms")
    assert row.status is DeliveryStatus.SENT


async def test_5xx_and_an_answer_without_id_are_retried(applicant, settings, gateway):
    assert (await applicant.submit("unlock", UNLOCK)).status_code == 303
    gateway.script = [(503, {"error": "busy"}), (200, {"status": "queued"})]
    http = _http(settings, gateway)
    for expected_error in ("503", "without an id"):
        await _deliver(http)
        row = await Notification.get(channel="sms")
        assert row.status is DeliveryStatus.PENDING and expected_error in row.last_error
        await Notification.filter(id=row.id).update(next_attempt_at=datetime.now(UTC))
    await _deliver(http)
    await row.refresh_from_db()
    assert row.status is DeliveryStatus.SENT and row.attempts == 3
    assert len(gateway.received) == 1


async def test_4xx_is_permanent(applicant, settings, gateway):
    assert (await applicant.submit("unlock", UNLOCK)).status_code == 303
    gateway.script = [(400, {"error": "invalid number"})]
    await _deliver(_http(settings, gateway))
    row = await Notification.get(channel="sms")
    assert row.status is DeliveryStatus.DEAD and "400" in row.last_error


async def test_an_unreachable_gateway_is_transient(applicant, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert (await applicant.submit("unlock", UNLOCK)).status_code == 303
    down = settings.with_(sms_backend="http", sms_http_url=f"http://127.0.0.1:{port}/send")
    await _deliver(down)
    row = await Notification.get(channel="sms")
    assert row.status is DeliveryStatus.PENDING and "unreachable" in row.last_error


def test_the_http_backend_needs_a_url(tmp_path):
    with pytest.raises(ConfigError, match="SMS_HTTP_URL"):
        Settings.from_env({"SUPPORT_DATA_DIR": str(tmp_path), "SUPPORT_SMS_BACKEND": "http"})


async def test_a_gateway_call_logs_no_line_with_its_url_even_at_debug(
        applicant, settings, gateway, json_lines):  # noqa: F811 - the fixture imported above
    """Some gateways take their key in the URL: neither httpx2's request line nor
    httpcore2's connection traces may reach the log, even with the root at DEBUG."""
    logging.getLogger().setLevel(logging.DEBUG)
    assert (await applicant.submit("unlock", UNLOCK)).status_code == 303
    assert await _deliver(_http(settings, gateway)) == 2
    lines = json_lines()
    assert any(line["logger"] == "support.worker" for line in lines)  # the log was written
    assert not [line for line in lines if line["logger"].startswith(("httpx2", "httpcore2"))]
    ours = [line for line in lines if not line["logger"].startswith("uvicorn")]  # the gateway's
    assert not [line for line in ours if "/send" in line["message"]]
