"""Applications from the maker's apps (issue 22): ``/api/v1/applications``.

The same facts, documents, checks, limits and code as the web form, answered in JSON: a
whole journey from an app to a decision read back in Hindi, every field's problem at once
with its code and the form's own words in Russian, hostile files, retries with an
Idempotency-Key, and every refusal leaving nothing behind (rows or files). Every answer is
held against the served contract (``tests/api_contract.py``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from support import workflow
from support.config import Settings
from support.data.models import Application, Document, Notification, Status, Verification
from support.platform import i18n
from support.rules.kinds import INFO_ITEMS, REJECTION_REASONS
from support.web.api import openapi
from support.web.api.registry import SCOPES
from support.workflow import api_keys
from support.workflow.review import Decision
from tests import hostile
from tests.api_contract import check
from tests.conftest import RECOVERY, UNLOCK, Outbox, jpeg_bytes
from tests.test_apply import Page, hidden_fields, leftovers

API = "/api/v1/applications"
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
DEVANAGARI = re.compile(r"[\u0900-\u097F]")
MAX_FILE = 1024 * 1024
MAX_BODY = 3 * MAX_FILE


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Small limits, so a file or a body over them costs a megabyte, not thirty."""
    return replace(settings, max_file_bytes=MAX_FILE, max_body_bytes=MAX_BODY)


async def bearer(*scopes: str, name: str = "") -> dict[str, str]:
    made = await api_keys.create(name or "app-" + "-".join(s.split(":")[1] for s in scopes)
                                 + f"-{len(scopes)}", list(scopes), SCOPES, by="test")
    return {"authorization": f"Bearer {made.secret}"}


async def writer() -> dict[str, str]:
    return await bearer("applications:write", "applications:read", name="maker-app")


def receipt(content: bytes | None = None, name: str = "receipt.jpg") -> dict[str, Any]:
    return {"receipt": (name, jpeg_bytes() if content is None else content, "image/jpeg")}


async def send(client: httpx2.AsyncClient, headers: dict[str, str], fields: dict[str, str],
               files: dict[str, Any] | None = None, *, kind: str = "unlock",
               query: str = "") -> httpx2.Response:
    answer = await client.post(f"{API}{query}", headers=headers, data={"kind": kind, **fields},
                               files=receipt() if files is None else files)
    check(answer)
    return answer


def spool_bytes(settings: Settings) -> int:
    return sum(p.stat().st_size for p in leftovers(settings.spool_dir))


async def assert_nothing_kept(settings: Settings, applications: int = 0) -> None:
    """No row and no file from a refused request: the application count as before, no
    document, no message, nothing in tmp/, documents/ or the spool."""
    assert await Application.all().count() == applications
    assert await Document.all().count() == 0
    assert await Notification.all().count() == 0
    assert leftovers(settings.upload_tmp_dir) == []
    assert leftovers(settings.documents_dir) == []
    assert spool_bytes(settings) == 0


def words(lang: str, msgid: str, **params: object) -> str:
    return i18n.translations(lang).gettext(msgid) % params


# --- the journey ------------------------------------------------------------------------


