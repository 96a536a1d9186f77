"""Webhooks (issue 22): the maker's endpoints, registered by admins, told of events through
the outbox, signed, retried, dead-lettered and shown on the deliveries page, against a
real receiver on loopback (Starlette under uvicorn)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tortoise.transactions import in_transaction

from support import workflow
from support.data.models import Channel, DeliveryStatus, Notification, WebhookEndpoint
from support.notify import delivery
from support.notify.outbox import BACKOFF, notify_applicant
from support.notify.webhooks import EVENTS, WebhookBackend
from support.reads import wording
from support.web import admin_webhooks
from support.workflow import webhooks
from tests.conftest import free_port
from tests.factories import make_application
from tests.test_reports import page_tables

PAGE = "/review/admin/webhooks"
DELIVERIES = "/review/admin/deliveries"
SECRET = re.compile(r"whsec_[A-Za-z0-9_-]{20,}")


@dataclass
class Receiver:
    """The maker's endpoint: answers the scripted statuses first, then 200; keeps every
    request's headers and exact body."""

    script: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def hook(self, request: Request) -> PlainTextResponse:
        self.received.append((dict(request.headers), await request.body()))
        status = self.script.pop(0) if self.script else 200
        return PlainTextResponse("busy, try later" if status >= 500 else "ok",
                                 status_code=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        Starlette(routes=[Route("/hook", state.hook, methods=["POST"])]),
        host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    state.url = f"http://127.0.0.1:{port}/hook"
    yield state
    server.should_exit = True
    await task


@pytest.fixture
def pages(app):
    """The admin page's routes, in front of the catch-all mounts, until support/app.py
    lists them (then this changes nothing)."""
    if not any(getattr(route, "path", "") == PAGE for route in app.routes):
        app.router.routes[0:0] = admin_webhooks.routes()
    return app


@pytest.fixture
async def admin(desk, pages):
    return await desk.reviewer("Ada Admin", role="admin")


async def _register(admin, url: str, events: list[str]) -> tuple[str, str]:
    """Through the page: the answer's text and the secret it shows."""
    page = await admin.post(PAGE, {"url": url, "events": events})
    assert page.status_code == 200, page.text
    secrets_shown = SECRET.findall(page.text)
    assert len(set(secrets_shown)) == 1, "the page shows the new endpoint's secret"
    return page.text, secrets_shown[0]


async def _emit(event: str, data: dict) -> int:
    """As a workflow action does: inside the transaction of the change."""
    async with in_transaction():
        return await webhooks.emit(event, data)


async def _due_now() -> None:
    """The back-off has passed."""
    await Notification.filter(status=DeliveryStatus.PENDING).update(
        next_attempt_at=datetime.now(UTC))


def _rows(page) -> str:
    """The deliveries table's rows (not the filters' options)."""
    return page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]


