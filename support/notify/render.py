"""Turning an outbox row into the words that are sent.

Email templates live in ``templates/email/<name>.txt`` (blocks ``subject`` and ``body``)
and ``templates/email/<name>.html``; SMS texts in ``templates/sms/<name>.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from support.formatting import format_when

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = format_when
    return env


def _block(name: str, block: str, context: dict[str, Any]) -> str:
    template = environment().get_template(name)
    return "".join(template.blocks[block](template.new_context(context))).strip()


def render_email(template: str, context: dict[str, Any]) -> EmailContent:
    text_name = f"email/{template}.txt"
    subject = " ".join(_block(text_name, "subject", context).split())
    text = _block(text_name, "body", context) + "\n"
    html = environment().get_template(f"email/{template}.html").render(context)
    return EmailContent(subject=subject, text=text, html=html)


def render_sms(template: str, context: dict[str, Any]) -> str:
    text = environment().get_template(f"sms/{template}.txt").render(context)
    return " ".join(text.split())
