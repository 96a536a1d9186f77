"""Reading the queue: tabs, filters, search across every state, counts, keyset pagination.

Pages are fetched by keyset, never by OFFSET, from indexes in the order the page shows
(``application_queue_idx``: status, priority DESC, due_at, id; ``application_decided_idx``:
decided_at, id; ``application_scope_idx`` for one kind in one country). A page's ids come
from the index alone and only its 50 rows from the table, so no page sorts its tab, and a
deep or filtered page skips index entries, not table rows.

Tab counts stop at ``COUNT_CAP``: a tab of a million shows "10,000+" for the price of ten
thousand index entries. A page runs a fixed number of queries whatever its length (rows,
their flags, the tab counts).

A search looks in every state, whatever the tab, by reference or its start, account ID,
phone (any format, or its last digits), email (or its part before "@") and IMEI: each an
exact look-up or a range of one index (``search_branches``), never a ``LIKE '%…'``.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import phonenumbers
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet, ValuesListQuery

from support.accounts.scope import claimable_by, in_scope
from support.data.ids import fits, parse_id
from support.data.models import Application, Reviewer, RiskFlag, Status
from support.platform.tokens import parse_reference
from support.rules import countries
from support.rules.kinds import KINDS

PAGE_SIZE = 50
COUNT_CAP = 10_000
TABS: dict[str, str] = {
    "queued": "Queued",
    "mine": "My work",  # its own page (reads/my_work.py), one click from the queue
    "in_review": "In review",
    "needs_info": "Needs information",
    "decided": "Recently decided",
}
DECIDED = [Status.APPROVED, Status.REJECTED]


@dataclass(frozen=True)
class Filters:
    tab: str = "queued"
    kind: str = ""
    country: str = ""
    model: str = ""
    flag: str = ""
    assignee: str = ""
    search: str = ""

    @classmethod
    def from_query(cls, params: dict[str, str]) -> Filters:
        """The filters in ``params``; what cannot be used as given is left out or cut."""
        return cls.parse(params)[0]

    @classmethod
    def parse(cls, params: dict[str, str]) -> tuple[Filters, list[str]]:
        """The filters, and the names of the parameters that could not be used as given
        (an unknown tab, an assignee that is no id, text with a NUL or longer than any
        stored value). The page shows what it can; an export refuses to start (a file
        must hold exactly what was asked for). A NUL becomes U+FFFD, as in a form
        (``web/forms.py``): PostgreSQL refuses NUL in text, and such a value matches
        nothing; the search keeps it and finds nothing (U+FFFD would be dropped from a
        reference as typed, and "UL-…\\x00" find it). The assignee is an id
        (``data.ids``): "²" or 30 digits were 500s."""
        unusable: list[str] = []

        def text(name: str, limit: int, value: str | None = None) -> str:
            value = params.get(name, "") if value is None else value
            if "\x00" in value or len(value) > limit:
                unusable.append(name)
            return value.replace("\x00", "\ufffd")[:limit]

        search = params.get("q", "").strip()
        if "\x00" in search or len(search) > 64:
            unusable.append("q")

        tab = params.get("tab", "") or "queued"
        if tab not in TABS:
            unusable.append("tab")
            tab = "queued"
        assignee = params.get("assignee", "")
        if assignee and parse_id(assignee) is None:
            unusable.append("assignee")
            assignee = ""
        filters = cls(
            tab=tab,
            kind=text("kind", 16),
            country=text("country", 2).upper(),
            model=text("model", 64),
            flag=text("flag", 32),
            assignee=assignee,
            search=search[:64],  # a NUL kept: it finds nothing (``search_condition``)
        )
        return filters, unusable

    def query_string(self, **changes: str) -> str:
        values = {"tab": self.tab, "kind": self.kind, "country": self.country,
                  "model": self.model, "flag": self.flag, "assignee": self.assignee,
                  "q": self.search, **changes}
        return urlencode({k: v for k, v in values.items() if v})


@dataclass
class QueuePage:
    rows: list[Application]
    flags: dict[int, list[str]]
    counts: dict[str, int]
    next_cursor: str | None
    filters: Filters
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # A search's results: matches in every state, and whether there were more than shown.
    searched: bool = False
    more_matches: bool = False

    def count_label(self, tab: str) -> str:
        """A tab's count as shown: "10,000+" past the cap, where counting stopped."""
        return count_label(self.counts.get(tab, 0))

    def count_labels(self) -> dict[str, str]:
        return {tab: self.count_label(tab) for tab in TABS}