def _signature_ok(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check, written from the documented scheme (not the desk's code)."""
    timestamp = headers["support-webhook-timestamp"]
    parts = dict(item.split("=", 1) for item in headers["support-webhook-signature"].split(","))
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    return (parts["t"] == timestamp and hmac.compare_digest(parts["v1"], expected)
            and abs(time.time() - int(timestamp)) < 300)


async def test_a_registered_endpoint_gets_the_event_signed_with_the_secret_shown_once(
        admin, receiver, outbox):
    text, secret = await _register(admin, receiver.url,
                                   ["permission.granted", "application.decided"])
    assert receiver.url in text and "Support-Webhook-Signature" in text
    listing = await admin.get(PAGE)
    assert receiver.url in listing.text and "permission.granted" in listing.text
    assert secret not in listing.text and not SECRET.search(listing.text)  # once only

    application = await make_application()
    data = {"reference": application.reference, "account_id": application.account_id,
            "model": application.model, "expires_at": datetime(2027, 1, 5, tzinfo=UTC)}
    assert await _emit("permission.granted", data) == 1
    assert await _emit("permission.revoked", data) == 0  # not subscribed: no row
    [row] = await Notification.filter(channel=Channel.WEBHOOK)
    assert row.application_id == application.id and not row.urgent  # type: ignore[attr-defined]
    assert secret not in json.dumps(row.context)

    assert await outbox.deliver() == 1
    [(headers, body)] = receiver.received
    assert _signature_ok(secret, headers, body)
    assert not _signature_ok("whsec_another", headers, body)
    assert headers["content-type"] == "application/json"
    event = json.loads(body)
    assert event["type"] == "permission.granted"
    assert event["data"] == {**data, "expires_at": "2027-01-05T00:00:00+00:00"}
    assert headers["support-webhook-id"] == event["id"] and event["id"].startswith("evt_")
    assert set(event) == {"id", "type", "created_at", "data"}  # nothing of the desk's own
    await row.refresh_from_db()
    assert row.status is DeliveryStatus.SENT and row.attempts == 1

    # The deliveries page: the event and its endpoint, never the secret.
    page = await admin.get(f"{DELIVERIES}?channel=webhook")
    assert "Event: permission granted" in page.text and receiver.url in page.text
    assert secret not in page.text
    listing = await admin.get(PAGE)
    assert "Event: permission granted" in listing.text and "Sent" in listing.text


async def test_a_refused_delivery_is_retried_then_sent_with_its_attempts_logged(
        admin, receiver, outbox):
    _, secret = await _register(admin, receiver.url, ["application.decided"])
    await _emit("application.decided", {"reference": "none", "decision": "approved"})
    receiver.script = [500]
    assert await outbox.deliver() == 0
    row = await Notification.get(channel=Channel.WEBHOOK)
    assert row.status is DeliveryStatus.PENDING and row.attempts == 1
    assert "HTTP 500" in row.last_error and "busy, try later" in row.last_error
    assert row.next_attempt_at > datetime.now(UTC) + BACKOFF[0] * 0.85  # the back-off
    assert await outbox.deliver() == 0  # not due yet: nothing posted
    assert len(receiver.received) == 1

    await _due_now()
    assert await outbox.deliver() == 1
    await row.refresh_from_db()
    assert row.status is DeliveryStatus.SENT and row.attempts == 2
    assert [entry["error"] for entry in row.attempt_log] == [
        "endpoint answered HTTP 500: busy, try later"]
    first, second = receiver.received
    assert first[1] == second[1]  # the same body, and the same event id, at each attempt
    assert first[0]["support-webhook-id"] == second[0]["support-webhook-id"]
    assert all(_signature_ok(secret, headers, body) for headers, body in receiver.received)
    page = await admin.get(f"{DELIVERIES}?channel=webhook")
    assert "endpoint answered HTTP 500: busy, try later" in page.text


async def test_a_receiver_4xx_is_retried_but_410_gone_is_dead_at_once(admin, receiver, outbox):
    await _register(admin, receiver.url, ["permission.redeemed"])
    receiver.script = [401, 410]
    await _emit("permission.redeemed", {"account_id": "6000000001"})
    await outbox.deliver()
    row = await Notification.get(channel=Channel.WEBHOOK)
    assert row.status is DeliveryStatus.PENDING and "HTTP 401" in row.last_error
    await _due_now()
    await outbox.deliver()
    await row.refresh_from_db()
    assert row.status is DeliveryStatus.DEAD and "HTTP 410" in row.last_error


async def test_an_unreachable_endpoint_is_retried_with_back_off_then_dead(
        admin, pages, outbox, desk):
    url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens
    await _register(admin, url, ["permission.revoked"])
    application = await make_application()
    await _emit("permission.revoked", {"reference": application.reference,
                                       "reason": "sold the phone"})
    row = await Notification.get(channel=Channel.WEBHOOK)
    waits = []
    for attempt in range(1, len(BACKOFF) + 2):
        before = datetime.now(UTC)
        await outbox.deliver()
        await row.refresh_from_db()
        assert row.attempts == attempt and "unreachable" in row.last_error
        if row.status is DeliveryStatus.PENDING:
            waits.append(row.next_attempt_at - before)
            await _due_now()
    assert row.status is DeliveryStatus.DEAD and len(row.attempt_log) == len(BACKOFF) + 1
    for wait, step in zip(waits, BACKOFF, strict=True):  # each wait the next step, ±10%
        assert step * 0.85 < wait < step * 1.15

    lead = await desk.reviewer("Lee Lead", role="lead")
    page = await lead.get(f"{DELIVERIES}?status=dead&channel=webhook")
    assert "Event: permission revoked" in page.text and url in page.text
    assert "unreachable" in page.text and application.reference in page.text
    history = await lead.get(f"/review/applications/{application.reference}")
    assert "A message could not be delivered" in history.text


async def test_retry_now_works_for_a_dead_event(admin, receiver, outbox):
    await _register(admin, receiver.url, ["permission.granted"])
    receiver.script = [410]
    await _emit("permission.granted", {"account_id": "6000000002"})
    await outbox.deliver()
    row = await Notification.get(channel=Channel.WEBHOOK)
    assert row.status is DeliveryStatus.DEAD
    page = await admin.get(f"{DELIVERIES}?status=dead")
    assert f"/review/admin/deliveries/{row.id}/retry" in page.text
    answer = await admin.post(f"{DELIVERIES}/{row.id}/retry")
    assert answer.status_code == 303
    assert await outbox.deliver() == 1
    await row.refresh_from_db()
    assert row.status is DeliveryStatus.SENT and len(receiver.received) == 2


async def test_a_disabled_endpoint_gets_nothing_more(admin, receiver, outbox):
    _, _ = await _register(admin, receiver.url, ["application.decided"])
    endpoint = await WebhookEndpoint.get(url=receiver.url)
    await _emit("application.decided", {"decision": "approved"})
    answer = await admin.post(f"{PAGE}/{endpoint.id}/disable")
    assert answer.status_code == 303
    listing = await admin.get(answer.headers["location"])
    assert "Endpoint disabled" in listing.text and "disabled" in listing.text
    row = await Notification.get(channel=Channel.WEBHOOK)
    assert row.status is DeliveryStatus.DEAD and "disabled" in row.last_error  # not sent
    assert await _emit("application.decided", {"decision": "refused"}) == 0  # nothing new
    await admin.post(f"{DELIVERIES}/{row.id}/retry")  # even when asked again
    await outbox.deliver()
    await row.refresh_from_db()
    assert row.status is DeliveryStatus.DEAD and "endpoint was disabled" in row.last_error
    assert receiver.received == []
    assert await Notification.filter(channel=Channel.WEBHOOK).count() == 1


async def test_an_event_queued_before_disabling_is_not_sent_when_the_worker_gets_it(
        admin, receiver, outbox):
    """The endpoint is read when sending: a row the disabling did not catch (a worker had
    it in hand) is dead, not posted."""
    await _register(admin, receiver.url, ["application.decided"])
    await _emit("application.decided", {"decision": "approved"})
    await WebhookEndpoint.all().update(disabled_at=datetime.now(UTC))  # as if mid-batch
    await outbox.deliver()
    row = await Notification.get(channel=Channel.WEBHOOK)
    assert row.status is DeliveryStatus.DEAD and "endpoint was disabled" in row.last_error
    assert receiver.received == []


async def test_an_event_emitted_in_a_rolled_back_change_leaves_no_row(admin, receiver):
    await _register(admin, receiver.url, list(webhooks.EVENTS))
    with pytest.raises(RuntimeError):
        async with in_transaction():
            assert await webhooks.emit("permission.granted", {"account_id": "6000000003"}) == 1
            raise RuntimeError("the change failed")
    assert not await Notification.filter(channel=Channel.WEBHOOK).exists()


async def test_every_subscribed_endpoint_gets_the_same_event(admin, receiver, outbox):
    _, first = await _register(admin, receiver.url, ["permission.granted"])
    _, second = await _register(admin, receiver.url + "?copy=2", ["permission.granted"])
    assert first != second
    await _emit("permission.granted", {"account_id": "6000000004"})
    assert await outbox.deliver() == 2
    bodies = {body for _, body in receiver.received}
    assert len(bodies) == 1  # one event, one id
    [body] = bodies
    assert sorted(_signature_ok(secret, headers, body)
                  for secret in (first, second) for headers, _ in receiver.received) == [
        False, False, True, True]  # each signed with its own endpoint's secret


async def test_a_hanging_endpoint_holds_up_neither_other_endpoints_nor_the_batch(
        admin, receiver, settings):
    """An endpoint that accepts and never answers costs one timeout: its other events are
    not tried in that batch, another endpoint's events go out beside it, and the batch's
    applicants' messages are not kept waiting."""
    hung: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hung.append(writer)
        await reader.read(65536)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await _register(admin, f"http://127.0.0.1:{port}/hook", ["permission.granted"])
        await _register(admin, receiver.url, ["permission.granted"])
        for n in range(3):
            await _emit("permission.granted", {"account_id": f"600000001{n}"})
        application = await make_application()
        await notify_applicant(application, "received", {"status_url": "http://testserver/status/t"})
        backends = delivery.Backends.from_settings(settings)
        backends.webhook = WebhookBackend(timeout=0.5)
        started = time.monotonic()
        sent = await delivery.deliver_due(settings, backends)
        assert time.monotonic() - started < 3
    finally:
        for writer in hung:
            writer.close()
        server.close()
        await server.wait_closed()
    assert sent == 3 + 2  # the good endpoint's three events, the applicant's email and SMS
    assert len(receiver.received) == 3
    failed = await Notification.filter(channel=Channel.WEBHOOK, status=DeliveryStatus.PENDING
                                       ).order_by("id")
    assert [row.last_error for row in failed] == [
        "no answer within 0.5 s",
        "not tried, the endpoint was unreachable: no answer within 0.5 s",
        "not tried, the endpoint was unreachable: no answer within 0.5 s"]


async def test_what_a_batch_could_not_start_in_time_goes_back_untried(
        admin, receiver, settings, monkeypatch):
    await _register(admin, receiver.url, ["permission.granted"])
    for n in range(3):
        await _emit("permission.granted", {"account_id": f"600000002{n}"})
    monkeypatch.setattr(delivery, "WEBHOOK_SHARE_SECONDS", 0.0)
    assert await delivery.deliver_due(settings, delivery.Backends.from_settings(settings)) == 0
    rows = await Notification.filter(channel=Channel.WEBHOOK)
    assert all(row.status is DeliveryStatus.PENDING and row.attempts == 0 for row in rows)
    assert all(row.next_attempt_at <= datetime.now(UTC) for row in rows)  # due again at once
    monkeypatch.undo()
    assert await delivery.deliver_due(settings, delivery.Backends.from_settings(settings)) == 3


async def test_only_admins_may_see_or_change_endpoints(desk, pages, client, receiver):
    assert (await client.get(PAGE)).status_code == 303  # signed out: to the sign-in page
    assert (await client.post(PAGE, data={"url": receiver.url})).status_code == 401
    for role in ("reviewer", "lead"):
        someone = await desk.reviewer(role=role)
        assert (await someone.get(PAGE)).status_code == 403
        refused = await someone.post(PAGE, {"url": receiver.url, "events": ["permission.granted"]})
        assert refused.status_code == 403
    assert not await WebhookEndpoint.exists()
    admin = await desk.reviewer(role="admin")
    await _register(admin, receiver.url, ["permission.granted"])
    endpoint = await WebhookEndpoint.get()
    lead = await desk.reviewer(role="lead")
    assert (await lead.post(f"{PAGE}/{endpoint.id}/disable")).status_code == 403
    await endpoint.refresh_from_db()
    assert endpoint.disabled_at is None


async def test_the_forms_need_their_csrf_token(admin, receiver):
    answer = await admin.client.post(PAGE, data={"url": receiver.url,
                                                 "events": ["permission.granted"]})
    assert answer.status_code == 403
    assert not await WebhookEndpoint.exists()
    await _register(admin, receiver.url, ["permission.granted"])
    endpoint = await WebhookEndpoint.get()
    answer = await admin.client.post(f"{PAGE}/{endpoint.id}/disable")
    assert answer.status_code == 403
    await endpoint.refresh_from_db()
    assert endpoint.disabled_at is None


@pytest.mark.parametrize(("url", "events", "words"), [
    ("http://maker.example/hooks", ["permission.granted"], "Use https://"),
    ("ftp://maker.example/hooks", ["permission.granted"], "must start with https://"),
    ("https://user:pw@maker.example/hooks", ["permission.granted"], "no user name or password"),
    ("https://maker.example/a b", ["permission.granted"], "no spaces"),
    ("https://maker.example:99999/hooks", ["permission.granted"], "not a web address"),
    ("not a url", ["permission.granted"], "no spaces"),
    ("", ["permission.granted"], "Give the endpoint's address"),
    ("https://maker.example/hooks", [], "Choose at least one event"),
    ("https://maker.example/hooks", ["permission.granted", "user.deleted"],
     "Choose at least one event"),
])
async def test_a_bad_address_or_event_is_refused_with_what_was_typed_kept(
        admin, url, events, words):
    page = await admin.post(PAGE, {"url": url, "events": events})
    assert page.status_code == 422
    assert words in html.unescape(page.text)
    assert not await WebhookEndpoint.exists()
    if url:
        assert 'value="' + url.replace("&", "&amp;") + '"' in page.text  # kept as typed
    for event in set(events) & set(webhooks.EVENTS):
        assert re.search(rf'value="{re.escape(event)}" checked', page.text)
    assert not SECRET.search(page.text)


async def test_https_anywhere_and_http_to_this_machine_are_accepted(admin):
    for url in ("https://maker.example/hooks", "http://localhost:8080/hook",
                "http://[::1]:9000/hook"):
        await _register(admin, url, ["permission.granted"])
    again = await admin.post(PAGE, {"url": "https://maker.example/hooks",
                                    "events": ["permission.granted"]})
    assert again.status_code == 422 and "in use already" in again.text
    assert await WebhookEndpoint.filter(disabled_at=None).count() == 3


async def test_the_deliveries_page_filters_webhooks_by_channel_and_endpoint(
        admin, receiver, outbox):
    await _register(admin, receiver.url, ["permission.granted"])
    endpoint = await WebhookEndpoint.get()
    application = await make_application()
    await notify_applicant(application, "received", {"status_url": "http://testserver/status/t"})
    await _emit("permission.granted", {"account_id": application.account_id})
    await outbox.deliver()
    only = _rows(await admin.get(f"{DELIVERIES}?channel=webhook"))
    assert "Event: permission granted" in only and "Application received" not in only
    mail = _rows(await admin.get(f"{DELIVERIES}?channel=email"))
    assert "Application received" in mail and "Event: permission granted" not in mail
    mine = await admin.get(f"{DELIVERIES}?endpoint={endpoint.id}")
    assert "Event: permission granted" in _rows(mine)
    assert "Application received" not in _rows(mine)
    assert f"Only the events posted to {receiver.url}" in mine.text
    for junk in ("x", "9" * 30, "0"):  # no endpoint, never a 500
        assert (await admin.get(f"{DELIVERIES}?endpoint={junk}")).status_code == 200
    listing = await admin.get(PAGE)
    assert f"{DELIVERIES}?endpoint={endpoint.id}" in listing.text


def test_every_event_and_the_channel_have_words():
    for event in webhooks.EVENTS:
        words = wording.message_word(event)
        assert words.startswith("Event: ") and "." not in words
    assert wording.channel_word(Channel.WEBHOOK) == "Webhook"


async def test_the_reports_page_counts_dead_events_beside_email_and_sms(desk, app):
    for n, channel in enumerate(("webhook", "webhook", "sms")):
        await Notification.create(channel=channel, recipient="webhook:1", template=EVENTS[0],
                                  next_attempt_at=datetime.now(UTC), status=DeliveryStatus.DEAD,
                                  idempotency_key=f"dead-{n}")
    lead = await desk.reviewer(role="lead")
    page = await lead.get("/review/reports")
    assert page.status_code == 200
    dead = {row[0]: row[1] for row in page_tables(page.text)["deliveries"][1:]}
    assert dead == {"Email": "0", "SMS": "1", "Webhook": "2"}


async def test_the_applicant_never_sees_the_makers_events(admin, client, settings, outbox):
    """An event linked to an application is the desk's business with the maker: the
    status page's messages list the emails and SMS alone, even when the event is dead."""
    url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens
    await _register(admin, url, ["application.decided"])
    application = await make_application()
    await _emit("application.decided", {"reference": application.reference,
                                        "decision": "approved"})
    await Notification.filter(channel=Channel.WEBHOOK).update(status=DeliveryStatus.DEAD)
    path = (await workflow.new_status_link(settings, application)).removeprefix(
        settings.base_url)
    page = await client.get(path)
    assert page.status_code == 200
    text = html.unescape(page.text)
    for said in ("webhook", "Webhook", url, "127.0.0.1"):
        assert said not in text
