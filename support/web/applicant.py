"""The applicant's pages: the forms, and confirming the contact with a code."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from support import workflow
from support.data.models import Application, Status, Verification
from support.documents.storage import ANYWAY_SUFFIX, NOT_SAVED, NotStored
from support.documents.store import DocumentStore
from support.platform import ratelimit, tokens
from support.platform.i18n import N_
from support.rules import catalogue, countries, zones
from support.rules.kinds import KINDS, Kind
from support.rules.validation import FieldError
from support.web import abuse, burst
from support.web.apply_form import ZONE_FIELD, Checked, check_application
from support.web.context import settings_of
from support.web.forms import read_form, read_small_form
from support.web.security import CSRF_FIELD, check_csrf
from support.web.templating import render, request_language
from support.workflow.applicant import TooSoon, seconds_until_resend

SUBMISSION_FIELD = "submission_token"
SUBMISSION_MAX_AGE = 24 * 3600



def _kind(request: Request) -> Kind:
    kind = KINDS.get(request.path_params["kind"])
    if kind is None or not kind.public:
        raise LookupError(request.path_params["kind"])
    return kind


async def page_of_form(request: Request) -> Response:
    """A GET on an action that only posts: the address bar after the post, or the language
    switcher on the page the post rendered. Show the page the form is on, query kept."""
    target = request.url.path.rsplit("/", 1)[0]
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(target, status_code=303)


async def home(request: Request) -> Response:
    public = [kind for kind in KINDS.values() if kind.public]
    return render(request, "applicant/home.html", {"kinds": public})


@lru_cache(maxsize=2 * 4)
def _zone_data(lang: str, hour: datetime) -> Markup:
    """Every country that keeps several times, with its zones as the form lists them, for
    static/applicant/zone.js (a JSON script block: no inline script under the CSP): 21
    countries, about 8 KB in English, 9 in Russian, 11 in Hindi and Marathi (2 to 3 KB
    compressed); the same for an hour, so drawn once an hour per language (15-30 ms),
    not at every form."""
    return htmlsafe_json_dumps({
        code: choices for code in sorted(countries.country_codes())
        if (choices := zones.zone_choices(code, lang, hour))
    }, ensure_ascii=False)  # a city in Devanagari: 3 bytes a letter, not \uXXXX's 6


def _zone_field(lang: str, country: str, fixed: Mapping[str, str] | None) -> dict[str, Any]:
    """What the form needs to ask the applicant's zone: the list for the country given
    (shown without JavaScript), and every multi-zone country's for the script. An appeal
    keeps the refused application's zone and asks nothing."""
    if fixed:
        return {"zone_choices": [], "zone_data": None}
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    code = country.strip().upper()
    # The hour's labels (offsets change on the hour): what the script offers, the same.
    choices = zones.zone_choices(code, lang, hour) if code in countries.country_codes() else []
    return {"zone_choices": choices, "zone_data": _zone_data(lang, hour)}


def form_page(
    request: Request, kind: Kind, checked: Checked | None, status_code: int = 200,
    notice: str = "", action: str = "", fixed: Mapping[str, str] | None = None,
) -> Response:
    """The form; ``fixed`` facts (an appeal's account and contacts) are shown, not asked."""
    settings = settings_of(request)
    lang = request_language(request)
    context: dict[str, Any] = {
        "kind": kind,
        "values": checked.values if checked else {},
        "errors": checked.errors if checked else {},
        "countries": countries.country_choices(lang),
        "fixed": fixed or {},
        "fixed_country": countries.country_name(fixed["country"], lang) if fixed else "",
        "devices": catalogue.devices(),
        "submission_token": tokens.new_submission_token(settings.secret_key),
        "notice": notice,
        "max_mb": settings.max_file_bytes // (1024 * 1024),
        "action": action or f"/apply/{kind.code}",
        "zone_field": ZONE_FIELD,
        "zone_chosen": checked.time_zone if checked else "",
        "anyway": checked.anyway if checked else set(),
        "anyway_suffix": ANYWAY_SUFFIX,
        **_zone_field(lang, _country_of(checked), fixed),
    }
    return render(request, "applicant/apply.html", context, status_code)


def _country_of(checked: Checked | None) -> str:
    return str(checked.values.get("country") or "") if checked else ""


async def apply_form(request: Request) -> Response:
    try:
        kind = _kind(request)
    except LookupError:
        return render(request, "errors/404.html", status_code=404)
    return form_page(request, kind, None)


async def apply_submit(request: Request) -> Response:
    with burst.submitting():
        return await _apply_submit(request)