async def test_an_app_applies_confirms_and_reads_the_decision_in_hindi(
    client: httpx2.AsyncClient, outbox: Outbox, desk, settings: Settings,
):
    key = await writer()
    hindi = {**key, "accept-language": "hi-IN,hi;q=0.9,en;q=0.5"}
    sent = await send(client, hindi, UNLOCK)
    assert sent.status_code == 201, sent.text
    body = sent.json()
    reference = body["reference"]
    assert body["status"] == "submitted" and body["kind"] == "unlock"
    assert sent.headers["location"] == body["links"]["self"] == f"{API}/{reference}"
    created = datetime.fromisoformat(body["created_at"])
    assert datetime.fromisoformat(body["confirm_by"]) - created == \
        timedelta(hours=settings.unverified_ttl_hours)
    stored = await Application.get(reference=reference)
    assert (stored.status, stored.locale, stored.phone) == (Status.SUBMITTED, "hi",
                                                            "+919876543210")
    assert await Document.filter(application=stored, purpose="receipt").count() == 1

    # The code goes by SMS (and email) as for the web form, in the applicant's language.
    code = await outbox.last_code()
    code_sms = [m["text"] for m in outbox.sms() if code in m["text"]]
    assert code_sms and DEVANAGARI.search(code_sms[-1])
    wrong = "000000" if code != "000000" else "111111"
    refused = await client.post(body["links"]["confirm"], headers=hindi, json={"code": wrong})
    check(refused)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "code_wrong"
    assert refused.json()["error"]["tries_left"] == settings.code_attempts - 1
    assert DEVANAGARI.search(refused.json()["error"]["message"])

    confirmed = await client.post(body["links"]["confirm"], headers=key, json={"code": code})
    check(confirmed)
    assert confirmed.status_code == 200, confirmed.text
    answer = confirmed.json()
    assert answer["status"] == "queued" and answer["reference"] == reference
    status_page = await client.get(answer["status_url"].removeprefix("http://testserver"))
    assert status_page.status_code == 200 and reference in status_page.text
    again = await client.post(body["links"]["confirm"], headers=key, json={"code": code})
    check(again)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_confirmed"

    read = await client.get(body["links"]["self"], headers=key)
    check(read)
    state = read.json()
    assert state["status"] == "queued" and state["status_text"] == "waiting for a reviewer"
    assert state["due_at"] == answer["due_at"] and state["confirmed_at"]
    assert datetime.fromisoformat(state["due_at"]) > datetime.now(UTC)
    assert state["decision"] is None and state["info_request"] is None

    # A reviewer refuses it, through the workflow, in the applicant's language.
    reviewer = workflow.reviewer_actor((await desk.reviewer()).reviewer)
    await workflow.claim(await Application.get(reference=reference), reviewer)
    text = "आपका कारण यह नहीं बताता कि अनलॉक क्यों ज़रूरी है। कृपया विस्तार से लिखें।"
    await workflow.decide(await Application.get(reference=reference), reviewer,
                          Decision("reject", text, reason_code="reason_insufficient"))
    decided = await client.get(f"{API}/{reference.lower()}?lang=hi", headers=key)
    check(decided)
    state = decided.json()
    assert state["status"] == "rejected" and state["decided_at"]
    assert state["status_text"] == words("hi", "refused") != "refused"
    decision = state["decision"]
    assert decision["outcome"] == "rejected"
    assert decision["reason_code"] == "reason_insufficient"
    assert decision["reason"] == words("hi", REJECTION_REASONS["reason_insufficient"])
    assert DEVANAGARI.search(decision["reason"]) and decision["text"] == text
    # Never the applicant's contacts or documents.
    for private in ("+919876543210", "asha@example.com", UNLOCK["account_id"], "receipt",
                    UNLOCK["reason"]):
        assert private not in decided.text
    english = await client.get(f"{API}/{reference}", headers=key)
    check(english)
    assert english.json()["decision"]["reason"] == REJECTION_REASONS["reason_insufficient"]


async def test_a_question_from_the_desk_is_read_with_its_items_and_answer_by(
    client: httpx2.AsyncClient, outbox: Outbox, desk,
):
    key = await writer()
    application = await _queued(client, key, outbox)
    reviewer = workflow.reviewer_actor((await desk.reviewer()).reviewer)
    await workflow.claim(application, reviewer)
    await workflow.decide(await Application.get(id=application.id), reviewer,
                          Decision("request_info", "Please send a readable receipt.",
                                   items=("receipt", "imei")))
    read = await client.get(f"{API}/{application.reference}?lang=ru", headers=key)
    check(read)
    state = read.json()
    assert state["status"] == "needs_info" and state["decision"] is None
    asked = state["info_request"]
    assert asked["message"] == "Please send a readable receipt."
    assert asked["items"] == [{"code": c, "text": words("ru", INFO_ITEMS[c])}
                              for c in ("receipt", "imei")]
    assert all(CYRILLIC.search(item["text"]) for item in asked["items"])
    fresh = await Application.get(id=application.id)
    assert fresh.info_requested_at is not None
    assert datetime.fromisoformat(state["answer_by"]) == \
        fresh.info_requested_at + timedelta(days=14)
    assert "reviewer_id" not in read.text


async def _queued(client: httpx2.AsyncClient, key: dict[str, str], outbox: Outbox,
                  fields: dict[str, str] | None = None) -> Application:
    """An application sent and confirmed through the API."""
    sent = await send(client, key, fields or UNLOCK)
    assert sent.status_code == 201, sent.text
    confirmed = await client.post(sent.json()["links"]["confirm"], headers=key,
                                  json={"code": await outbox.last_code()})
    check(confirmed)
    assert confirmed.status_code == 200, confirmed.text
    return await Application.get(reference=sent.json()["reference"])


