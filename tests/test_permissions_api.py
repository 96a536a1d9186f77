"""The maker's unlock service asks the API (issue 22): may this account unlock this model
now, and if not why and until when (every code, in the applicant's language and English);
redeem the permission for one device and verify the grant with the published keys; and
every bad input answered with its code, never a 500, nothing half-written. Every answer is
checked against the served OpenAPI document (tests/api_contract.py)."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from starlette.routing import Mount

from support import workflow
from support.data.models import Application, Event, Permission, Reviewer, Status
from support.platform import grants
from support.rules.kinds import KINDS
from support.web.api.registry import SCOPES
from support.workflow import api_keys, permissions
from tests.api_contract import check
from tests.factories import make_application

_numbers = itertools.count(1)
DEVANAGARI = re.compile(r"[\u0900-\u097F]")
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
MODEL = "Redmi Note 10 Pro"


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def bearer(app) -> dict[str, str]:
    """A key of the unlock service, with both permission scopes."""
    # The API sub-app reads the settings and the limiter from its own state; until app.py
    # hands them over, the test does (a no-op once it does).
    mounted = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/api")
    for name in ("settings", "limiter"):
        if not hasattr(mounted.app.state, name):
            setattr(mounted.app.state, name, getattr(app.state, name))
    made = await api_keys.create("unlock-service", ["permissions:read", "permissions:redeem"],
                                 SCOPES, by="test")
    return {"authorization": f"Bearer {made.secret}"}


async def _reviewer(role: str = "reviewer") -> Reviewer:
    n = next(_numbers)
    return await Reviewer.create(email=f"pa{n}@example.com", name=f"R {n}", role=role,
                                 password_hash="-", kinds=list(KINDS), countries=[])


async def _in_review(**overrides: Any) -> tuple[Application, Reviewer]:
    holder = await _reviewer()
    now = _now()
    application = await make_application(status=Status.IN_REVIEW, assignee=holder,
                                         claimed_at=now, last_activity_at=now, **overrides)
    return application, holder


async def _decide(application: Application, holder: Reviewer, action: str) -> Application:
    return await workflow.decide(application, workflow.reviewer_actor(holder), workflow.Decision(
        action=action, text="Our answer to you.",
        reason_code="reason_insufficient" if action == "reject" else None))


async def _approved(**overrides: Any) -> Application:
    application, holder = await _in_review(**overrides)
    return await _decide(application, holder, "approve")


async def _check(client: httpx2.AsyncClient, bearer: dict[str, str], account: str,
                 model: str = MODEL, **params: str) -> dict[str, Any]:
    answer = await client.get(f"/api/v1/accounts/{account}/permission",
                              params={"model": model, **params}, headers=bearer)
    check(answer)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _redeem(client: httpx2.AsyncClient, bearer: dict[str, str], account: str,
                  device: str, model: str = MODEL, **headers: str) -> httpx2.Response:
    answer = await client.post(f"/api/v1/accounts/{account}/permission/redeem",
                               json={"model": model, "device_id": device},
                               headers={**bearer, **headers})
    check(answer)
    return answer


def _moment(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


async def test_an_account_before_and_after_its_approval(client, bearer):
    application, holder = await _in_review(account_id="6123456789")
    before = await _check(client, bearer, "6123456789", "  redmi NOTE 10 pro ")
    assert (before["may_unlock"], before["code"]) == (False, "under_review")
    assert before["model"] == MODEL and before["permission"] is None
    assert _moment(before["until"]) == application.due_at  # the promised decision date
    await _decide(application, holder, "approve")
    after = await _check(client, bearer, "06123456789", "xiaomi redmi note 10 pro")
    assert (after["may_unlock"], after["code"], after["account_id"]) == \
        (True, "allowed", "6123456789")
    expires = (await Application.get(id=application.id)).permission_expires_at
    assert _moment(after["until"]) == _moment(after["permission"]["expires_at"]) == expires
    assert MODEL in after["message"] and after["message"] == after["message_en"]


async def test_every_code_with_its_until(client, bearer):
    unknown = await _check(client, bearer, "6999999999")
    assert (unknown["code"], unknown["until"]) == ("no_application", None)

    refused_app, holder = await _in_review(account_id="6100000001")
    await _decide(refused_app, holder, "reject")
    refused = await _check(client, bearer, "6100000001")
    assert (refused["code"], refused["until"], refused["may_unlock"]) == ("refused", None, False)

    asked = await make_application(account_id="6100000002", status=Status.NEEDS_INFO,
                                   info_requested_at=_now())
    waiting = await _check(client, bearer, "6100000002")
    assert waiting["code"] == "under_review"
    assert _moment(waiting["until"]) == KINDS["unlock"].answer_due(asked.info_requested_at)

    lapsed = await _approved(account_id="6100000003")
    await Permission.filter(application_id=lapsed.id).update(expires_at=_now() - timedelta(hours=1))
    expired = await _check(client, bearer, "6100000003")
    ended = (await Permission.get(application_id=lapsed.id)).expires_at
    assert (expired["code"], _moment(expired["until"])) == ("expired", ended)

    used = await _approved(account_id="6100000004")
    assert (await _redeem(client, bearer, "6100000004", "device-0001")).status_code == 200
    redeemed = await _check(client, bearer, "6100000004")
    row = await Permission.get(application_id=used.id)
    assert (redeemed["code"], _moment(redeemed["until"])) == ("redeemed", row.redeemed_at)
    assert _moment(redeemed["permission"]["redeemed_at"]) == row.redeemed_at

    other = await _approved(account_id="6100000005", model="POCO F3")
    mismatch = await _check(client, bearer, "6100000005")
    assert mismatch["code"] == "model_mismatch" and "POCO F3" in mismatch["message"]
    assert mismatch["permission"]["model"] == other.model

    await _approved(account_id="6100000004", model="POCO F3")  # a second, within the year
    quota = await _check(client, bearer, "6100000004", "POCO F3")
    assert (quota["code"], quota["may_unlock"]) == ("quota_reached", False)
    assert _moment(quota["until"]) == row.redeemed_at + timedelta(days=365)  # type: ignore[operator]
    refused_redeem = await _redeem(client, bearer, "6100000004", "device-0002", "POCO F3")
    assert refused_redeem.status_code == 409
    assert refused_redeem.json()["error"]["code"] == "quota_reached"
    assert _moment(refused_redeem.json()["error"]["until"]) == _moment(quota["until"])


async def test_the_revoked_code_after_a_lead_revokes(client, bearer, settings):
    application = await _approved(account_id="6100000006")
    lead = await _reviewer("lead")
    await permissions.revoke(settings, application, workflow.reviewer_actor(lead),
                             "The receipt turned out to be forged.")
    revoked = await _check(client, bearer, "6100000006")
    row = await Permission.get(application_id=application.id)
    assert (revoked["code"], _moment(revoked["until"])) == ("revoked", row.revoked_at)
    refused = await _redeem(client, bearer, "6100000006", "device-0001")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "revoked"
    assert (await Permission.get(application_id=application.id)).device_id is None


async def test_messages_in_the_applicants_language_and_english(client, bearer):
    await _approved(account_id="6100000007", locale="hi", time_zone="Asia/Kolkata")
    hindi = await _check(client, bearer, "6100000007", lang="hi")
    assert hindi["lang"] == "hi" and DEVANAGARI.search(hindi["message"])
    assert "until" in hindi["message_en"] and MODEL in hindi["message_en"]
    russian = (await client.get("/api/v1/accounts/6100000007/permission",
                                params={"model": MODEL},
                                headers={**bearer, "accept-language": "ru-RU,ru;q=0.9"}))
    check(russian)
    assert russian.json()["lang"] == "ru" and CYRILLIC.search(russian.json()["message"])
    refused = await _redeem(client, bearer, "6999999998", "device-0001",
                            **{"accept-language": "ru"})
    error = refused.json()["error"]
    assert refused.status_code == 409 and error["code"] == "no_application"
    assert CYRILLIC.search(error["message"]) and "no approved application" in error["message_en"]


async def test_the_grant_verifies_with_the_published_keys_and_binds_the_device(client, bearer):
    application = await _approved(account_id="6100000008")
    answer = await _redeem(client, bearer, "6100000008", "SN:ab12-CD34.ef")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    keys = await client.get("/api/v1/keys")
    check(keys)
    claims = grants.verify(body["grant"], keys.json())
    assert (claims["sub"], claims["model"], claims["device"]) == \
        ("6100000008", MODEL, "SN:ab12-CD34.ef")
    assert claims["exp"] == int(_moment(body["expires_at"]).timestamp())
    assert _now().timestamp() < claims["exp"] <= _now().timestamp() + 15 * 60 + 5
    assert body["kid"] in [key["kid"] for key in keys.json()["keys"]]
    assert _moment(body["permission_expires_at"]) == \
        (await Application.get(id=application.id)).permission_expires_at
    again = await _redeem(client, bearer, "6100000008", "SN:ab12-CD34.ef")
    assert again.status_code == 200
    assert (again.json()["grant"], again.json()["repeated"]) == (body["grant"], True)
    other = await _redeem(client, bearer, "6100000008", "another-phone-1")
    assert other.status_code == 409 and other.json()["error"]["code"] == "redeemed"
    assert (await Permission.get(application_id=application.id)).device_id == "SN:ab12-CD34.ef"


async def test_twenty_concurrent_redeems_yield_exactly_one_grant(client, bearer):
    application = await _approved(account_id="6100000009")
    answers = await asyncio.gather(*(
        _redeem(client, bearer, "6100000009", f"phone-{n:04d}") for n in range(20)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 19
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"redeemed"}
    winner = next(a.json() for a in answers if a.status_code == 200)
    row = await Permission.get(application_id=application.id)
    assert row.grant == winner["grant"]
    assert await Event.filter(application_id=application.id,
                              type="permission_redeemed").count() == 1


async def test_a_key_revoked_mid_way_is_refused_and_a_key_without_the_scope_is_403(
    client, bearer,
):
    await _approved(account_id="6100000010")
    assert (await _check(client, bearer, "6100000010"))["code"] == "allowed"
    reader = await api_keys.create("reader", ["permissions:read"], SCOPES, by="test")
    only_read = {"authorization": f"Bearer {reader.secret}"}
    forbidden = await _redeem(client, only_read, "6100000010", "device-0001")
    assert forbidden.status_code == 403
    await api_keys.revoke("unlock-service", by="test")
    gone = await client.get("/api/v1/accounts/6100000010/permission",
                            params={"model": MODEL}, headers=bearer)
    check(gone)
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "unauthorized"
    gone = await _redeem(client, bearer, "6100000010", "device-0001")
    assert gone.status_code == 401
    assert (await Permission.get(account_id="6100000010")).redeemed_at is None


@pytest.mark.parametrize(("account", "params", "field"), [
    ("abc", {"model": MODEL}, "account_id"),
    ("12", {"model": MODEL}, "account_id"),
    ("0000000000000000000000001", {"model": MODEL}, "account_id"),
    ("6123456789", {}, "model"),
    ("6123456789", {"model": ""}, "model"),
    ("6123456789", {"model": "x" * 65}, "model"),
    ("6123456789", {"model": "   "}, "model"),
    ("6123456789", {"model": "Redmi\x00Note"}, "model"),
])
async def test_a_malformed_check_is_422_with_the_field(client, bearer, account, params, field):
    answer = await client.get(f"/api/v1/accounts/{account}/permission", params=params,
                              headers=bearer)
    check(answer)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    assert error["fields"][field]["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"model": MODEL, "device_id": "short"}, "device_id"),
    ({"model": MODEL, "device_id": "has/slash-1234"}, "device_id"),
    ({"model": MODEL, "device_id": "x" * 65}, "device_id"),
    ({"model": MODEL}, "device_id"),
    ({"model": "", "device_id": "device-0001"}, "model"),
    ({"model": 42, "device_id": "device-0001"}, "model"),
    ({"model": " \t ", "device_id": "device-0001"}, "model"),
])
async def test_a_malformed_redeem_is_422_and_writes_nothing(client, bearer, body, field):
    application = await _approved(account_id="6100000011")
    answer = await client.post("/api/v1/accounts/6100000011/permission/redeem", json=body,
                               headers=bearer)
    check(answer)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["error"]["fields"]
    assert (await Permission.get(application_id=application.id)).redeemed_at is None


async def test_a_body_of_the_wrong_type_or_size(client, bearer):
    await _approved(account_id="6100000012")
    path = "/api/v1/accounts/6100000012/permission/redeem"
    cases = [
        ({"content": b"model=x&device_id=y", "headers": {"content-type": "text/plain"}},
         415, "unsupported_media_type"),
        ({"content": b"{\"model\": ", "headers": {"content-type": "application/json"}},
         400, "bad_request"),
        ({"content": b"[" * 5000 + b"]" * 5000,
          "headers": {"content-type": "application/json"}}, 400, "bad_request"),
        ({"content": b"{\"model\": \"" + b"x" * 20_000 + b"\"}",
          "headers": {"content-type": "application/json"}}, 413, "too_large"),
        ({"content": b"[1, 2]", "headers": {"content-type": "application/json"}},
         422, "invalid"),
    ]
    for request, status, code in cases:
        answer = await client.post(path, content=request["content"],
                                   headers={**bearer, **request["headers"]})
        check(answer)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), \
            answer.text
    assert (await Permission.get(account_id="6100000012")).redeemed_at is None