def count_label(count: int) -> str:
    """A count as shown: "10,000+" past the cap, where counting stopped."""
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"


def _prefix(column: str, prefix: str) -> Q:
    """``column`` starts with ``prefix``, as a range of the column's index on either
    database: from the prefix up to the prefix with its last character one higher. Exact
    where text compares by code point: SQLite's BINARY, and PostgreSQL under the C or
    C.UTF-8 collation its cluster is created with here (under a linguistic collation a
    range of digits still is; "name@" and "UL-7K" could be off). ``LIKE 'x%'`` would
    use no index on PostgreSQL outside the C collation, ``LIKE '%x'`` none anywhere."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(**{f"{column}__gte": prefix, f"{column}__lt": upper})


# The shortest reference prefix looked for: its two letters and two more characters, one
# in 1,296 of a kind's references (the letters alone would be most of the table).
REFERENCE_PREFIX_MIN = 4
LAST_DIGITS_MIN = 4
_LOCAL_PART = re.compile(r"[A-Za-z0-9._%+'-]{1,64}")
_REFERENCE_TYPED = re.compile(r"[A-Za-z0-9 -]+")


@dataclass(frozen=True)
class Branch:
    """One way a search text can match: a condition that is an exact look-up or a range of
    one index, and that index's order, so a page of matches stops after its rows."""

    condition: Q
    ordering: tuple[str, ...]


def _reference_prefix(text: str) -> str | None:
    """"UL-7K", "ul 7k", "ul7kq2" as the start of a reference as we write it."""
    if not _REFERENCE_TYPED.fullmatch(text):
        return None
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    prefixes = {kind.prefix for kind in KINDS.values()}
    if cleaned[:2] not in prefixes or not REFERENCE_PREFIX_MIN <= len(cleaned) < 10:
        return None
    shaped = f"{cleaned[:2]}-{cleaned[2:6]}" + (f"-{cleaned[6:]}" if len(cleaned) > 6 else "")
    return shaped


def _e164(text: str, region: str | None, *, valid: bool) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    # Possible (its length) is cheap, valid (the country's patterns) is not: asked second.
    fits_region = phonenumbers.is_possible_number(number) and (
        not valid or phonenumbers.is_valid_number(number))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) \
        if fits_region else None


@lru_cache(maxsize=512)
def phone_forms(digits: str, default_country: str = "IN") -> tuple[str, ...]:
    """The E.164 numbers a phone typed without spaces could be: with its + code, that one;
    without it, the number read as ``default_country``'s (when possible), then as each
    other accepted country's where it is a valid number there ("8 916 567-81-23" is
    Moscow's +79165678123). Applications store valid E.164 numbers only (rules.validation),
    so the forms no country accepts are never looked for."""
    if digits.startswith("+"):
        own = _e164(digits, None, valid=False)
        return (own,) if own else ()
    forms = dict.fromkeys(form for form in [_e164(digits, default_country, valid=False)] if form)
    if re.fullmatch(r"\d{6,17}", digits):
        for region in _regions():
            if region != default_country and (form := _e164(digits, region, valid=True)):
                forms[form] = None
    return tuple(forms)


@lru_cache(maxsize=1)
def _regions() -> tuple[str, ...]:
    """One region per way of reading a national number: countries sharing a calling code
    and the rules for its national prefix (Russia and Kazakhstan, say) read it alike. About
    230 of them: a new search text costs some milliseconds to read, a repeated one none."""
    seen: dict[tuple[int, str, str], str] = {}
    for region in sorted(countries.country_codes()):
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if meta is not None:
            key = (meta.country_code or 0, meta.national_prefix_for_parsing or "",
                   meta.national_prefix_transform_rule or "")
            seen.setdefault(key, region)
    return tuple(seen.values())