# --- every field at once ------------------------------------------------------------------

WRONG = {
    "account_id": "asha.k",
    "country": "ZZ",
    "phone": "12",
    "email": "asha at example",
    "model": "Nokia 3310",
    "firmware": "V12.5.3.0.RKHMIXM",
    "reason": "unlock pls",
}
WRONG_CODES = {
    "account_id": "account_id_not_digits",
    "country": "country_unknown",
    "phone": "phone_country_missing",
    "email": "email_invalid",
    "model": "model_unknown",
    "firmware": "firmware_stable",
    "reason": "reason_too_short",
    "receipt": "required",
}


async def test_every_wrong_field_is_listed_with_its_code_in_the_forms_russian_words(
    client: httpx2.AsyncClient, settings: Settings,
):
    key = await writer()
    # No receipt; a part the form does not ask for is dropped, as the web form drops it.
    stray = {"note": ("note.txt", b"hello", "text/plain")}
    answer = await send(client, key, WRONG, files=stray, query="?lang=ru")
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid" and CYRILLIC.search(error["message"])
    fields = error["fields"]
    assert {name: problem["code"] for name, problem in fields.items()} == WRONG_CODES
    assert all(CYRILLIC.search(problem["message"]) for problem in fields.values())
    # The same checks as the web form, in its words: each message is the one the form
    # shows next to that field.
    page = await client.get("/apply/unlock?lang=ru")
    form = await client.post("/apply/unlock?lang=ru", data={**hidden_fields(page.text),
                                                            **WRONG})
    assert form.status_code == 422
    shown = Page(form.text)
    assert shown.errors() == set(fields)
    for name, problem in fields.items():
        assert problem["message"] in shown.error_for(name), name
    await assert_nothing_kept(settings)
    # English where nothing (or a language we do not have) is asked.
    english = await send(client, {**key, "accept-language": "de-DE"}, WRONG, files=stray)
    assert english.json()["error"]["fields"]["model"]["message"].startswith(
        "We do not know the model Nokia 3310.")


@pytest.mark.parametrize(("kind", "fields", "expected"), [
    pytest.param("appeal", UNLOCK, {"kind": "kind_unknown"}, id="appeal-not-public"),
    pytest.param("", UNLOCK, {"kind": "required"}, id="no-kind"),
    pytest.param("recovery", {**RECOVERY, "imei": "490154203237519"},
                 {"imei": "imei_check_digit"}, id="recovery-imei"),
    pytest.param("unlock", {**UNLOCK, "phone": "+91 98765", "email": "a b@example.com"},
                 {"phone": "phone_too_short", "email": "email_invalid"}, id="contacts"),
    pytest.param("unlock", {**UNLOCK, "reason": "Я хочу разблокировать загрузчик телефона."},
                 {"reason": "reason_not_english"}, id="reason-not-english"),
])
async def test_each_refusal_has_its_documented_code(
    client: httpx2.AsyncClient, settings: Settings, kind, fields, expected,
):
    answer = await send(client, await writer(), fields, kind=kind)
    assert answer.status_code == 422, answer.text
    found = answer.json()["error"]["fields"]
    assert {name: problem["code"] for name, problem in found.items()} == expected
    assert all(problem["message"] for problem in found.values())
    await assert_nothing_kept(settings)


@pytest.mark.parametrize(("content", "code"), [
    pytest.param(hostile.pdf_open_action_javascript(), "file_scripts", id="pdf-javascript"),
    pytest.param(hostile.png_bomb(), "file_too_many_pixels", id="png-bomb"),
    pytest.param(b"MZ\x90\x00 not a photo", "file_type", id="executable"),
    pytest.param(b"", "file_empty", id="empty"),
    pytest.param(b"\xff\xd8\xff" + b"\0" * MAX_FILE, "file_too_large", id="over-the-limit"),
])
async def test_a_hostile_or_unusable_file_is_refused_with_its_code_and_nothing_kept(
    client: httpx2.AsyncClient, settings: Settings, content: bytes, code: str,
):
    answer = await send(client, await writer(), UNLOCK, receipt(content, "receipt.pdf"),
                        query="?lang=mr")
    assert answer.status_code == 422, answer.text
    problem = answer.json()["error"]["fields"]["receipt"]
    assert problem["code"] == code
    assert DEVANAGARI.search(problem["message"])
    assert list(answer.json()["error"]["fields"]) == ["receipt"]
    await assert_nothing_kept(settings)