async def _apply_submit(request: Request) -> Response:
    try:
        kind = _kind(request)
    except LookupError:
        return render(request, "errors/404.html", status_code=404)
    settings = settings_of(request)
    limits, ip = abuse.limiter(request), abuse.client_ip(request)
    await limits.check(ratelimit.Rule.SUBMIT_IP, ip)  # before an upload is read
    form = await read_form(request, tmp_dir=settings.upload_tmp_dir,
                           max_file=settings.max_file_bytes, max_body=settings.max_body_bytes)
    try:
        check_csrf(request, form.get(CSRF_FIELD), settings.base_url)
        checked = await check_application(kind, form, settings, locale=request_language(request),
                                           ask_about_photos=settings.photo_advice
                                           and not burst.in_burst())
        nonce = tokens.check_submission_token(settings.secret_key, form.get(SUBMISSION_FIELD),
                                              SUBMISSION_MAX_AGE)
        if checked.data is None or nonce is None:
            notice = "" if nonce else N_(
                "This form was open for too long. Check your answers and send it again."
            )
            return form_page(request, kind, checked, 422, notice)
        await limits.check_submission(checked.data.phone, checked.data.account_id, nonce)
        try:
            application = await workflow.submit(
                settings, DocumentStore.of(settings), checked.data,
                checked.uploads, nonce,
            )
        except workflow.DomainError as refusal:  # this account has one open already
            checked.errors["account_id"] = FieldError(refusal.message)
            return form_page(request, kind, checked, 422)
        except NotStored as refused:  # the disk is full: nothing was kept of the application
            checked.errors[refused.field] = FieldError(NOT_SAVED)
            return form_page(request, kind, checked, 422)
    finally:
        form.discard_files()  # what the application took was moved; the rest goes
    await limits.count_submission(ip, checked.data.phone, checked.data.account_id, nonce)
    return RedirectResponse(f"/applications/{application.reference}/verify", status_code=303)


async def _verify_page(
    request: Request, application: Application, error: FieldError | None = None,
    status_code: int = 200, notice: str = "", resend_error: FieldError | None = None,
    too_soon: bool = False,
) -> Response:
    """``error``: the code's, under its field; ``resend_error`` a refused new code's, by
    the button; ``too_soon``: refused for the wait left, said there in words with the
    language's plurals (``resend_wait``)."""
    settings = settings_of(request)
    verification = await Verification.get_or_none(application=application)
    context = {
        "application": application,
        "error": error,
        "notice": notice,
        "resend_error": resend_error,
        "too_soon": too_soon,
        "verification": verification,
        "resend_after": settings.code_resend_after_seconds,
        # What static/applicant/countdown.js counts down by the button.
        "resend_wait": seconds_until_resend(settings, verification),
        "code_hours": settings.unverified_ttl_hours,
    }
    return render(request, "applicant/verify.html", context, status_code)


async def _application(request: Request) -> Application | None:
    """The application the path names, or None. A 404 here tells whoever asks that a
    reference does not exist (issue 19), so a reference that names nothing counts against
    the status look-up's allowance (``Rule.LOOKUP_IP``, 10 an hour per address), checked
    before the look-up so that a refusal says nothing either. The applicant's own
    reference costs nothing: the page they are sent to after applying, reloaded or seen
    in another language, must not use up the look-up they may need later."""
    limits, ip = abuse.limiter(request), abuse.client_ip(request)
    await limits.check(ratelimit.Rule.LOOKUP_IP, ip)
    reference = tokens.parse_reference(request.path_params["reference"])
    found = await Application.get_or_none(reference=reference) if reference else None
    if found is None:
        await limits.count(ratelimit.Rule.LOOKUP_IP, ip)
    return found


async def verify_form(request: Request) -> Response:
    application = await _application(request)
    if application is None:
        return render(request, "errors/404.html", status_code=404)
    return await _verify_page(request, application)


async def verify_submit(request: Request) -> Response:
    settings = settings_of(request)
    application = await _application(request)
    if application is None:
        return render(request, "errors/404.html", status_code=404)
    form = await read_small_form(request)
    # Confirmed or expired already: refused as the workflow refuses any code (409), before
    # a malformed one could draw a 422 whose page shows no error (tests/test_fuzz_http.py).
    workflow.ensure_unconfirmed(application)
    code = "".join(ch for ch in form.get("code") if ch.isdigit())
    if len(code) != 6:
        error = FieldError("Enter the 6-digit code we sent you.")
        return await _verify_page(request, application, error, 422)
    await abuse.limiter(request).hit(ratelimit.Rule.VERIFY_IP, abuse.client_ip(request))
    try:
        link = await workflow.verify(settings, application.reference, code)
    except workflow.CodeRejected as refusal:
        error = FieldError(refusal.message, **refusal.params)
        return await _verify_page(request, application, error, 422)
    path = link.removeprefix(settings.base_url)
    return RedirectResponse(f"{path}?welcome=1", status_code=303)


async def resend_code(request: Request) -> Response:
    settings = settings_of(request)
    application = await _application(request)
    if application is None:
        return render(request, "errors/404.html", status_code=404)
    await read_small_form(request)
    if application.status is not Status.SUBMITTED:
        return RedirectResponse(f"/applications/{application.reference}/verify", status_code=303)
    await abuse.limiter(request).hit(ratelimit.Rule.RESEND_IP, abuse.client_ip(request))
    try:
        await workflow.resend_code(settings, application.reference)
    except TooSoon:  # the page says the wait left in words, by the button
        return await _verify_page(request, application, status_code=429, too_soon=True)
    except workflow.DomainError as refusal:
        error = FieldError(refusal.message, **refusal.params)
        return await _verify_page(request, application, status_code=429, resend_error=error)
    return await _verify_page(request, application, notice=N_("We have sent you a new code."))
