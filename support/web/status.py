"""The applicant's private status page, the look-up that re-sends it, withdrawing and
erasure (see workflow/erasure.py for when it happens)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from support import workflow
from support.config import Settings
from support.data.models import Application, DeliveryStatus, Notification
from support.documents.storage import (
    ANYWAY_SUFFIX,
    NOT_SAVED,
    NotStored,
    check_document,
    check_photo,
)
from support.documents.store import DocumentStore
from support.platform import i18n, ratelimit, tokens
from support.platform.i18n import N_
from support.reads import standing
from support.rules.kinds import (
    INFO_ITEMS,
    KINDS,
    PHOTOS_OF_PAPER,
    REJECTION_REASONS,
    UPLOADABLE,
    Kind,
    appeal_kind,
)
from support.rules.validation import FieldError
from support.web import abuse, contact
from support.web.applicant import form_page
from support.web.apply_form import Checked, check_application
from support.web.forms import read_form, read_small_form
from support.web.security import CSRF_FIELD, check_csrf
from support.web.templating import render, request_language
from support.workflow import erasure
from support.workflow.machine import APPLICANT_ACTOR, STATUS_WORDS
from support.workflow.machine import check as check_rule
from support.workflow.retention import ERASED_LINK_DAYS

NO_STORE = {"cache-control": "no-store", "x-robots-tag": "noindex"}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def status_page(request: Request) -> Response:
    application = await workflow.application_for_token(request.path_params["token"])
    if application is None:
        return render(request, "errors/status_unknown.html", status_code=404)
    if application.redacted_at is not None:
        return _erased(request, application)
    if i18n.supported(request.query_params.get("lang")):
        await workflow.set_language(application, request_language(request))
    return await _status(request, application)


def _erased(request: Request, application: Application) -> Response:
    """What a status link shows once the data is gone: a page, not an error, until the
    link's row is deleted too (ERASED_LINK_DAYS later)."""
    assert application.redacted_at is not None
    response = render(request, "applicant/erased.html", {
        "application": application, "status_word": STATUS_WORDS[application.status],
        "link_ends": application.redacted_at + timedelta(days=ERASED_LINK_DAYS),
    })
    response.headers.update(NO_STORE)
    return response


async def erase_confirm(request: Request) -> Response:
    """What erasure deletes, what it keeps and when, before the applicant confirms."""
    settings = _settings(request)
    application = await workflow.application_for_token(request.path_params["token"])
    if application is None:
        return render(request, "errors/status_unknown.html", status_code=404)
    if application.redacted_at is not None:
        return _erased(request, application)
    appealed = await Application.exists(appeal_of=application)
    response = render(request, "applicant/erase.html", {
        "application": application, "token": request.path_params["token"],
        "state": workflow.erasure_state(application).value,
        "can_withdraw": workflow.allowed(application, "withdraw", APPLICANT_ACTOR),
        "loses_appeal": erasure.loses_appeal(application, appealed),
        "document_days": settings.document_retention_days,
        "pii_days": settings.pii_retention_days,
        "link_days": ERASED_LINK_DAYS,
    })
    response.headers.update(NO_STORE)
    return response


async def erase(request: Request) -> Response:
    settings = _settings(request)
    token = request.path_params["token"]
    application = await workflow.application_for_token(token)
    if application is None:
        return render(request, "errors/status_unknown.html", status_code=404)
    await read_small_form(request)
    await workflow.request_erasure(settings, application)
    return _done(token, "erasure")