# --- retries, conflicts and limits --------------------------------------------------------


async def test_a_retry_with_the_same_idempotency_key_finds_the_same_application(
    client: httpx2.AsyncClient, outbox: Outbox, settings: Settings,
):
    key = await writer()
    retry = {**key, "idempotency-key": "order-7781-attempt"}
    first = await send(client, retry, UNLOCK)
    second = await send(client, retry, UNLOCK)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["reference"] == first.json()["reference"]
    assert await Application.all().count() == 1
    assert await Document.all().count() == 1
    await outbox.deliver()
    assert len(outbox.sms()) == 1  # one code, not two
    assert leftovers(settings.upload_tmp_dir) == []
    # Another service's key with the same value is another application.
    other = {**await bearer("applications:write", name="other-app"),
             "idempotency-key": "order-7781-attempt"}
    third = await send(client, other, UNLOCK)
    assert third.status_code == 201 and third.json()["reference"] != first.json()["reference"]
    # A malformed key is refused before anything is read.
    bad = await send(client, {**key, "idempotency-key": "x" * 300}, UNLOCK)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "idempotency_key_invalid"
    assert await Application.all().count() == 2


async def test_an_account_with_an_open_application_is_told_so_without_its_reference(
    client: httpx2.AsyncClient, outbox: Outbox, settings: Settings,
):
    key = await writer()
    first = await _queued(client, key, outbox)
    again = await send(client, key, {**UNLOCK, "phone": "+91 91234 56789",
                                     "email": "other@example.com"})
    assert again.status_code == 409, again.text
    error = again.json()["error"]
    assert error["code"] == "open_application"
    assert first.reference not in again.text
    assert first.reference.replace("-", "") not in again.text.replace("-", "")
    assert await Application.all().count() == 1
    assert await Document.all().count() == 1  # the first one's receipt only
    assert leftovers(settings.upload_tmp_dir) == []


async def test_the_web_forms_limits_hold_and_answer_json_with_retry_after(
    client: httpx2.AsyncClient, settings: Settings,
):
    key = await writer()
    allowed = int(settings.limit_submit_phone.split("/")[0])  # a day per phone: 3
    accounts = [f"61234567{n:02d}" for n in range(allowed + 1)]
    answers = [await send(client, key, {**UNLOCK, "account_id": account})
               for account in accounts]
    assert [a.status_code for a in answers[:-1]] == [201] * (len(accounts) - 1)
    refused = answers[-1]
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 0
    assert await Application.all().count() == len(accounts) - 1
    assert leftovers(settings.upload_tmp_dir) == []


# --- confirming ---------------------------------------------------------------------------


async def test_codes_wrong_expired_spent_and_resent(
    client: httpx2.AsyncClient, outbox: Outbox, settings: Settings,
):
    key = await writer()
    sent = await send(client, key, UNLOCK)
    reference = sent.json()["reference"]
    confirm, resend = f"{API}/{reference}/confirm", f"{API}/{reference}/confirm/resend"
    code = await outbox.last_code()

    early = await client.post(resend, headers=key)
    check(early)
    assert early.status_code == 429 and early.json()["error"]["code"] == "too_soon"
    assert 0 < int(early.headers["retry-after"]) <= settings.code_resend_after_seconds

    for shape in ({"code": "12345"}, {"kode": code}):
        malformed = await client.post(confirm, headers=key, json=shape)
        check(malformed)
        assert malformed.status_code == 422 and malformed.json()["error"]["code"] == "invalid"
        assert "code" in malformed.json()["error"]["fields"]
    assert (await Verification.get(application__reference=reference)).attempts == 0

    await Verification.filter(application__reference=reference).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1))
    expired = await client.post(confirm, headers=key, json={"code": code})
    check(expired)
    assert expired.status_code == 422 and expired.json()["error"]["code"] == "code_expired"

    await Verification.filter(application__reference=reference).update(
        last_sent_at=datetime.now(UTC) - timedelta(hours=1))
    resent = await client.post(resend, headers=key)
    check(resent)
    assert resent.status_code == 202, resent.text
    assert datetime.fromisoformat(resent.json()["code_expires_at"]) > datetime.now(UTC)
    new_code = await outbox.last_code()
    wrong = "000000" if new_code != "000000" else "111111"
    tries = []
    for _ in range(settings.code_attempts + 1):
        answer = await client.post(confirm, headers=key, json={"code": wrong})
        check(answer)
        tries.append((answer.json()["error"]["code"], answer.json()["error"].get("tries_left")))
    assert tries[0] == ("code_wrong", settings.code_attempts - 1)
    assert tries[settings.code_attempts - 1] == ("code_wrong", 0)
    assert tries[-1][0] == "too_many_tries"
    still = await client.post(confirm, headers=key, json={"code": new_code})
    assert still.status_code == 422 and still.json()["error"]["code"] == "too_many_tries"
    assert (await Application.get(reference=reference)).status is Status.SUBMITTED

    unknown = await client.post(f"{API}/UL-0000-0000/confirm", headers=key,
                                json={"code": new_code})
    check(unknown)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


