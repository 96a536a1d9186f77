"""The applicant's private status page, the look-up that re-sends it, and withdrawing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from support import tokens, workflow
from support.config import Settings
from support.kinds import KINDS
from support.models import Event
from support.web.forms import read_form
from support.web.security import CSRF_FIELD, check_csrf
from support.web.templating import render

NO_STORE = {"cache-control": "no-store", "x-robots-tag": "noindex"}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def status_page(request: Request) -> Response:
    application = await workflow.application_for_token(request.path_params["token"])
    if application is None:
        return render(request, "errors/status_unknown.html", status_code=404)
    events = await Event.filter(application=application, internal=False).order_by("at", "id")
    response = render(request, "applicant/status.html", {
        "application": application,
        "kind": KINDS[application.kind],
        "events": events,
        "welcome": request.query_params.get("welcome") == "1",
        "token": request.path_params["token"],
        "can_withdraw": application.status in workflow.TRANSITIONS["withdraw"].source,
    })
    response.headers.update(NO_STORE)
    return response


async def withdraw(request: Request) -> Response:
    settings = _settings(request)
    token = request.path_params["token"]
    application = await workflow.application_for_token(token)
    if application is None:
        return render(request, "errors/status_unknown.html", status_code=404)
    form = await read_form(request, tmp_dir=settings.upload_tmp_dir, max_file=0,
                           max_body=64 * 1024)
    check_csrf(request, form.get(CSRF_FIELD), settings.base_url)
    await workflow.withdraw(application)
    return RedirectResponse(f"/status/{token}", status_code=303)


async def lookup_form(request: Request) -> Response:
    return render(request, "applicant/lookup.html", {"values": {}, "errors": {}})


async def lookup_submit(request: Request) -> Response:
    settings = _settings(request)
    form = await read_form(request, tmp_dir=settings.upload_tmp_dir, max_file=0,
                           max_body=64 * 1024)
    check_csrf(request, form.get(CSRF_FIELD), settings.base_url)
    values = {"reference": form.get("reference"), "contact": form.get("contact")}
    errors = {}
    if not values["reference"].strip():
        errors["reference"] = "Enter the reference we sent you, for example UL-7KQ2-9XHD."
    if not values["contact"].strip():
        errors["contact"] = "Enter the phone number or email you gave in the application."
    if errors:
        return render(request, "applicant/lookup.html", {"values": values, "errors": errors}, 422)
    reference = tokens.normalise_reference(values["reference"])
    # The same page whether or not anything matched: references are not to be probed.
    await workflow.request_status_link(settings, reference, values["contact"])
    return render(request, "applicant/lookup_sent.html", {"values": values})