async def _status(
    request: Request, application: Application, errors: dict[str, FieldError] | None = None,
    values: dict[str, str] | None = None, status_code: int = 200,
    anyway: set[str] | None = None,
) -> Response:
    settings = _settings(request)
    now = datetime.now(UTC)
    request_items = (application.info_request or {}).get("items", [])
    appeal = await standing.appeal_of(application)
    unreachable = sorted({str(channel) for channel in await Notification.filter(
        application=application, status=DeliveryStatus.DEAD
    ).values_list("channel", flat=True)})
    response = render(request, "applicant/status.html", {
        "application": application,
        "kind": KINDS[application.kind],
        "history": await standing.history(application),
        "promise": standing.decision_promise(application, settings.sla_hours, now),
        "answer_by": standing.answer_by(application),
        "permission_ended": application.permission_expires_at is not None
        and application.permission_expires_at <= now,
        "original": await standing.original_of(application),
        "permission": await standing.permission_of(application),
        "contact": await contact.panel(application),
        "welcome": request.query_params.get("welcome") == "1",
        # What the applicant just did, said at the top (a redirect's ``?done=``).
        "done": request.query_params.get("done") if request.query_params.get("done") in DONE
        else None,
        "token": request.path_params["token"],
        "can_withdraw": workflow.allowed(application, "withdraw", APPLICANT_ACTOR),
        "reasons": REJECTION_REASONS,
        "info_items": INFO_ITEMS,
        "request_items": request_items,
        "upload_items": [item for item in request_items if item in UPLOADABLE],
        "can_appeal": workflow.appealable(application) and appeal is None,
        "appeal": appeal,
        "errors": errors or {},
        "values": values or {},
        "anyway": anyway or set(),
        "anyway_suffix": ANYWAY_SUFFIX,
        "unreachable": unreachable,
        "erasure": workflow.erasure_state(application).value,
        "code_hours": settings.unverified_ttl_hours,
    }, status_code)
    response.headers.update(NO_STORE)
    return response


# The confirmations the status page can say after a redirect (``?done=``).
DONE = ("withdrawn", "reply", "appealed", "erasure", "email")


def _done(token: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"/status/{token}?done={what}", status_code=303)


async def linked(request: Request) -> Response:
    """The other end of an appeal (the appeal from the refusal, the refusal from the
    appeal): a new private link to it, as the look-up would send. Whoever holds this
    application's link holds the contacts the other was confirmed with."""
    application = await workflow.application_for_token(request.path_params["token"])
    if application is None:
        return render(request, "errors/status_unknown.html", status_code=404)
    other = await standing.linked_application(application)
    if other is None or other.redacted_at is not None:
        return render(request, "errors/404.html", status_code=404)
    link = await workflow.new_status_link(_settings(request), other)
    return RedirectResponse(link.removeprefix(_settings(request).base_url), status_code=303)


async def reply(request: Request) -> Response:
    """The applicant's answer to a request for information: a message and the documents
    asked for, checked like the first form (every problem at once, the text kept)."""
    settings = _settings(request)
    application = await workflow.application_for_token(request.path_params["token"])
    if application is None:
        return render(request, "errors/status_unknown.html", status_code=404)
    form = await read_form(request, tmp_dir=settings.upload_tmp_dir,
                           max_file=settings.max_file_bytes, max_body=settings.max_body_bytes)
    try:
        check_csrf(request, form.get(CSRF_FIELD), settings.base_url)
        # The answer's form, and so its errors, are shown only while an answer is awaited
        # (a 422 without a visible error otherwise): any other time it is refused outright.
        check_rule(application, "reply", APPLICANT_ACTOR)
        requested = (application.info_request or {}).get("items", [])
        message = form.get("message").strip()
        errors: dict[str, FieldError] = {}
        if len(message) < 10 or len(message) > 2000:
            errors["message"] = FieldError(
                "Write your answer, 10 to 2000 characters (now %(count)s).", count=len(message)
            )
        uploads = []
        # Photos of paper the applicant sends anyway, though they looked too poor to read.
        anyway = {name for name in PHOTOS_OF_PAPER if form.get(name + ANYWAY_SUFFIX)}
        asked = PHOTOS_OF_PAPER if settings.photo_advice else frozenset()
        for name in UPLOADABLE:
            staged = form.files.get(name)
            if staged is None or name not in requested:  # only what the page asks for
                continue
            try:
                content_type = await check_document(
                    staged, settings.max_file_bytes, settings.max_image_pixels
                )
                if name in asked and name not in anyway:
                    await check_photo(staged, content_type, name)
            except FieldError as error:
                errors[name] = error
            else:
                uploads.append(workflow.Upload(staged=staged, content_type=content_type))
        if errors:
            return await _status(request, application, errors, {"message": message}, 422,
                                 anyway)
        try:
            await workflow.reply(settings, DocumentStore.of(settings), application,
                                 message, uploads)
        except NotStored as refused:  # the disk is full: nothing of the answer was kept
            errors[refused.field] = FieldError(NOT_SAVED)
            return await _status(request, application, errors, {"message": message}, 422,
                                 anyway)
    finally:
        form.discard_files()
    return _done(request.path_params["token"], "reply")