def search_branches(text: str, default_country: str = "IN") -> list[Branch]:
    """The ways ``text`` can match, each an indexed look-up: a reference or its start, an
    IMEI, an account ID, an email or its part before "@", a phone number written any way
    (read as each accepted country's, in E.164: ``phone_forms``) or its last digits
    (``phone_reversed``: the phone backwards, so its end is a prefix). Nothing (an empty
    list) for text that is none of these."""
    text = text.strip()
    if not text or "\x00" in text or not text.isprintable():
        return []  # a NUL: PostgreSQL refuses it in a parameter, and it is in no value
    if "@" in text:
        local, _, domain = text.partition("@")
        if domain:
            return [Branch(Q(email=text.lower()) | Q(email=text), ("email",))]
        if not _LOCAL_PART.fullmatch(local):
            return []
        return [Branch(_prefix("email", f"{variant}@"), ("email",))
                for variant in dict.fromkeys((local.lower(), local))]
    reference = parse_reference(text)
    if reference is not None:
        return [Branch(Q(reference=reference), ("reference",))]
    branches: list[Branch] = []
    start = _reference_prefix(text)
    if start is not None:
        branches.append(Branch(_prefix("reference", start), ("reference",)))
    digits = re.sub(r"[\s().-]", "", text)
    if re.fullmatch(r"\d{15}", digits):
        branches.append(Branch(Q(imei=digits), ("imei",)))
    if re.fullmatch(r"\d{5,20}", digits):
        branches.append(Branch(Q(account_id=digits), ("account_id",)))
    phones = phone_forms(digits, default_country)
    if phones:
        branches.append(Branch(Q(phone=phones[0]) if len(phones) == 1 else
                               Q(phone__in=list(phones)), ("phone",)))
    if re.fullmatch(rf"\d{{{LAST_DIGITS_MIN},15}}", digits):
        branches.append(Branch(_prefix("phone_reversed", digits[::-1]), ("phone_reversed",)))
    if start is None and _LOCAL_PART.fullmatch(text):
        branches += [Branch(_prefix("email", f"{variant}@"), ("email",))
                     for variant in dict.fromkeys((text.lower(), text))]
    return branches


def search_condition(text: str, default_country: str = "IN") -> Q | None:
    """Every branch of ``search_branches`` in one condition (the CSV export of a tab with a
    search); None without a search, a condition matching nothing for text that is no
    reference, contact or device."""
    if not text.strip():
        return None
    branches = search_branches(text, default_country)
    if not branches:
        return Q(id=0)  # ids start at 1
    combined = branches[0].condition
    for branch in branches[1:]:
        combined |= branch.condition
    return combined


def _tab_condition(tab: str, reviewer: Reviewer) -> Q:
    if tab == "mine":
        return Q(status=Status.IN_REVIEW, assignee_id=reviewer.id)
    if tab == "decided":
        return Q(status__in=DECIDED)
    return Q(status=Status(tab))


def _base(reviewer: Reviewer, filters: Filters) -> QuerySet[Application]:
    query = Application.filter(in_scope(reviewer))
    if filters.kind:
        query = query.filter(kind=filters.kind)
    if filters.country:
        query = query.filter(country=filters.country)
    if filters.model:
        query = query.filter(model=filters.model)
    assignee = parse_id(filters.assignee)
    if assignee is not None:
        query = query.filter(assignee_id=assignee)
    if filters.flag:
        flagged = RiskFlag.filter(code=filters.flag).values("application_id")
        query = query.filter(id__in=Subquery(flagged))
    condition = search_condition(filters.search)
    if condition is not None:
        query = query.filter(condition)
    return query