# --- keys, types and sizes ----------------------------------------------------------------


async def test_no_key_a_wrong_key_or_a_wrong_scope_is_refused(
    client: httpx2.AsyncClient, settings: Settings,
):
    reader = await bearer("applications:read")
    write_only = await bearer("applications:write")
    for headers in ({}, {"authorization": "Bearer sk_not-a-key"}):
        answer = await send(client, headers, UNLOCK)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
        read = await client.get(f"{API}/UL-0000-0000", headers=headers)
        check(read)
        assert read.status_code == 401
    forbidden = await send(client, reader, UNLOCK)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["required_scope"] == "applications:write"
    for path in (f"{API}/UL-0000-0000/confirm", f"{API}/UL-0000-0000/confirm/resend"):
        answer = await client.post(path, headers=reader, json={"code": "123456"})
        check(answer)
        assert answer.status_code == 403
    read = await client.get(f"{API}/UL-0000-0000", headers=write_only)
    check(read)
    assert read.status_code == 403
    missing = await client.get(f"{API}/UL-0000-0000", headers=reader)
    check(missing)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    await assert_nothing_kept(settings)


async def test_a_body_too_large_or_of_the_wrong_type_is_refused_in_json(
    client: httpx2.AsyncClient, settings: Settings,
):
    key = await writer()
    big = {"receipt": ("a.jpg", jpeg_bytes(), "image/jpeg"),
           "box_photo": ("b.jpg", b"\xff\xd8\xff" + b"1" * (MAX_BODY // 2), "image/jpeg"),
           "sim_proof": ("c.jpg", b"\xff\xd8\xff" + b"2" * (MAX_BODY // 2), "image/jpeg")}
    too_large = await send(client, key, RECOVERY, big, kind="recovery")
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "too_large"
    as_json = await client.post(API, headers=key, json={"kind": "unlock", **UNLOCK})
    check(as_json)
    assert as_json.status_code == 415
    assert as_json.json()["error"]["code"] == "unsupported_media_type"
    broken = await client.post(API, headers={
        **key, "content-type": "multipart/form-data; boundary=xyz"},
        content=b"--xyz\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nunlock")
    check(broken)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "bad_request"
    await assert_nothing_kept(settings)

    reference = (await send(client, key, UNLOCK)).json()["reference"]
    confirm = f"{API}/{reference}/confirm"
    for answer, status in [
        (await client.post(confirm, headers=key, content=b"code=123456"), 415),
        (await client.post(confirm, headers={**key, "content-type": "application/json"},
                           content=b"{not json"), 400),
        (await client.post(confirm, headers={**key, "content-type": "application/json"},
                           content=b'{"code": "' + b"1" * 20_000 + b'"}'), 413),
    ]:
        check(answer)
        assert answer.status_code == status, answer.text
    assert (await Verification.get(application__reference=reference)).attempts == 0


def test_the_contract_shows_the_form_fields_and_files():
    operation = openapi.document()["paths"]["/api/v1/applications"]["post"]
    assert operation["security"] == [{"bearer": ["applications:write"]}]
    schema_ref = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    schema = openapi.document()["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert {"kind", "account_id", "country", "time_zone", "phone", "email", "model",
            "firmware", "imei", "reason", "receipt", "box_photo", "sim_proof"} \
        <= set(schema["properties"])
    assert schema["properties"]["receipt"]["format"] == "binary"
    assert set(operation["responses"]) >= {"200", "201", "401", "403", "409", "413", "415",
                                           "422", "429"}
    read = openapi.document()["paths"]["/api/v1/applications/{reference}"]["get"]
    assert read["security"] == [{"bearer": ["applications:read"]}]
    assert "any application" in read["description"]

