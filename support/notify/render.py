"""Turning an outbox row into the words that are sent.

Email templates live in ``templates/email/<name>.txt`` (blocks ``subject`` and ``body``)
and ``templates/email/<name>.html``; SMS texts in ``templates/sms/<name>.txt``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from babel.support import NullTranslations
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from support.platform import i18n
from support.platform.formatting import format_applicant, format_when
from support.rules.kinds import KINDS

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


def install_language(env: Environment, lang: str) -> None:
    """Gettext and date formatting for one language; pages and messages share this."""
    env.install_gettext_translations(  # type: ignore[attr-defined]
        i18n.translations(lang), newstyle=True
    )
    env.filters["when"] = _when(lang, short=False)
    env.filters["when_short"] = _when(lang, short=True)
    env.filters["translated"] = partial(_translated_params, i18n.translations(lang))
    env.globals["lang"] = lang


def _when(lang: str, short: bool) -> Callable[..., str]:
    """``{{ moment|when }}``: on the applicant's clock where the page or message has a
    ``zone`` (applicant pages, every applicant message), else in UTC (the desk's pages).
    ``when_short`` is the SMS's form ("9 Dec, 10:40 IST")."""

    @pass_context
    def when(context: Context, value: datetime | str | None) -> str:
        zone = context.get("zone")
        if zone:
            return format_applicant(value, zone, lang, short)
        return format_when(value, lang)

    return when


def _translated_params(
    translations: NullTranslations, params: dict[str, object]
) -> dict[str, object]:
    """Error parameters such as a status word or a document's label are msgids too; an
    applicant's own value (a firmware version) has no entry and comes back unchanged."""
    return {k: translations.gettext(v) if isinstance(v, str) else v for k, v in params.items()}


@lru_cache(maxsize=len(i18n.LANGUAGES))
def environment(lang: str = i18n.DEFAULT) -> Environment:
    """One environment per language: translations are bound once, never per render."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates change with a release, not while serving: no stat of the file at
        # every render (a twelfth of the worker's CPU for a message).
        auto_reload=False,
    )
    install_language(env, i18n.supported(lang) or i18n.DEFAULT)
    env.globals["kinds"] = KINDS  # each message names its kind: its wording and its days
    return env


def _block(env: Environment, name: str, block: str, context: dict[str, Any]) -> str:
    template = env.get_template(name)
    return "".join(template.blocks[block](template.new_context(context))).strip()


def render_email(template: str, context: dict[str, Any], lang: str = i18n.DEFAULT) -> EmailContent:
    env = environment(lang)
    text_name = f"email/{template}.txt"
    subject = " ".join(_block(env, text_name, "subject", context).split())
    text = _block(env, text_name, "body", context) + "\n"
    html = env.get_template(f"email/{template}.html").render(context)
    return EmailContent(subject=subject, text=text, html=html)


def render_sms(template: str, context: dict[str, Any], lang: str = i18n.DEFAULT) -> str:
    text = environment(lang).get_template(f"sms/{template}.txt").render(context)
    return " ".join(text.split())
