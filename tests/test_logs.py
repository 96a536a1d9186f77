"""Structured logs as an operator reads them: one JSON object a line, each line of a
request tagged with its request id (sent back in X-Request-ID), the worker's line for a
message tagged with the id of the request that queued it, and no phone number, email,
IMEI or status token in any line, whoever wrote it."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from starlette.routing import Route

from support.data.models import Application
from support.platform import logs
from tests.conftest import BASE, RECOVERY, UNLOCK

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """The app's logging as `support serve` sets it up, writing JSON to a buffer."""
    buffer = io.StringIO()
    root = logging.getLogger()
    level = root.level
    logs.configure("json", stream=buffer)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]  # each one JSON

    yield lines
    logs.unconfigure()
    root.setLevel(level)


def _with(lines: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    return [line for line in lines if text in line["message"]]


async def test_a_request_id_is_returned_and_tags_the_requests_lines(applicant, client,
                                                                     json_lines):
    client.headers["X-Request-ID"] = "apply-7f3a9c21"
    response = await applicant.submit("unlock", UNLOCK)
    assert response.status_code == 303
    assert response.headers["x-request-id"] == "apply-7f3a9c21"
    application = await Application.get()
    (submitted,) = _with(json_lines(), f"application {application.reference} submitted")
    assert submitted["request_id"] == "apply-7f3a9c21"
    assert submitted["level"] == "info"
    assert submitted["logger"] == "support.workflow"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", submitted["time"])


@pytest.mark.parametrize("sent", [None, "short", "x" * 65, "two words here", "<script>12345",
                                  "ünïcode-id-123"])
async def test_a_missing_or_unfit_request_id_is_replaced(client, sent):
    headers = {"X-Request-ID": sent.encode("utf-8")} if sent else {}
    first = await client.get("/", headers=headers)
    second = await client.get("/", headers=headers)
    for response in (first, second):
        assert re.fullmatch(r"[0-9a-f]{16}", response.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_the_workers_line_for_a_message_carries_the_submissions_request_id(
        applicant, client, outbox, json_lines):
    client.headers["X-Request-ID"] = "apply-0000-1111"
    response = await applicant.submit("unlock", UNLOCK)
    application = await Application.get()
    code = await outbox.last_code()  # the worker delivers, outside any request
    sent = _with(json_lines(), " sent: verification_code")
    assert {(line["channel"], line["request_id"], line["reference"]) for line in sent} == {
        ("email", "apply-0000-1111", application.reference),
        ("sms", "apply-0000-1111", application.reference),
    }
    # The confirmation is another request: its messages are logged under its own id.
    client.headers["X-Request-ID"] = "verify-2222-3333"
    await applicant.post_form(response.headers["location"], {"code": code})
    await outbox.deliver()
    links = _with(json_lines(), " sent: received")
    assert len(links) == 2
    assert {line["request_id"] for line in links} == {"verify-2222-3333"}
    # Nothing of the applicant's in any line of the whole journey.
    text = "\n".join(json.dumps(line) for line in json_lines())
    for secret in (UNLOCK["email"], "9876543210", code):
        assert secret not in text
    # A line logged outside any request has no id.
    logging.getLogger("support.test").info("outside")
    assert "request_id" not in _with(json_lines(), "outside")[0]


async def test_phones_emails_and_imeis_are_masked_in_messages_and_tracebacks(json_lines):
    log = logging.getLogger("support.test")
    log.info("sent to %s and %s, device %s", "asha@example.com", "+91 98765 43210",
             RECOVERY["imei"])
    log.info("number 9876543210, spaced 98765-43210, imei 49-015420-323751-8",
             extra={"contact": "owner7@example.org"})
    try:
        raise ValueError("550 5.1.1 <asha.k@example.co.in>: no such user (+919876543210)")
    except ValueError:
        log.exception("delivery failed")
    # What is not personal stays readable: dates, times, sizes, ids, references.
    log.info("notification 12 at 2026-11-21 17:02:33 after 10485760 bytes, UL-4KQ7TZ2M")
    masked, numbers, failed, kept = json_lines()
    assert masked["message"] == "sent to [email] and [phone], device [imei]"
    assert numbers["message"] == "number [phone], spaced [phone], imei [imei]"
    assert numbers["contact"] == "[email]"
    assert "asha" not in failed["exception"] and "919876543210" not in failed["exception"]
    assert "<[email]>: no such user ([phone])" in failed["exception"]
    assert "Traceback" in failed["exception"]
    assert kept["message"] == ("notification 12 at 2026-11-21 17:02:33 after 10485760 "
                               "bytes, UL-4KQ7TZ2M")


async def test_the_access_line_cuts_status_tokens_and_search_terms(json_lines):
    access = logging.getLogger("uvicorn.access")
    line = '%s - "%s %s HTTP/%s" %d'
    access.info(line, "127.0.0.1:50000", "GET", "/status/AbCdEfGhIjKlMnOpQrStUvWx?lang=hi",
                "1.1", 200)
    access.info(line, "127.0.0.1:50001", "GET",
                "/review/queue?q=asha%40example.com&tab=queued&cursor=eyJ9", "1.1", 200)
    status, search = json_lines()
    assert status["path"] == "/status/AbCdEf…?lang=hi"
    assert "GhIjKl" not in status["message"]
    assert search["path"] == "/review/queue?q=…&tab=queued&cursor=…"
    assert "asha" not in search["message"]
    assert (search["method"], search["status"]) == ("GET", 200)


async def test_a_server_error_is_logged_under_the_request_id_it_answers_with(app, json_lines):
    async def boom(request):
        raise RuntimeError("cannot reach asha@example.com")

    app.router.routes.append(Route("/status/{token}/boom", boom))
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await http.get("/status/AbCdEfGhIjKlMnOpQrSt/boom",
                                  headers={"X-Request-ID": "boom-4242-4242"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "boom-4242-4242"
    (error,) = _with(json_lines(), "unhandled error")
    assert error["request_id"] == "boom-4242-4242"
    assert error["message"] == "unhandled error on GET /status/AbCdEf…/boom"
    assert "RuntimeError: cannot reach [email]" in error["exception"]


def test_text_format_for_a_person_at_a_terminal():
    buffer = io.StringIO()
    root_level = logging.getLogger().level
    logs.configure("text", stream=buffer)
    try:
        with logs.bound_request_id("term-1234-5678"):
            logging.getLogger("support.test").warning("mail to %s failed", "a@example.com")
        logging.getLogger("support.test").info("outside")
    finally:
        logs.unconfigure()
        logging.getLogger().setLevel(root_level)
    first, second = buffer.getvalue().splitlines()
    assert first.endswith("WARNING support.test [term-1234-5678] mail to [email] failed")
    assert second.endswith("INFO support.test [-] outside")
    assert logs.resolve_format("auto", io.StringIO()) == "json"  # not a terminal
