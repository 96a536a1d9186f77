"""/metrics as Prometheus sees it: the counters move with what applicants, reviewers and
the worker do; labels are route templates and fixed words, never tokens or personal
data; only this machine, or a bearer token, gets an answer; and with
`support serve --workers 2` beside `support worker` one scrape adds up every process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from support.app import create_app
from support.data.models import Application, Channel, DeliveryStatus, Notification, Status
from tests.conftest import BASE, RECOVERY, UNLOCK, hidden_fields, jpeg_bytes
from tests.factories import make_application, page_version

TOKEN = "scrape-token-" + "s" * 24


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape by (name, labels), read with prometheus-client's parser
    (so the page is valid exposition format, too)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx2.AsyncClient) -> dict:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_submissions_decisions_queue_and_deliveries_are_counted(
        applicant, outbox, client, desk):
    before = await scrape(client)
    status_path = await applicant.apply_and_verify(outbox)  # submits, delivers the code
    application = await Application.get()
    queued = await scrape(client)
    assert value(queued, "support_submissions_total", kind="unlock") \
        - value(before, "support_submissions_total", kind="unlock") == 1
    assert value(queued, "support_queue_depth", kind="unlock") == 1
    assert value(queued, "support_queue_depth", kind="recovery") == 0

    ann = await desk.reviewer("Ann")
    await ann.post("/review/next")
    decided = await ann.post(f"/review/applications/{application.reference}/decide", {
        "action": "approve", "message": "Approved: use the unlock tool within 14 days.",
        "seen": await page_version(application.reference),
    })
    assert decided.status_code == 303
    await outbox.deliver()
    after = await scrape(client)
    assert value(after, "support_decisions_total", kind="unlock", outcome="approve") \
        - value(before, "support_decisions_total", kind="unlock", outcome="approve") == 1
    assert value(after, "support_queue_depth", kind="unlock") == 0
    for channel in ("email", "sms"):
        sent = await Notification.filter(channel=channel, status=DeliveryStatus.SENT).count()
        assert sent == 3  # the code, the status link, the decision
        assert value(after, "support_deliveries_total", channel=channel, outcome="sent") \
            - value(before, "support_deliveries_total", channel=channel, outcome="sent") == sent
    assert status_path.startswith("/status/")


async def test_queue_depth_counts_what_waits_for_a_reviewer_by_kind(client):
    for _ in range(2):
        await make_application(kind="recovery")
    await make_application(kind="appeal", status=Status.IN_REVIEW)
    await make_application(kind="unlock", status=Status.SUBMITTED)  # not confirmed yet
    scraped = await scrape(client)
    assert [value(scraped, "support_queue_depth", kind=kind)
            for kind in ("unlock", "recovery", "appeal")] == [0, 2, 0]


async def test_failed_and_dead_deliveries_and_the_oldest_due_message(settings, client, outbox):
    """An SMS gateway that refuses connections: a first failure is retried later, a sixth
    is dead. A message due two minutes ago and still unsent shows as the outbox's age."""
    before = await scrape(client)
    now = datetime.now(UTC)
    for n, attempts in enumerate((0, 5)):
        await Notification.create(
            channel=Channel.SMS, recipient=f"+91987654321{n}", template="status_link",
            context={"reference": "UL-TEST", "status_url": "https://x.test/status/t"},
            next_attempt_at=now - timedelta(minutes=2), attempts=attempts,
            idempotency_key=f"metrics-{n}.sms",
        )
    waiting = await scrape(client)
    assert 120 <= value(waiting, "support_outbox_oldest_due_seconds") < 180

    broken = settings.with_(sms_backend="http", sms_http_url="http://127.0.0.1:9/send")
    from support.notify import delivery
    assert await delivery.deliver_due(broken, delivery.Backends.from_settings(broken)) == 0
    after = await scrape(client)
    for outcome in ("failed", "dead"):
        assert value(after, "support_deliveries_total", channel="sms", outcome=outcome) \
            - value(before, "support_deliveries_total", channel="sms", outcome=outcome) == 1
    assert value(after, "support_outbox_oldest_due_seconds") == 0  # the retry is not due yet


async def test_requests_are_labelled_by_route_template_never_by_path(
        applicant, outbox, client):
    status_path = await applicant.apply_and_verify(outbox, kind="recovery")
    application = await Application.get()
    token = status_path.split("/")[2]
    assert (await client.get(status_path)).status_code == 200
    assert (await client.get("/status/" + "x" * 40)).status_code == 404
    assert (await client.get(f"/no/such/page/{application.phone}")).status_code == 404
    response = await client.get("/metrics")
    text = response.text
    routes = {labels["route"] for family in text_string_to_metric_families(text)
              for labels in (s.labels for s in family.samples) if "route" in labels}
    assert {"/status/{token}", "/apply/{kind}", "/applications/{reference}/verify",
            "unmatched"} <= routes
    assert all(route == "unmatched" or route.startswith("/") for route in routes)
    assert value(samples(text), "support_http_requests_total", method="GET",
                 route="/status/{token}", status="404") >= 1
    # Nothing a request carried, nor anything about the applicant, is in any label.
    secrets = [token, token[:6], application.reference, application.phone,
               application.phone[3:], application.email, application.imei,
               application.account_id, RECOVERY["email"], "x" * 40]
    for secret in secrets:
        assert secret not in text, secret
    label_values = re.findall(r'="([^"]*)"', text)
    assert label_values and all(re.fullmatch(r"[\w/{}:.+-]*", v) for v in label_values)


