"""The permission to unlock: check it, redeem it for one device (issue 22).

The codes and their ``until`` are support/rules/permissions.py's (docs/api.md has the
table); the messages are for the applicant, in the language asked for (``?lang=``, else
``Accept-Language``, else English), with the English beside them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from support.platform import i18n
from support.platform.formatting import format_applicant
from support.reads import permissions as reads
from support.rules import permissions as rules
from support.rules import zones
from support.rules.validation import FieldError, check_account_id
from support.web.api import auth
from support.web.api.bodies import json_body, language
from support.web.api.errors import NO_STORE, ApiError
from support.web.api.registry import Answer, endpoint
from support.web.api.schemas import ErrorResponse
from support.workflow import permissions as workflow

Code = Literal["allowed", "no_application", "under_review", "refused", "expired",
               "redeemed", "revoked", "model_mismatch", "quota_reached"]
REFUSALS = tuple(code for code in rules.CODES if code != rules.ALLOWED)

ACCOUNT_PARAM = {"account_id": "The account's numeric ID (6 to 20 digits; zeros in front "
                               "do not count)."}
LANG_DESCRIPTION = ("The applicant's language for `message`: `en`, `hi`, `mr` or `ru` "
                    "(else `Accept-Language`, else English).")


class CheckQuery(BaseModel):
    model: str = Field(min_length=1, max_length=rules.MODEL_MAX,
                       description="The phone's model as the tool knows it, e.g. `Redmi Note "
                                   "10 Pro` (case, spacing, a leading `Xiaomi` and the "
                                   "codename are all understood).")
    lang: str | None = Field(default=None, max_length=35, description=LANG_DESCRIPTION)


class PermissionInfo(BaseModel):
    """The permission the answer is about (for `model_mismatch`: the one for another
    model)."""

    model: str = Field(description="The model it is for.")
    granted_at: datetime
    expires_at: datetime = Field(description="When it ends if not used.")
    redeemed_at: datetime | None = Field(description="When a device redeemed it.")
    revoked_at: datetime | None = Field(description="When the desk withdrew it.")


class CheckAnswer(BaseModel):
    account_id: str = Field(description="The account, as stored (no zeros in front).")
    model: str = Field(description="The model asked about, as the catalogue names it.")
    may_unlock: bool = Field(description="True only with `code` `allowed`.")
    code: Code = Field(description="Why, from the table in docs/api.md.")
    message: str = Field(description="For the applicant, in `lang`.")
    message_en: str = Field(description="The same in English.")
    lang: str = Field(description="The language of `message`.")
    until: datetime | None = Field(description="When the answer may change, where known.")
    permission: PermissionInfo | None


class RedeemBody(BaseModel):
    model: str = Field(min_length=1, max_length=rules.MODEL_MAX,
                       description="The phone's model, as for the check.")
    device_id: str = Field(pattern=rules.DEVICE_ID_PATTERN,
                           description="The device's identifier as the unlock tool reads it: "
                                       "8 to 64 of `A-Z a-z 0-9 . _ : -`. The grant is "
                                       "bound to it.")


class RedeemAnswer(BaseModel):
    grant: str = Field(description="A compact JWS (EdDSA, Ed25519): claims `iss` "
                                   "(`support`), `sub` (the account), `model`, `device`, "
                                   "`jti`, `iat`, `exp`, `permission_exp`.")
    expires_at: datetime = Field(description="The grant's `exp`.")
    kid: str = Field(description="The key that signed it, in `GET /api/v1/keys`.")
    permission_expires_at: datetime = Field(description="When the permission itself ends.")
    repeated: bool = Field(description="True when this device was given this grant before "
                                       "(a retry).")


def _fields_problem(error: ValidationError, message_of: dict[str, str]) -> ApiError:
    fields: dict[str, dict[str, str]] = {}
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "body"
        fields.setdefault(name, {"code": f"{name}_invalid" if name in message_of else
                                 str(problem["type"]),
                                 "message": message_of.get(name, str(problem["msg"]))})
    return ApiError(422, "invalid", "Some fields are not valid; see `fields`.", fields=fields)


_FIELD_MESSAGES = {
    "model": "Give the phone's model, 1 to 64 characters, for example Redmi Note 10 Pro.",
    "device_id": "A device id is 8 to 64 of the characters A-Z a-z 0-9 . _ : -",
}


def _account(raw: str, lang: str) -> str:
    try:
        return check_account_id(raw)
    except FieldError as wrong:
        message = i18n.translations(lang).gettext(wrong.message)
        raise ApiError(422, "invalid", "The account ID is not valid; see `fields`.", fields={
            "account_id": {"code": "account_id_invalid",
                           "message": message % wrong.params if wrong.params else message},
        }) from None


def _model(raw: str) -> str:
    problem = rules.model_problem(raw)
    if problem is not None:
        raise ApiError(422, "invalid", "The model is not valid; see `fields`.",
                       fields={"model": {"code": "model_invalid", "message": problem}})
    return rules.canonical_model(raw)


def _words(answer: rules.Answer, model: str, lang: str) -> str:
    zone = (zones.zone_name(answer.application.country, answer.application.time_zone)
            if answer.application is not None and answer.application.country else None)
    params = {"model": model, "when": format_applicant(answer.until, zone, lang),
              **answer.params}
    return i18n.translations(lang).gettext(answer.message) % params


def _permission(answer: rules.Answer) -> PermissionInfo | None:
    p = answer.permission
    if p is None:
        return None
    return PermissionInfo(model=p.model, granted_at=p.granted_at, expires_at=p.expires_at,
                          redeemed_at=p.redeemed_at, revoked_at=p.revoked_at)


@endpoint("GET", "/v1/accounts/{account_id}/permission",
          summary="May this account unlock this model now?", scope="permissions:read",
          tag="Permissions", query=CheckQuery, path_params=ACCOUNT_PARAM,
          answers={
              200: Answer("The answer: `may_unlock`, and the code why (an account the "
                          "desk has never seen is `no_application`).", CheckAnswer,
                          codes=tuple(rules.CODES)),
              422: Answer("The account ID or the model is malformed; `fields` says which.",
                          ErrorResponse, codes=("invalid",)),
          })
async def check_permission(request: Request) -> Response:
    """Answers whether the account holds a permission it can redeem for this model now,
    and if not, why (`code`) and until when (`until`), with a message for the applicant.
    Reads only: asking changes nothing."""
    await auth.require(request, "permissions:read")
    try:
        query = CheckQuery.model_validate(dict(request.query_params))
    except ValidationError as error:
        raise _fields_problem(error, _FIELD_MESSAGES) from None
    lang = language(request)
    account_id = _account(request.path_params["account_id"], lang)
    model = _model(query.model)
    answer = await reads.check(request.app.state.settings, account_id, model,
                               datetime.now(UTC))
    body = CheckAnswer(
        account_id=account_id, model=model, may_unlock=answer.may_unlock,
        code=answer.code,  # type: ignore[arg-type]
        message=_words(answer, model, lang), message_en=_words(answer, model, "en"),
        lang=lang, until=answer.until, permission=_permission(answer))
    return JSONResponse(body.model_dump(mode="json"), headers=NO_STORE)


@endpoint("POST", "/v1/accounts/{account_id}/permission/redeem",
          summary="Redeem the permission for one device: a signed unlock grant",
          scope="permissions:redeem", tag="Permissions", body=RedeemBody,
          path_params=ACCOUNT_PARAM,
          answers={
              200: Answer("The grant. Verify it offline with `GET /api/v1/keys`.",
                          RedeemAnswer),
              400: Answer("The body is not valid JSON.", ErrorResponse,
                          codes=("bad_request",)),
              409: Answer("Refused, with the check's code and `until`; nothing was "
                          "changed. A permission already redeemed by another device is "
                          "`redeemed`; no permission at all is `no_application`.",
                          ErrorResponse, codes=REFUSALS),
              413: Answer("The body is larger than 16 KB.", ErrorResponse,
                          codes=("too_large",)),
              415: Answer("The body is not declared as JSON.", ErrorResponse,
                          codes=("unsupported_media_type",)),
              422: Answer("The account ID, the model or the device id is malformed; "
                          "`fields` says which.", ErrorResponse, codes=("invalid",)),
          })
async def redeem_permission(request: Request) -> Response:
    """Once only: the first device gets a grant bound to the account, the model and that
    device, valid 15 minutes (never past the permission's end). The same device asking
    again gets the same grant while it lives, then a fresh one while the permission lives
    (so a retry is always safe); any other device is refused with `redeemed`. The account's
    quota (one redeemed unlock per 365 days by default) is checked here too.

    The error's `message` is for the applicant in the language asked for (`?lang=`,
    `Accept-Language`), `message_en` the same in English."""
    key = await auth.require(request, "permissions:redeem")
    lang = language(request)
    account_id = _account(request.path_params["account_id"], lang)
    raw = await json_body(request)
    try:
        body = RedeemBody.model_validate(raw)
    except ValidationError as error:
        raise _fields_problem(error, _FIELD_MESSAGES) from None
    model = _model(body.model)
    settings = request.app.state.settings
    try:
        grant = await workflow.redeem(account_id, model, body.device_id,
                                      reads.quota_of(settings), sla=settings.sla_hours,
                                      by=f"api:{key.name}")
    except workflow.Refused as refused:
        answer = refused.answer
        raise ApiError(409, answer.code, _words(answer, model, lang),
                       message_en=_words(answer, model, "en"), lang=lang,
                       until=answer.until.isoformat() if answer.until else None) from None
    body_out = RedeemAnswer(grant=grant.token, expires_at=grant.expires_at, kid=grant.kid,
                            permission_expires_at=grant.permission_expires_at,
                            repeated=not grant.fresh)
    return JSONResponse(body_out.model_dump(mode="json"), headers=NO_STORE)
