"""The Jinja2 environment for pages: autoescaped, with gettext ready for translations."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from support.accounts.roles import has_role
from support.notify.render import TEMPLATES_DIR, install_language
from support.platform import i18n
from support.platform.formatting import format_age, format_both, mask_email, mask_phone
from support.reads import wording
from support.rules import zones
from support.rules.countries import country_name
from support.web.security import CSRF_FIELD, csrf_token

# Codes as words on every reviewer page (reads/wording.py).
WORDING_FILTERS = ("state_word", "event_words", "role_word", "reason_word", "info_word",
                   "kind_word", "flag_word", "message_word", "delivery_word", "channel_word",
                   "firmware_word", "purpose_word", "event_detail")


def _zone_of(application: Any) -> zones.ApplicantZone | None:
    # ``time_zone``: the applicant's own (chosen on the form where the country has
    # several); older rows have none and get their country's.
    return zones.applicant_zone(str(getattr(application, "country", "") or ""),
                                getattr(application, "time_zone", None))


def both_times(value: datetime | None, application: Any) -> str:
    """A moment of an application in UTC and on the applicant's clock, said whose clock
    that is (rules/zones.py): ``{{ application.created_at|both_times(application) }}``."""
    zone = _zone_of(application)
    if value is None or zone is None:
        return format_both(value, None, "")
    return format_both(value, zone.zone, zones.described(zone, value))


def applicant_now(application: Any) -> str:
    """What the applicant's clock shows now ("22:40 now, in the applicant's time (…)"):
    whether a message reaches them at night."""
    zone = _zone_of(application)
    if zone is None:
        return ""
    now = datetime.now(UTC)
    clock = now.astimezone(zone.zone).strftime("%H:%M")
    return f"{clock} now, {zones.described(zone, now)}"


@lru_cache(maxsize=len(i18n.LANGUAGES))
def templates(lang: str = i18n.DEFAULT) -> Jinja2Templates:
    """Pages in one language; reviewer pages always ask for English."""
    return Jinja2Templates(env=_environment(lang))


def _environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates change with a release, not while serving: no stat of the file at
        # every render (a twelfth of the worker's CPU for a message).
        auto_reload=False,
    )
    install_language(env, lang)
    env.globals["languages"] = [(code, i18n.native_name(code)) for code in i18n.LANGUAGES]
    env.filters["language_name"] = i18n.english_name
    env.filters["mask_phone"] = mask_phone
    env.filters["mask_email"] = mask_email
    env.filters["age"] = format_age
    for name in WORDING_FILTERS:
        env.filters[name] = getattr(wording, name)  # codes as words (reads/wording.py)
    env.filters["country_name"] = country_name  # "IN" → "India", English on the desk
    env.filters["both_times"] = both_times
    env.filters["applicant_now"] = applicant_now
    # A reference inside a sentence never breaks at its hyphens on a phone (.reference).
    env.filters["reference_tag"] = lambda ref: Markup('<span class="reference">%s</span>') % ref
    env.globals["has_role"] = has_role  # pages check roles the one way the code does
    return env


def request_language(request: Request) -> str:
    """The language LanguageMiddleware chose (English where it did not run)."""
    return str(getattr(request.state, "lang", i18n.DEFAULT))


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    lang: str | None = None,
) -> HTMLResponse:
    context = dict(context or {})
    context.setdefault("csrf_field", CSRF_FIELD)
    if "csrf_token" not in context:  # a page without forms (the API's reference) has none
        context["csrf_token"] = csrf_token(request)
    chosen = lang or request_language(request)
    application = context.get("application")
    if lang is None and application is not None:
        # An applicant's page: every ``|when`` on it is on their clock (notify.render).
        context.setdefault("zone", zones.zone_name(application.country, application.time_zone))
    # Pages in a fixed language (reviewer routes, their error pages too) offer no switcher.
    context.setdefault("switcher", lang is None)
    response = templates(chosen).TemplateResponse(request, name, context, status_code=status_code)
    response.headers.setdefault("content-language", chosen)
    return response