def filtered(reviewer: Reviewer, filters: Filters) -> QuerySet[Application]:
    """The reviewer's scope and the filters, without the search."""
    return _base(reviewer, replace(filters, search=""))


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any] | None:
    """The cursor's values, checked, or None: a tampered cursor reads as page one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != 3:
            return None
        priority, moment, ident = values
        if type(priority) is not int or type(ident) is not int or not isinstance(moment, str):
            return None
        if not (fits(priority) and fits(ident)):  # compared with int4 columns (data.ids)
            return None
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None:
            return None
        # In UTC here: asyncpg converts it when it sends it, and "0001-01-01T00:00+14:00"
        # is before the first moment a datetime holds (an OverflowError, a 500).
        return [priority, parsed.astimezone(UTC), ident]
    except (ValueError, TypeError, OverflowError, RecursionError, UnicodeDecodeError):
        return None  # RecursionError: json.loads of "[[[[…" nested deeper than Python


QUEUE_ORDER = ("-priority", "due_at", "id")
DECIDED_ORDER = ("-decided_at", "-id")


def _after(tab: str, cursor: list[Any]) -> Q:
    """The rows after the cursor, written so the index can seek to it.

    "Recently decided" runs one way (newest first), so ``decided_at <= d`` is a range of
    ``application_decided_idx``. The queue's order mixes directions (priority down, due
    date and id up), which no single range expresses: ``priority <= p`` seeks to the
    cursor's priority level and the rest is checked on the index entries up to the cursor.
    """
    if tab == "decided":
        moment, ident = cursor[1], cursor[2]
        return Q(decided_at__lte=moment) & (Q(decided_at__lt=moment) | Q(id__lt=ident))
    priority, due, ident = cursor
    return Q(priority__lte=priority) & (
        Q(priority__lt=priority) | Q(due_at__gt=due) | Q(due_at=due, id__gt=ident)
    )


async def _rows(query: QuerySet[Application], ordering: tuple[str, ...],
                size: int) -> list[Application]:
    """The page's rows in two steps of one statement: their ids, in order, from an index
    that holds every column the tab, the reviewer's scope, the kind and country filters and
    the order read (an index-only scan, however many entries it passes), then only those
    rows from the table by primary key. Reading rows directly would fetch every row a
    filter or a cursor passes over."""
    page_ids = query.order_by(*ordering).limit(size + 1).values("id")
    return await Application.filter(id__in=Subquery(page_ids)).order_by(
        *ordering
    ).select_related("assignee")


async def capped_count(query: QuerySet[Application], cap: int = COUNT_CAP) -> int:
    """How many rows match, counting no further than ``cap + 1``.

    ``COUNT(*)`` over a subquery with a LIMIT: the database stops reading the index after
    ``cap + 1`` entries, where a plain count reads every one of a million. Tortoise's
    ``count()`` ignores a limit, hence the SQL around the query Tortoise builds. The limit
    is written into the SQL, not bound: PostgreSQL reuses a generic plan for a prepared
    statement, and a generic plan guessing at a bound LIMIT picked a sequential scan.
    """
    inner: ValuesListQuery[Any] = query.values_list("status", flat=True)
    inner.sql()  # builds inner.query for this connection's dialect
    sql, params = inner.query.get_parameterized_sql()
    _, rows = await Application._meta.db.execute_query(
        f"SELECT COUNT(*) AS n FROM ({sql} LIMIT {int(cap) + 1}) AS capped",  # noqa: S608
        params,
    )
    return int(rows[0]["n"])


async def page(reviewer: Reviewer, filters: Filters, cursor: str | None = None,
               size: int = PAGE_SIZE) -> QueuePage:
    """One page of a tab. On PostgreSQL each statement is planned for its own values
    (``db.POSTGRES_SETTINGS``): the filters' selectivity varies too much for one plan."""
    base = _base(reviewer, filters)
    query = base.filter(_tab_condition(filters.tab, reviewer))
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        query = query.filter(_after(filters.tab, position))
    ordering = DECIDED_ORDER if filters.tab == "decided" else QUEUE_ORDER
    rows = await _rows(query, ordering, size)
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        key = [0, last.decided_at, last.id] if filters.tab == "decided" else [
            last.priority, last.due_at, last.id]
        next_cursor = encode_cursor(key)
    return QueuePage(rows=rows, flags=await _flags(rows),
                     counts=await tab_counts(reviewer, base), next_cursor=next_cursor,
                     filters=filters)


