"""What fits an integer column, and the one parser of an id that arrives as text.

Every primary key and every ``IntField`` is a 32-bit integer on PostgreSQL (``int4``)
and a 64-bit one on SQLite. A number outside that range did not match nothing: the
statement failed (PostgreSQL: "value out of int32 range"; SQLite: "Python int too large
to convert to SQLite INTEGER"), a 500 page (issue 19). So every id that comes from
outside (a URL's path or query, a form field, a page's cursor) is read here, or checked
with ``fits``, before it reaches a query: ASCII digits only (``"²".isdigit()`` is true and
``int("²")`` raises), at most ten of them, and within the smaller of the two ranges.
"""

from __future__ import annotations

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
_DIGITS = frozenset("0123456789")


def fits(value: int) -> bool:
    """Whether ``value`` can be compared with an integer column on either database."""
    return INT_MIN <= value <= INT_MAX


def parse_id(text: str) -> int | None:
    """The id written in ``text``, or None when it cannot be one: not ASCII digits, or
    outside 1..2**31-1 (ids start at 1)."""
    if not text or len(text) > 10 or not _DIGITS.issuperset(text):
        return None
    value = int(text)
    return value if 1 <= value <= INT_MAX else None
