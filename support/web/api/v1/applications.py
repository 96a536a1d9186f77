"""Applications from the maker's apps: the web form's facts and documents, sent as
multipart, checked by the same code (``web.apply_form.check_application``), under the same
limits, confirmed by the same code sent by SMS and email (``workflow.submit``/``verify``),
and read back without the applicant's contacts or documents.

Every message for a person comes in the language asked for (``?lang=``, else
``Accept-Language``, else English): the web form's own words, already translated. Every
refusal also carries a stable code (docs/api.md): a field's from its ``FieldError``."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from support import workflow
from support.config import Settings
from support.data.models import Application, Status, Verification
from support.documents.storage import NOT_SAVED, NotStored
from support.documents.store import DocumentStore
from support.platform import i18n, ratelimit, tokens
from support.platform.i18n import N_
from support.reads import standing
from support.rules.kinds import INFO_ITEMS, KINDS, REJECTION_REASONS
from support.rules.validation import FieldError
from support.web import abuse
from support.web.api import auth
from support.web.api.bodies import json_body, language
from support.web.api.errors import NO_STORE, ApiError
from support.web.api.registry import Answer, endpoint
from support.web.api.schemas import ErrorResponse
from support.web.apply_form import check_application
from support.web.forms import read_form
from support.workflow.applicant import TooSoon, seconds_until_resend
from support.workflow.machine import STATUS_WORDS

TAG = "Applications"
PUBLIC_KINDS = [code for code, kind in KINDS.items() if kind.public]
FILE_SLOTS = {slot.name: slot for code in PUBLIC_KINDS for slot in KINDS[code].documents}
IDEMPOTENCY_KEY_MAX = 255
REFERENCE = {"reference": "The application's reference, as `UL-7K3M-Q9TX` (case, spaces "
                          "and dashes as typed are forgiven)."}

# A field the kind does not name, for a program: its own error code.
KIND_REFUSED = N_("Choose what you are applying for: %(kinds)s.")
# A 422's own message, as the form's heading says it; each field's says what to do.
FIELDS_REFUSED = ("There is %(num)d problem with your answers",
                  "There are %(num)d problems with your answers")
NOT_FOUND = "There is no application with this reference."
# Wrong codes: the workflow's words (translated already), and the code a program reads.
_CODE_REFUSALS = {
    "Too many wrong codes. Ask for a new code below.": "too_many_tries",
    "This code has expired. Ask for a new code below.": "code_expired",
    "That code is not right. You have %(left)s tries left.": "code_wrong",
    "That code is not right, and it was the last try. Ask for a new code below.":
        "code_wrong",
}
CODE_FORMAT = "Enter the 6-digit code we sent you."


# --- models ---------------------------------------------------------------------------


def _binary(description: str) -> Any:
    """An optional file (``bytes`` is a string of format binary in the schema); a part
    left out, not a null: a form has no nulls."""
    return Field(default=b"", description=description)


class ApplicationForm(BaseModel):
    """The form, as the web page sends it. The files named here are each kind's document
    slots; a kind ignores the ones it does not ask for."""

    kind: str = Field(description="What is applied for: " + ", ".join(
        f"`{code}`" for code in PUBLIC_KINDS) + ".", json_schema_extra={"enum": [*PUBLIC_KINDS]})
    account_id: str = Field(description="The numeric account ID (Settings → Mi Account).")
    country: str = Field(description="Where the applicant lives: ISO 3166-1 alpha-2, `IN`.")
    time_zone: str = Field(default="", description="An IANA zone "
                                  "(`Asia/Yekaterinburg`), required where the country keeps "
                                  "several times (code `time_zone_invalid` otherwise).")
    phone: str = Field(description="The phone registered with the account; the code is sent "
                                   "to it by SMS. With its country code, or national.")
    email: str = Field(description="The account's email; the code is sent to it too.")
    model: str = Field(description="The phone's model, as the catalogue names it.")
    firmware: str = Field(description="The firmware version from Settings → About phone.")
    imei: str = Field(default="", description="15 digits; asked by `recovery`.")
    reason: str = Field(description="30 to 2000 characters; in English for `unlock`.")
    receipt: bytes = Field(description="The purchase receipt: JPEG, PNG or PDF, at most "
                                       "10 MB (all kinds).")
    box_photo: bytes = _binary("A photo of the phone's box with its IMEI label "
                                      "(optional, `recovery`).")
    sim_proof: bytes = _binary("Proof that the SIM card is the applicant's "
                                      "(optional, `recovery`).")


class Links(BaseModel):
    confirm: str = Field(description="Where to send the code (POST).")
    self_: str = Field(alias="self", description="Where to read the application (GET).")


class Submitted(BaseModel):
    reference: str = Field(description="The application's reference.")
    status: str = Field(description="`submitted` when made: waiting for the code sent by "
                                    "SMS and email (a retry's answer gives the state now).",
                        json_schema_extra={"enum": [s.value for s in Status]})
    kind: str
    created_at: datetime
    confirm_by: datetime = Field(description="Unconfirmed until then, it expires.")
    links: Links


class ConfirmBody(BaseModel):
    code: str = Field(min_length=1, max_length=64,
                      description="The 6-digit code from the SMS or email.")


class Confirmed(BaseModel):
    reference: str
    status: str = Field(description="`queued`: waiting for a reviewer.")
    due_at: datetime = Field(description="The decision is promised by then.")
    status_url: str = Field(description="The applicant's private status page (a secret: "
                                        "open it for the applicant, do not log it).")


class Resent(BaseModel):
    reference: str
    code_expires_at: datetime = Field(description="The new code works until then.")
    resend_after: int = Field(description="Seconds before another code may be asked for.")


class DecisionState(BaseModel):
    outcome: str = Field(json_schema_extra={"enum": ["approved", "rejected"]})
    reason_code: str | None = Field(description="Why it was refused: " + ", ".join(
        f"`{code}`" for code in REJECTION_REASONS) + "; null when approved.")
    reason: str | None = Field(description="The reason in words, in the language asked for.")
    text: str | None = Field(description="The decision as the applicant was sent it, in "
                                         "the applicant's language (`language`).")


class InfoItem(BaseModel):
    code: str = Field(description="One of " + ", ".join(f"`{c}`" for c in INFO_ITEMS) + ".")
    text: str = Field(description="What is asked, in the language asked for.")


class InfoRequest(BaseModel):
    items: list[InfoItem]
    message: str = Field(description="The reviewer's message, as the applicant was sent it.")


class ApplicationState(BaseModel):
    reference: str
    kind: str
    status: str = Field(json_schema_extra={"enum": [s.value for s in Status]})
    status_text: str = Field(description="The state in words, in the language asked for.")
    language: str = Field(description="The applicant's language: their messages are in it.")
    created_at: datetime
    confirmed_at: datetime | None
    due_at: datetime | None = Field(description="The decision was promised by then.")
    expected_by: datetime | None = Field(description="While it waits on the desk: when a "
                                         "decision may be expected (later than `due_at` once "
                                         "the desk is late).")
    decided_at: datetime | None
    answer_by: datetime | None = Field(description="With `needs_info`: the applicant "
                                       "answers (on the status page) by then, or it expires.")
    permission_expires_at: datetime | None = Field(description="An approved unlock's "
                                                   "permission ends then.")
    decision: DecisionState | None
    info_request: InfoRequest | None = Field(description="What is asked, with `needs_info`.")


# --- language and errors --------------------------------------------------------------


def _say(lang: str, message: str, params: dict[str, object] | None = None) -> str:
    """A msgid in ``lang``; string params are msgids too (a document's label, a state),
    or the applicant's own text, which has no entry and stays as it is."""
    words = i18n.translations(lang)
    return words.gettext(message) % {
        name: words.gettext(value) if isinstance(value, str) else value
        for name, value in (params or {}).items()}


def _field_problems(errors: dict[str, FieldError], lang: str) -> dict[str, dict[str, str]]:
    return {name: {"code": error.code or f"{name}_invalid",
                   "message": _say(lang, error.message, error.params)}
            for name, error in errors.items()}


def _invalid(errors: dict[str, FieldError], lang: str) -> ApiError:
    count = len(errors)
    heading = i18n.translations(lang).ngettext(*FIELDS_REFUSED, count) % {"num": count}
    return ApiError(422, "invalid", heading, fields=_field_problems(errors, lang))


def _ok(body: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=status,
                        headers={**NO_STORE, **(headers or {})})


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _require_type(request: Request, wanted: str) -> None:
    given = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if given != wanted:
        raise ApiError(415, "unsupported_media_type", f"Send the body as {wanted}.")


def _model_refused(exc: ValidationError) -> ApiError:
    fields: dict[str, dict[str, str]] = {}
    for problem in exc.errors():
        name = ".".join(str(part) for part in problem["loc"]) or "body"
        fields.setdefault(name, {"code": "required" if problem["type"] == "missing"
                                 else "invalid", "message": problem["msg"]})
    return ApiError(422, "invalid", "The body does not have the documented shape.",
                    fields=fields)


async def _application(request: Request, lang: str) -> Application:
    reference = tokens.parse_reference(request.path_params["reference"])
    found = await Application.get_or_none(reference=reference) if reference else None
    if found is None:
        raise ApiError(404, "not_found", _say(lang, NOT_FOUND))
    return found


def _links(reference: str) -> Links:
    return Links.model_validate({"confirm": f"/api/v1/applications/{reference}/confirm",
                                 "self": f"/api/v1/applications/{reference}"})


def _submission_key(key_id: int, given: str | None) -> tuple[str, bool]:
    """The application's ``submission_key`` for an ``Idempotency-Key`` (the web form's
    nonce): namespaced per API key, so two services' keys never meet. Without one, a
    fresh key: every POST is a new application."""
    if given is None:
        return f"api-{key_id}-{secrets.token_urlsafe(24)}", False
    if not 1 <= len(given) <= IDEMPOTENCY_KEY_MAX or not given.isascii() \
            or not given.isprintable():
        raise ApiError(400, "idempotency_key_invalid", "An Idempotency-Key is 1 to "
                       f"{IDEMPOTENCY_KEY_MAX} printable ASCII characters.")
    digest = hashlib.sha256(given.encode()).hexdigest()[:40]
    return f"api-{key_id}-{digest}", True


def _submitted(application: Application, settings: Settings) -> Submitted:
    created = application.created_at or datetime.now(UTC)
    return Submitted(reference=application.reference, status=application.status.value,
                     kind=application.kind, created_at=created,
                     confirm_by=created + timedelta(hours=settings.unverified_ttl_hours),
                     links=_links(application.reference))


# --- operations -----------------------------------------------------------------------

_SUBMIT_ANSWERS = {
    200: Answer("A retry with an `Idempotency-Key` already used by this API key: the "
                "application that key made, as it is now.", Submitted),
    201: Answer("Made, `submitted`: a 6-digit code was sent to the phone by SMS and to the "
                "email; confirm it to reach reviewers.", Submitted, headers=("Location",)),
    400: Answer("The body is not a readable multipart form, or the Idempotency-Key is "
                "malformed.", ErrorResponse, codes=("bad_request", "idempotency_key_invalid")),
    409: Answer("This account already has an application of this kind being handled (its "
                "reference is not told).", ErrorResponse, codes=("open_application",)),
    413: Answer("The body is over the limit (32 MB by default).", ErrorResponse,
                codes=("too_large",)),
    415: Answer("Not multipart/form-data.", ErrorResponse, codes=("unsupported_media_type",)),
    422: Answer("Every field with a problem, each with its code and a message in the "
                "language asked for (`error.fields`); nothing was kept.", ErrorResponse,
                codes=("invalid",)),
    429: Answer("An allowance is spent: the key's, or the web form's limits (per address, "
                "phone and account). `Retry-After` says how long.", ErrorResponse,
                codes=("rate_limited",), headers=("Retry-After",)),
}


@endpoint("POST", "/v1/applications", summary="Send an application from an app",
          scope="applications:write", tag=TAG, multipart=ApplicationForm,
          answers=_SUBMIT_ANSWERS)
async def submit_application(request: Request) -> Response:
    """The web form's facts and documents, checked exactly as the form checks them, under
    the same limits (applications a day per phone and per account, an hour per address).
    The application is made `submitted` and its code sent by SMS and email in the language
    asked for (`?lang=` or `Accept-Language`), which becomes the applicant's language.

    A 422 lists every field with a problem at once, each with a stable code (docs/api.md:
    `required`, `phone_invalid`, `firmware_stable`, `file_type`, `file_scripts`...) and the
    form's message for it in the language asked for. Nothing of a refused request is kept.

    Send an `Idempotency-Key` header (your own unique value per application, up to 255
    characters) to retry safely after a lost answer: the same key from the same API key
    answers 200 with the application it made, whatever the retry's body."""
    key = await auth.require(request, "applications:write")
    _require_type(request, "multipart/form-data")
    settings, lang = _settings(request), language(request)
    nonce, named = _submission_key(key.id, request.headers.get("idempotency-key"))
    if named:
        earlier = await Application.get_or_none(submission_key=nonce)
        if earlier is not None:
            return _ok(_submitted(earlier, settings))
    limits, ip = abuse.limiter(request), abuse.client_ip(request)
    await limits.check(ratelimit.Rule.SUBMIT_IP, ip)  # before an upload is read
    form = await read_form(request, tmp_dir=settings.upload_tmp_dir,
                           max_file=settings.max_file_bytes, max_body=settings.max_body_bytes)
    try:
        kind = KINDS.get(form.get("kind").strip())
        if kind is None or not kind.public:
            refused = FieldError(KIND_REFUSED, kinds=", ".join(PUBLIC_KINDS),
                                 error_code="required" if not form.get("kind").strip()
                                 else "kind_unknown")
            raise _invalid({"kind": refused}, lang)
        checked = await check_application(kind, form, settings, locale=lang)
        if checked.data is None:
            raise _invalid(checked.errors, lang)
        await limits.check_submission(checked.data.phone, checked.data.account_id, nonce)
        try:
            application = await workflow.submit(settings, DocumentStore.of(settings),
                                                checked.data, checked.uploads, nonce)
        except workflow.DomainError as refusal:  # this account has one open already
            raise ApiError(409, "open_application",
                           _say(lang, refusal.message, refusal.params)) from refusal
        except NotStored as refused_file:  # the disk is full: nothing was kept
            raise _invalid({refused_file.field: FieldError(
                NOT_SAVED, error_code="file_not_saved")}, lang) from refused_file
    finally:
        form.discard_files()  # what the application took was moved; the rest goes
    await limits.count_submission(ip, checked.data.phone, checked.data.account_id, nonce)
    answer = _submitted(application, settings)
    return _ok(answer, 201, {"location": answer.links.self_})


def _unconfirmable(application: Application, lang: str) -> ApiError:
    if application.verified_at is not None:
        return ApiError(409, "already_confirmed",
                        _say(lang, "This application is already confirmed."))
    return ApiError(409, "not_confirmable", _say(
        lang, "This application is %(status)s and can no longer be confirmed.",
        {"status": STATUS_WORDS[application.status]}))


@endpoint("POST", "/v1/applications/{reference}/confirm",
          summary="Confirm an application with the code sent to the applicant",
          scope="applications:write", tag=TAG, body=ConfirmBody, path_params=REFERENCE,
          answers={
              200: Answer("Confirmed and `queued` for a reviewer.", Confirmed),
              400: Answer("The body is not JSON.", ErrorResponse, codes=("bad_request",)),
              404: Answer("No application has this reference.", ErrorResponse,
                          codes=("not_found",)),
              409: Answer("Confirmed already, or no longer waiting for its code (expired, "
                          "withdrawn); or the account had another application of the kind "
                          "confirmed meanwhile.", ErrorResponse,
                          codes=("already_confirmed", "not_confirmable", "open_application")),
              413: Answer("The body is over 16 KB.", ErrorResponse, codes=("too_large",)),
              415: Answer("Not application/json.", ErrorResponse,
                          codes=("unsupported_media_type",)),
              422: Answer("The code is wrong (`tries_left` says how many remain), has "
                          "expired, or was guessed wrong too often (ask for a new one); or "
                          "the body is not `{\"code\": \"123456\"}`.", ErrorResponse,
                          codes=("code_wrong", "code_expired", "too_many_tries", "invalid")),
          })
async def confirm_application(request: Request) -> Response:
    """The code the applicant received by SMS or email. Right, the application goes to
    reviewers and the answer gives the applicant's private status page (`status_url`):
    open it for them, keep it out of logs. Wrong codes are counted, per code and per
    address: after the last try, ask for a new code (`/confirm/resend`)."""
    await auth.require(request, "applications:write")
    settings, lang = _settings(request), language(request)
    application = await _application(request, lang)
    try:
        body = ConfirmBody.model_validate(await json_body(request))
    except ValidationError as exc:
        raise _model_refused(exc) from exc
    if application.status is not Status.SUBMITTED:
        raise _unconfirmable(application, lang)
    code = "".join(ch for ch in body.code if ch.isdigit())
    if len(code) != 6 or not code.isascii():
        raise ApiError(422, "invalid", _say(lang, CODE_FORMAT), fields={"code": {
            "code": "code_format", "message": _say(lang, CODE_FORMAT)}})
    await abuse.limiter(request).hit(ratelimit.Rule.VERIFY_IP, abuse.client_ip(request))
    try:
        link = await workflow.verify(settings, application.reference, code)
    except workflow.CodeRejected as refusal:
        left = refusal.params.get("left")
        raise ApiError(422, _CODE_REFUSALS.get(refusal.message, "code_wrong"),
                       _say(lang, refusal.message, refusal.params),
                       tries_left=left if isinstance(left, int) else 0) from refusal
    except workflow.DomainError as refusal:
        fresh = await Application.get(id=application.id)
        if fresh.status is not Status.SUBMITTED:  # confirmed by a request in between
            raise _unconfirmable(fresh, lang) from refusal
        raise ApiError(409, "open_application",
                       _say(lang, refusal.message, refusal.params)) from refusal
    fresh = await Application.get(id=application.id)
    assert fresh.due_at is not None
    return _ok(Confirmed(reference=fresh.reference, status=fresh.status.value,
                         due_at=fresh.due_at, status_url=link))


@endpoint("POST", "/v1/applications/{reference}/confirm/resend",
          summary="Send the applicant a new code", scope="applications:write", tag=TAG,
          path_params=REFERENCE, answers={
              202: Answer("A new code is on its way by SMS and email; the old one no "
                          "longer works.", Resent),
              404: Answer("No application has this reference.", ErrorResponse,
                          codes=("not_found",)),
              409: Answer("Confirmed already, no longer waiting for its code, or sent too "
                          "many times (apply again).", ErrorResponse,
                          codes=("already_confirmed", "not_confirmable", "too_many_codes")),
              429: Answer("Too soon after the last code (`retry_after` seconds), or the "
                          "address's allowance of new codes is spent.", ErrorResponse,
                          codes=("too_soon", "rate_limited"), headers=("Retry-After",)),
          })
async def resend_code(request: Request) -> Response:
    """A new code, sent as the first one was (SMS and email, the applicant's language).
    Wait `resend_after` seconds between two; an application gets a few in all."""
    await auth.require(request, "applications:write")
    settings, lang = _settings(request), language(request)
    application = await _application(request, lang)
    if application.status is not Status.SUBMITTED:
        raise _unconfirmable(application, lang)
    await abuse.limiter(request).hit(ratelimit.Rule.RESEND_IP, abuse.client_ip(request))
    try:
        await workflow.resend_code(settings, application.reference)
    except TooSoon as early:
        raise ApiError(429, "too_soon", _say(lang, early.message, early.params),
                       {"retry-after": str(early.seconds)},
                       retry_after=early.seconds) from early
    except workflow.DomainError as refusal:
        fresh = await Application.get(id=application.id)
        if fresh.status is not Status.SUBMITTED:
            raise _unconfirmable(fresh, lang) from refusal
        raise ApiError(409, "too_many_codes",
                       _say(lang, refusal.message, refusal.params)) from refusal
    verification = await Verification.get(application_id=application.id)
    return _ok(Resent(reference=application.reference,
                      code_expires_at=verification.expires_at,
                      resend_after=seconds_until_resend(settings, verification)), 202)


@endpoint("GET", "/v1/applications/{reference}", summary="Read an application's state",
          scope="applications:read", tag=TAG, path_params=REFERENCE, answers={
              200: Answer("Its state, dates, decision and what is asked of the applicant.",
                          ApplicationState),
              404: Answer("No application has this reference.", ErrorResponse,
                          codes=("not_found",)),
          })
async def read_application(request: Request) -> Response:
    """Where an application stands: its state (and in words), its dates, the decision
    (outcome, reason code and words, the text the applicant was sent) and, while the desk
    waits on the applicant (`needs_info`), what was asked and by when. Words are in the
    language asked for; the decision's and the request's texts are as the applicant was
    sent them, in their language.

    Never the applicant's contacts, account facts or documents. A key with
    `applications:read` reads any application, whichever app or page sent it: the keys
    are the maker's own services."""
    await auth.require(request, "applications:read")
    settings, lang = _settings(request), language(request)
    application = await _application(request, lang)
    promise = standing.decision_promise(application, settings.sla_hours, datetime.now(UTC))
    return _ok(ApplicationState(
        reference=application.reference, kind=application.kind,
        status=application.status.value,
        status_text=_say(lang, STATUS_WORDS[application.status]),
        language=application.locale, created_at=application.created_at,
        confirmed_at=application.verified_at, due_at=application.due_at,
        expected_by=promise.by if promise else None, decided_at=application.decided_at,
        answer_by=standing.answer_by(application),
        permission_expires_at=application.permission_expires_at,
        decision=_decision(application, lang), info_request=_asked(application, lang)))


def _decision(application: Application, lang: str) -> DecisionState | None:
    if application.status not in (Status.APPROVED, Status.REJECTED):
        return None
    code = application.decision_code
    reason = REJECTION_REASONS.get(code) if code else None
    return DecisionState(outcome=application.status.value, reason_code=code,
                         reason=_say(lang, reason) if reason else None,
                         text=application.decision_text)


def _asked(application: Application, lang: str) -> InfoRequest | None:
    if application.status is not Status.NEEDS_INFO or not application.info_request:
        return None
    items = [str(item) for item in application.info_request.get("items", [])]
    return InfoRequest(items=[InfoItem(code=item, text=_say(lang, INFO_ITEMS[item])
                                       if item in INFO_ITEMS else item) for item in items],
                       message=str(application.info_request.get("message", "")))
