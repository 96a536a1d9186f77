"""The applicant's contacts as the status page shows them: whether each message reached
them by email and by SMS (``panel``, for ``templates/applicant/_deliveries.html``), and the
corrected email they may give once, confirmed by a code sent to it (issue 21; the rules
are ``workflow/contact.py``'s)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from support import workflow
from support.data.models import Application, Channel, DeliveryStatus, Notification
from support.platform import ratelimit
from support.platform.i18n import N_
from support.rules.validation import FieldError, check_email
from support.web import abuse
from support.web.context import settings_of
from support.web.forms import read_small_form
from support.web.templating import render
from support.workflow import mail
from support.workflow.contact import RESENT

NO_STORE = {"cache-control": "no-store", "x-robots-tag": "noindex"}

# What each message is, in the applicant's words (templates/email and templates/sms; the
# reviewers' own emails never belong to an application).
MESSAGE_NAMES: dict[str, str] = {
    "verification_code": N_("Your confirmation code"),
    "email_code": N_("Code to confirm your new email"),
    "status_link": N_("Link to your status page"),
    "received": N_("Application received"),
    "approved": N_("Decision: approved"),
    "rejected": N_("Decision: not approved"),
    "info_requested": N_("Request for more information"),
    "reply_received": N_("Your answer received"),
    "expired_no_reply": N_("Application closed: no answer in time"),
    "withdrawn": N_("Application withdrawn"),
    "erased": N_("Your personal data erased"),
    "permission_reminder": N_("Reminder: your permission ends soon"),
    "permission_revoked": N_("Your unlock permission was withdrawn"),
    "email_taken": N_("Your email received"),
    "mail_unmatched": N_("We could not match your email to an application"),
}
OTHER_MESSAGE = N_("A message about your application")

CHANNEL_NAMES = {Channel.EMAIL.value: N_("Email"), Channel.SMS.value: N_("SMS")}

# An email and its SMS are written in one statement: rows further apart are two messages.
_TOGETHER = timedelta(seconds=60)


DEAD = ("dead", "returned")


def _state(row: Notification) -> str:
    if row.status is DeliveryStatus.SENT:
        return "sent"
    if row.status is DeliveryStatus.DEAD:
        # Accepted by the relay, then sent back by the applicant's mail server (issue 23).
        return "returned" if row.last_error.startswith(mail.RETURNED) else "dead"
    return "pending"


def _messages(rows: list[Notification]) -> list[dict[str, Any]]:
    """Rows in the order written → one entry per message, newest first."""
    messages: list[dict[str, Any]] = []
    for row in rows:
        channel = str(row.channel)
        last = messages[-1] if messages else None
        if (last is None or last["template"] != row.template
                or channel in {c["channel"] for c in last["channels"]}
                or row.created_at - last["at"] > _TOGETHER):
            last = {
                "template": row.template,
                "name": MESSAGE_NAMES.get(row.template, OTHER_MESSAGE),
                "at": row.created_at,
                "resent": bool((row.context or {}).get(RESENT)),
                "channels": [],
            }
            messages.append(last)
        last["channels"].append({
            "channel": channel,
            "label": CHANNEL_NAMES.get(channel, channel),
            "state": _state(row),
            "to": row.recipient,
            "sent_at": row.sent_at,
            # Pending after a failed try: when the next one is due.
            "retry_at": row.next_attempt_at if row.status is DeliveryStatus.PENDING
            and row.attempts > 0 else None,
        })
    for message in messages:
        message["channels"].sort(key=lambda c: c["channel"])  # email, then SMS
        message["dead"] = any(c["state"] in DEAD for c in message["channels"])
    messages.reverse()
    return messages


async def panel(application: Application) -> dict[str, Any]:
    """What ``_deliveries.html`` shows: each message sent to the applicant with each
    channel's state, and whether (and how loudly) to offer a corrected email. One query,
    two while a correction may be offered."""
    # The maker's webhooks about this application are not messages to the applicant.
    rows = await Notification.filter(application=application).exclude(
        channel=Channel.WEBHOOK).order_by("id")
    messages = _messages(rows)
    can_correct = workflow.can_correct_email(application)
    waiting = await workflow.waiting_email(application) if can_correct else None
    return {
        "messages": messages,
        "email_dead": any(c["channel"] == Channel.EMAIL.value and c["state"] in DEAD
                          for message in messages for c in message["channels"]),
        "can_correct_email": can_correct,
        "email_waiting": waiting is not None,
        "email_corrected_at": application.email_corrected_at,
    }


# The corrected email ------------------------------------------------------------------

async def _page(
    request: Request, application: Application, *, error: FieldError | None = None,
    code_error: FieldError | None = None, value: str = "", notice: str = "",
    status_code: int = 200,
) -> Response:
    settings = settings_of(request)
    refusal = workflow.email_correction_refusal(application)
    waiting = await workflow.waiting_email(application) if refusal is None else None
    response = render(request, "applicant/email_fix.html", {
        "application": application,
        "token": request.path_params["token"],
        "refusal": refusal,
        "waiting": waiting,
        "expired": waiting is not None and waiting.expires_at <= datetime.now(UTC),
        "error": error,
        "code_error": code_error,
        "value": value,
        "notice": notice,
        "minutes": settings.code_ttl_seconds // 60,
    }, status_code)
    response.headers.update(NO_STORE)
    return response


def _unknown(request: Request) -> Response:
    return render(request, "errors/status_unknown.html", status_code=404)


async def email_form(request: Request) -> Response:
    """The corrected email's form, or the code's form while a corrected email waits for
    it, or why neither is offered (corrected already, erased…)."""
    application = await workflow.application_for_token(request.path_params["token"])
    if application is None:
        return _unknown(request)
    return await _page(request, application)


async def email_start(request: Request) -> Response:
    settings = settings_of(request)
    token = request.path_params["token"]
    application = await workflow.application_for_token(token)
    if application is None:
        return _unknown(request)
    form = await read_small_form(request)
    value = form.get("email").strip()
    refusal = workflow.email_correction_refusal(application)
    if refusal is not None:
        return await _page(request, application, status_code=409)
    try:  # checked here first, so a typo costs none of the address's allowance
        check_email(value)
    except FieldError as error:
        return await _page(request, application, error=error, value=value, status_code=422)
    # Each start sends an email to an address the applicant chose: limited like a new code.
    await abuse.limiter(request).hit(ratelimit.Rule.RESEND_IP, abuse.client_ip(request))
    try:
        await workflow.start_email_correction(settings, application, value)
    except workflow.DomainError as refused:
        return await _page(request, application, error=FieldError(refused.message,
                                                                  **refused.params),
                           value=value, status_code=refused.status_code)
    return RedirectResponse(f"/status/{token}/email", status_code=303)


async def email_confirm(request: Request) -> Response:
    settings = settings_of(request)
    token = request.path_params["token"]
    application = await workflow.application_for_token(token)
    if application is None:
        return _unknown(request)
    form = await read_small_form(request)
    if workflow.email_correction_refusal(application) is not None:
        return await _page(request, application, status_code=409)
    code = "".join(ch for ch in form.get("code") if ch.isdigit())
    if len(code) != 6:
        return await _page(request, application, status_code=422,
                           code_error=FieldError("Enter the 6-digit code we sent you."))
    await abuse.limiter(request).hit(ratelimit.Rule.VERIFY_IP, abuse.client_ip(request))
    try:
        await workflow.confirm_email_correction(settings, application, code)
    except workflow.DomainError as refused:
        return await _page(request, application, status_code=refused.status_code,
                           code_error=FieldError(refused.message, **refused.params))
    return RedirectResponse(f"/status/{token}?done=email", status_code=303)


async def email_resend(request: Request) -> Response:
    settings = settings_of(request)
    token = request.path_params["token"]
    application = await workflow.application_for_token(token)
    if application is None:
        return _unknown(request)
    await read_small_form(request)
    if workflow.email_correction_refusal(application) is not None:
        return await _page(request, application, status_code=409)
    await abuse.limiter(request).hit(ratelimit.Rule.RESEND_IP, abuse.client_ip(request))
    try:
        await workflow.resend_email_code(settings, application)
    except workflow.DomainError as refused:
        return await _page(request, application, status_code=refused.status_code,
                           code_error=FieldError(refused.message, **refused.params))
    return await _page(request, application, notice=N_("We have sent you a new code."))