async def test_loopback_only_without_a_token(app: Starlette, client):
    assert (await client.get("/metrics")).status_code == 200  # the test client is 127.0.0.1
    remote = httpx2.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx2.AsyncClient(transport=remote, base_url=BASE) as outsider:
        refused = await outsider.get("/metrics")
        assert refused.status_code == 403
        assert "SUPPORT_METRICS_TOKEN" in refused.text
        assert "support_" not in refused.text
        # Bearer tokens mean nothing when none is configured.
        assert (await outsider.get("/metrics", headers={
            "Authorization": f"Bearer {TOKEN}"})).status_code == 403
    # nginx forwards internet traffic from 127.0.0.1: a proxied request is not local.
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        proxied = await client.get("/metrics", headers={header: "198.51.100.7"})
        assert proxied.status_code == 403, header


async def test_a_token_is_required_from_everyone_when_set(app: Starlette, settings):
    guarded = create_app(settings.with_(metrics_token=TOKEN))  # shares the open database
    for address in ("127.0.0.1", "203.0.113.9"):
        transport = httpx2.ASGITransport(app=guarded, client=(address, 40000))
        async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
            missing = await http.get("/metrics")
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"].startswith("Bearer")
            assert "support_" not in missing.text
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer " + "s" * 37})
            assert wrong.status_code == 401
            basic = await http.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
            assert basic.status_code == 401
            right = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert right.status_code == 200
            assert "support_queue_depth" in right.text
            assert right.headers["cache-control"] == "no-store"


def test_a_short_token_stops_the_start_up():
    from support.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        Settings.from_env({"SUPPORT_METRICS_TOKEN": "short", "SUPPORT_SECRET_KEY": "k" * 40,
                           "SUPPORT_DATA_DIR": "/tmp/unused"})


# --- real processes ----------------------------------------------------------------------

@pytest.mark.slow
async def test_one_scrape_adds_up_web_processes_and_the_worker_process(
        tmp_path: Path, database_url: str, app):
    """`support serve --workers 2` and `support worker`, as docs/deploy.md runs them:
    submissions counted by either web process and deliveries counted by the worker all
    reach one scrape, through the multiprocess directory under the data dir. The
    worker's log line for each message carries the request id of the submission."""
    from tests.conftest import free_port
    from tests.test_server import _cli, _started

    data_dir = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "SUPPORT_DATA_DIR": str(data_dir), "PORT": str(port),
           "SUPPORT_DATABASE_URL": database_url, "SUPPORT_INPROCESS_WORKER": "0",
           "SUPPORT_WORKER_INTERVAL_MS": "100", "SUPPORT_SECRET_KEY": "k" * 48}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    assert _cli(env, "migrate").returncode == 0
    logs = [tmp_path / "serve.log", tmp_path / "worker.log"]  # files: a full pipe blocks
    processes = []
    for command, log in zip((["serve", "--workers", "2"], ["worker"]), logs, strict=True):
        with log.open("w") as output:
            processes.append(subprocess.Popen(  # noqa: ASYNC220 - outlives this call
                [sys.executable, "-m", "support", *command], env=env,
                stdout=output, stderr=subprocess.STDOUT, text=True,
            ))
    request_ids = [f"p8-submit-{n:04d}" for n in range(4)]
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            await _started(http)
            for n, request_id in enumerate(request_ids):
                async with httpx2.AsyncClient(base_url=http.base_url, timeout=10) as one:
                    form = await one.get("/apply/unlock")
                    fields = {**hidden_fields(form.text), **UNLOCK,
                              "account_id": f"61239000{n:02d}", "phone": f"98765 4321{n}"}
                    files = {"receipt": ("receipt.jpg", jpeg_bytes(), "image/jpeg")}
                    submitted = await one.post("/apply/unlock", data=fields, files=files,
                                               headers={"X-Request-ID": request_id})
                    assert submitted.status_code == 303, submitted.text
                    assert submitted.headers["x-request-id"] == request_id
            for _ in range(150):
                scraped = samples((await http.get("/metrics")).text)
                if value(scraped, "support_deliveries_total", channel="sms",
                         outcome="sent") >= len(request_ids):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the worker's deliveries never reached a scrape")
            assert value(scraped, "support_submissions_total", kind="unlock") == len(request_ids)
            assert value(scraped, "support_deliveries_total", channel="email",
                         outcome="sent") == len(request_ids)
            assert 0 <= value(scraped, "support_worker_last_tick_age_seconds") < 10
            assert sum(v for (name, labels), v in scraped.items()
                       if name == "support_http_requests_total"
                       and ("route", "/apply/{kind}") in labels) >= 2 * len(request_ids)
        assert list((data_dir / "metrics").glob("counter_*.db"))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=20)
    outputs = [log.read_text() for log in logs]
    worker_lines = [json.loads(line) for line in outputs[1].splitlines() if line.startswith("{")]
    sent = [line for line in worker_lines if line["message"].startswith("notification")
            and " sent: " in line["message"]]
    assert {line.get("request_id") for line in sent} == set(request_ids), outputs[1]
    web_lines = [json.loads(line) for line in outputs[0].splitlines() if line.startswith("{")]
    submitted_lines = [line for line in web_lines if line["message"].endswith(" submitted")]
    assert {line["request_id"] for line in submitted_lines} == set(request_ids)
    for output in outputs:
        assert "asha@example.com" not in output and "98765" not in output