async def _flags(rows: list[Application]) -> dict[int, list[str]]:
    """The rows' risk flags, in one statement."""
    flags: dict[int, list[str]] = {}
    if rows:
        for application_id, code in await RiskFlag.filter(
            application_id__in=[row.id for row in rows]
        ).values_list("application_id", "code"):
            flags.setdefault(int(application_id), []).append(str(code))
    return flags


def my_work_conditions(reviewer: Reviewer) -> dict[str, Q]:
    """My work's lists (``reads/my_work.py``), each by the columns its index starts with:
    what the reviewer holds, what came back to them (the applicant answered; held for
    them), what waits on applicants they asked."""
    return {
        "held": Q(assignee_id=reviewer.id, status=Status.IN_REVIEW),
        "answered": Q(held_for_id=reviewer.id, status=Status.QUEUED),
        "waiting": Q(asked_by_id=reviewer.id, status=Status.NEEDS_INFO),
    }


async def tab_counts(reviewer: Reviewer, base: QuerySet[Application],
                     mine: int | None = None) -> dict[str, int]:
    """Each tab's count under ``base`` (the scope and filters), capped; "My work" counts
    its three lists (each capped), in the reviewer's scope whatever the filters, unless
    the caller counted them already (``mine``: the My work page)."""
    counts = {tab: await capped_count(base.filter(_tab_condition(tab, reviewer)))
              for tab in TABS if tab != "mine"}
    if mine is None:
        scope = Application.filter(in_scope(reviewer))
        mine = sum([await capped_count(scope.filter(condition))
                    for condition in my_work_conditions(reviewer).values()])
    counts["mine"] = mine
    return counts


# Open applications before settled ones in a search's results, then the newest first.
_STATE_ORDER = {Status.IN_REVIEW: 0, Status.QUEUED: 1, Status.NEEDS_INFO: 2,
                Status.SUBMITTED: 3}


async def search(reviewer: Reviewer, filters: Filters, size: int = PAGE_SIZE) -> QueuePage:
    """What the search finds in every state, whatever the tab: each way the text can
    match (``search_branches``) is its own statement, an exact look-up or a range of one
    index read in that index's order and stopped after ``size + 1`` rows, so a search
    costs a few index ranges however many rows there are (an OR across columns would
    have the planner choose between reading several indexes whole or the table).

    At most ``size`` results, open ones first, then the newest; ``more_matches`` says
    some were left out (type more of it). The tab bar keeps its counts without the search:
    its links leave the search."""
    base = filtered(reviewer, filters)
    found: dict[int, Application] = {}
    more = False
    for branch in search_branches(filters.search):
        rows = await base.filter(branch.condition).order_by(*branch.ordering).limit(
            size + 1).select_related("assignee")
        more = more or len(rows) > size
        for row in rows[:size]:
            found.setdefault(row.id, row)
    ordered = sorted(found.values(), key=lambda row: row.id, reverse=True)
    ordered.sort(key=lambda row: _STATE_ORDER.get(row.status, 9))
    more = more or len(ordered) > size
    rows = ordered[:size]
    return QueuePage(rows=rows, flags=await _flags(rows),
                     counts=await tab_counts(reviewer, base), next_cursor=None,
                     filters=filters, searched=True, more_matches=more)


async def only_own_appeals_waiting(reviewer: Reviewer) -> bool:
    """Whether what waits in the reviewer's queues (not held for another reviewer) is only
    appeals of refusals they made, which they may not decide: "Take the next application"
    found nothing for them, and the page says why. One indexed look-up."""
    now = datetime.now(UTC)
    return await Application.filter(
        Q(status=Status.QUEUED) & in_scope(reviewer)
        & claimable_by(reviewer, now)
        & Q(appeal_of__decided_by_id=reviewer.id)
    ).exists()
