"""Countries an applicant may choose: only those we can both name and dial."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import phonenumbers
from babel import Locale, UnknownLocaleError

_FALLBACK_LOCALE = "en"

# Babel and phonenumbers know these, but they are not ISO 3166-1 countries: Ascension and
# Tristan da Cunha belong to Saint Helena (SH). Kosovo (XK) is kept, people live there.
_NOT_COUNTRIES = frozenset({"AC", "TA", "EU", "EZ", "UN", "QO", "ZZ"})


@lru_cache(maxsize=32)
def _locale(locale: str) -> Locale:
    """Browsers send "pt-BR", Babel wants "pt_BR"; anything unknown reads as English."""
    try:
        return Locale.parse(locale.strip().replace("-", "_") or _FALLBACK_LOCALE)
    except (ValueError, TypeError, UnknownLocaleError):
        return Locale.parse(_FALLBACK_LOCALE)


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    """A country we cannot name or cannot parse numbers for would only produce bad data."""
    named = _locale(_FALLBACK_LOCALE).territories
    return frozenset(
        code
        for code in phonenumbers.SUPPORTED_REGIONS
        if len(code) == 2 and code.isalpha() and code in named and code not in _NOT_COUNTRIES
    )


def country_name(code: str, locale: str = _FALLBACK_LOCALE) -> str:
    """Never fail on display: a missing translation shows English, then the bare code."""
    code = code.strip().upper()
    name = _locale(locale).territories.get(code) or _locale(_FALLBACK_LOCALE).territories.get(code)
    return name if isinstance(name, str) else code


def _sort_key(name: str) -> tuple[str, str]:
    """Accented Latin letters sort with their base letter, so "Åland" is not after "Zambia".

    Only marks on ASCII letters are dropped: in Cyrillic "й" is a letter of its own.
    """
    folded = name.casefold()
    kept: list[str] = []
    for ch in unicodedata.normalize("NFD", folded):
        if unicodedata.combining(ch) and kept and kept[-1].isascii() and kept[-1].isalpha():
            continue
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept)), folded


@lru_cache(maxsize=32)
def _choices(locale: str) -> tuple[tuple[str, str], ...]:
    named = [(code, country_name(code, locale)) for code in country_codes()]
    return tuple(sorted(named, key=lambda pair: (*_sort_key(pair[1]), pair[0])))


def country_choices(locale: str = _FALLBACK_LOCALE) -> list[tuple[str, str]]:
    """A fresh list each call, so a caller that edits it cannot corrupt the cache."""
    return list(_choices(locale))
