"""The applicant's languages, their catalogues, and how a request picks one.

Catalogues are the ``.po`` files under ``support/platform/translations`` (``make i18n`` extracts and
updates them). They are compiled in memory when first used, so a fresh clone needs no
build step and there is no binary ``.mo`` in the repository to fall out of date.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DEFAULT = "en"
# Order is the switcher's order. English is the source language and has no catalogue.
LANGUAGES: tuple[str, ...] = ("en", "hi", "mr", "ru")
COOKIE = "support_lang"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention extractors look for
    """Marks a string for extraction where it is defined; it is translated where shown."""
    return message


def catalogue_path(lang: str) -> Path:
    return TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> NullTranslations:
    """Fuzzy entries are left out: a guessed translation is worse than the English."""
    path = catalogue_path(lang)
    if lang == DEFAULT or not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


def supported(lang: str | None) -> str | None:
    """The supported code for a user-supplied one ("hi-IN" → "hi"), or None."""
    if not lang:
        return None
    base = lang.strip().replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


def from_accept_language(header: str) -> str | None:
    """The best of our languages for an Accept-Language header, by its q weights."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    preferred: Iterable[str] = (tag for _, _, tag in sorted(weighted))
    found = negotiate_locale([t.replace("_", "-") for t in preferred], LANGUAGES, sep="-")
    return supported(found)


def choose(query: str | None, cookie: str | None, accept_language: str) -> str:
    """``?lang=`` first, then the remembered choice, then what the browser asks for."""
    return supported(query) or supported(cookie) or from_accept_language(accept_language) \
        or DEFAULT


@lru_cache(maxsize=len(LANGUAGES))
def native_name(lang: str) -> str:
    """What the switcher shows: each language in its own words ("हिन्दी", "Русский")."""
    name = Locale.parse(lang).get_display_name(lang) or lang
    return name[:1].upper() + name[1:]


def english_name(lang: str) -> str:
    """What reviewers (whose pages are English) read: "Hindi", "Marathi"."""
    if not supported(lang):
        return lang
    return Locale.parse(lang).get_display_name("en") or lang
