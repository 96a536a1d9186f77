"""The Jinja2 environment for pages: autoescaped, with gettext ready for translations."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from support.formatting import format_age, format_when, mask_email, mask_phone
from support.notify.render import TEMPLATES_DIR
from support.web.security import CSRF_FIELD, csrf_token


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = format_when
    env.filters["mask_phone"] = mask_phone
    env.filters["mask_email"] = mask_email
    env.filters["age"] = format_age
    return env


templates = Jinja2Templates(env=_environment())


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    context = dict(context or {})
    context.setdefault("csrf_field", CSRF_FIELD)
    context.setdefault("csrf_token", csrf_token(request))
    context.setdefault("lang", "en")
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    return response