async def appeal_form(request: Request) -> Response:
    application = await workflow.application_for_token(request.path_params["token"])
    if application is None:
        return render(request, "errors/status_unknown.html", status_code=404)
    if application.redacted_at is not None:  # nothing left to prefill, and no appeal
        return _erased(request, application)
    kind = _appeal_kind(application)
    # The original's facts: the account and contacts shown as they are (an appeal keeps
    # them, workflow.appeal_facts), the rest pre-filled to change.
    fixed = workflow.appeal_facts(application)
    prefilled = Checked(values={name: getattr(application, name) or "" for name in kind.fields
                                if name not in fixed})
    return form_page(request, kind, prefilled, fixed=fixed,
                     action=f"/status/{request.path_params['token']}/appeal")


def _appeal_kind(application: Application) -> Kind:
    """The kind of an appeal against this application; DomainError if it has none now."""
    kind = appeal_kind(KINDS[application.kind])
    if kind is None or not workflow.appealable(application):
        raise workflow.DomainError("Only a refused unlock application can be appealed.")
    return kind


async def appeal_submit(request: Request) -> Response:
    settings = _settings(request)
    token = request.path_params["token"]
    application = await workflow.application_for_token(token)
    if application is None:
        return render(request, "errors/status_unknown.html", status_code=404)
    if application.redacted_at is not None:
        return _erased(request, application)
    form = await read_small_form(request)
    kind = _appeal_kind(application)
    # Whatever the form posts, the account and contacts are the refused application's.
    fixed = workflow.appeal_facts(application)
    checked = await check_application(kind, form, settings, request_language(request), fixed)
    if checked.data is None:
        return form_page(request, kind, checked, 422, action=f"/status/{token}/appeal",
                         fixed=fixed)
    # The limits of any new application: an appeal reaches reviewers and sends messages.
    limits, ip = abuse.limiter(request), abuse.client_ip(request)
    nonce = workflow.appeal_key(application)
    await limits.check(ratelimit.Rule.SUBMIT_IP, ip)
    await limits.check_submission(fixed["phone"], fixed["account_id"], nonce)
    link = await workflow.appeal(settings, application, checked.data)
    await limits.count_submission(ip, fixed["phone"], fixed["account_id"], nonce)
    return RedirectResponse(link.removeprefix(settings.base_url) + "?done=appealed", 303)


async def withdraw_confirm(request: Request) -> Response:
    application = await workflow.application_for_token(request.path_params["token"])
    if application is None:
        return render(request, "errors/status_unknown.html", status_code=404)
    return render(request, "applicant/withdraw.html", {
        "application": application, "token": request.path_params["token"],
    })


async def withdraw(request: Request) -> Response:
    token = request.path_params["token"]
    application = await workflow.application_for_token(token)
    if application is None:
        return render(request, "errors/status_unknown.html", status_code=404)
    await read_small_form(request)
    await workflow.withdraw(application)
    return _done(token, "withdrawn")


async def lookup_form(request: Request) -> Response:
    return render(request, "applicant/lookup.html", {"values": {}, "errors": {}})


async def lookup_submit(request: Request) -> Response:
    settings = _settings(request)
    form = await read_small_form(request)
    values = {"reference": form.get("reference"), "contact": form.get("contact")}
    errors = {}
    if not values["reference"].strip():
        errors["reference"] = N_("Enter the reference we sent you, for example UL-7KQ2-9XHD.")
    if not values["contact"].strip():
        errors["contact"] = N_("Enter the phone number or email you gave in the application.")
    if errors:
        return render(request, "applicant/lookup.html", {"values": values, "errors": errors}, 422)
    await abuse.limiter(request).hit(ratelimit.Rule.LOOKUP_IP, abuse.client_ip(request))
    reference = tokens.parse_reference(values["reference"])
    # The same page whether or not anything matched: references are not to be probed.
    if reference is not None:
        await workflow.request_status_link(settings, reference, values["contact"])
    return render(request, "applicant/lookup_sent.html", {"values": values})
