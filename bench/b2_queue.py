"""B2: the reviewer's queue at a million applications.

Makes a fresh PostgreSQL database, migrates it with the real migrations, fills it with
``--rows`` realistic applications (kinds, states, countries, devices, Luhn-valid IMEIs,
E.164 phones, a year of dates) with their events, documents (rows only), risk flags and a
handful of reviewers, then measures the server time of what reviewers do all day: the
queue's first page, a filtered page, page 1,000 by keyset, search by IMEI, phone and
reference, by a reference's start, a phone's last four digits and an email's part before
"@" (across every state), a reviewer's My work, one application's page, and "take the
next application".

The app runs in this process behind httpx2's ASGI transport, with a signed-in session;
"server time" is the time the ASGI app takes to answer, measured around the app itself.
Every statement one request of each operation sends is run again under
``EXPLAIN (ANALYZE, BUFFERS)`` and saved to ``bench/plans/``.

    .venv/bin/python bench/b2_queue.py [--rows 1000000] [--samples 100] [--keep]
    .venv/bin/python bench/b2_queue.py --database bench_b2_xxxx   # reuse a kept database
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import phonenumbers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2  # noqa: E402

from bench.harness import (  # noqa: E402
    BENCH,
    SECRET,
    drop_database,
    load_average,
    new_postgres,
    postgres_url,
)
from bench.machine import describe, record  # noqa: E402
from support.config import Settings  # noqa: E402
from support.data import db  # noqa: E402
from support.platform.tokens import REFERENCE_ALPHABET  # noqa: E402
from support.reads import queue  # noqa: E402
from support.rules.catalogue import Device, devices  # noqa: E402
from support.rules.kinds import (  # noqa: E402
    INFO_ITEMS,
    KINDS,
    REJECTION_REASONS,
    promised_hours,
)

BASE = "http://testserver"
PLANS = BENCH / "plans"
DAY = 86400.0

# --- the population ------------------------------------------------------------------

KIND_WEIGHTS = {"unlock": 68, "recovery": 27, "appeal": 5}
COUNTRY_WEIGHTS = {
    "IN": 40, "ID": 10, "RU": 7, "BR": 6, "BD": 4, "PK": 4, "VN": 3, "PH": 3, "TR": 3,
    "EG": 3, "NG": 3, "MX": 3, "DE": 2, "ES": 2, "IT": 2, "FR": 2, "PL": 1, "UA": 1, "GB": 1,
}
# By age: the last day is mostly waiting, the last five weeks are the working queue (so
# page 1,000 of "queued" exists at a million rows), older rows are settled.
STATUS_BY_AGE: list[tuple[float, dict[str, int]]] = [
    (1, {"submitted": 12, "queued": 78, "in_review": 5, "withdrawn": 1, "approved": 3,
         "rejected": 1}),
    (35, {"queued": 62, "in_review": 2, "needs_info": 10, "approved": 12, "rejected": 7,
          "withdrawn": 3, "expired": 4}),
    (10_000, {"approved": 58, "rejected": 30, "expired": 7, "withdrawn": 5}),
]
REASONS = [
    "I develop a custom kernel for this phone and need to flash my test builds.",
    "I maintain a LineageOS port for this model and test every nightly build on it.",
    "I want to install a custom recovery to back up the whole phone before repairs.",
    "I changed my number and forgot the password; the old email address is closed.",
    "My account was taken over and the recovery email was changed by someone else.",
    "I lost the phone with the authenticator and cannot sign in to the account.",
    "I am a student working on Android security research and need root access.",
    "I bought this phone second hand and cannot remove the previous owner's account.",
]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "test.example"]
RING_PHONES = 400  # phones each shared by many accounts: what the shared_phone flag finds
REVIEWERS: list[tuple[str, str, list[str], list[str]]] = [
    ("Admin One", "admin", [], []),
    ("Lead Asha", "lead", [], []),
    ("Lead Boris", "lead", [], []),
    ("Bench Reviewer", "reviewer", ["unlock", "appeal"], []),
    *((f"Reviewer {n}", "reviewer", ["unlock", "appeal"], []) for n in range(1, 6)),
    *((f"Recovery {n}", "reviewer", ["recovery"], []) for n in range(1, 4)),
    ("Reviewer RU", "reviewer", ["unlock", "recovery", "appeal"], ["RU", "UA"]),
    ("Reviewer ID", "reviewer", ["unlock", "recovery", "appeal"], ["ID"]),
    ("Reviewer BR", "reviewer", ["unlock", "recovery", "appeal"], ["BR", "MX"]),
]
APPLICATION_COLUMNS = [
    "id", "reference", "kind", "status", "account_id", "country", "phone", "email", "model",
    "firmware", "firmware_channel", "imei", "reason", "locale", "priority", "submission_key",
    "due_at", "verified_at", "decided_at", "created_at", "updated_at", "appeal_of_id",
    "assignee_id", "claimed_at", "decided_by_id", "decision_code", "decision_text",
    "held_for_id", "held_until", "info_request", "info_requested_at", "last_activity_at",
    "permission_expires_at", "phone_reversed", "asked_by_id",
]
EVENT_COLUMNS = ["application_id", "at", "actor", "type", "from_status", "to_status",
                 "message", "internal"]
DOCUMENT_COLUMNS = ["application_id", "purpose", "content_type", "size", "sha256",
                    "storage_key", "original_name", "uploaded_by", "created_at"]
FLAG_COLUMNS = ["application_id", "code", "reason", "related", "created_at"]
BULK_TABLES = ("application", "event", "document", "risk_flag")


def luhn_digit(body: str) -> str:
    """The check digit that makes ``body`` + digit pass the Luhn test (IMEIs use it)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


@dataclass(frozen=True)
class PhonePlan:
    """How a country's mobile numbers look: +<code><two leading digits><random rest>."""

    code: int
    lead: str
    rest: int

    @classmethod
    def for_country(cls, region: str) -> PhonePlan:
        example = phonenumbers.example_number_for_type(
            region, phonenumbers.PhoneNumberType.MOBILE
        )
        national = str(example.national_number)
        return cls(example.country_code, national[:2], len(national) - 2)

    def number(self, rng: random.Random) -> str:
        return f"+{self.code}{self.lead}{rng.randrange(10 ** self.rest):0{self.rest}d}"


@dataclass
class Account:
    account_id: str
    country: str
    phone: str
    email: str
    locale: str
    imei: str


@dataclass
class Facts:
    """What events, documents and flags need to know about each application."""

    kind: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    created: list[float] = field(default_factory=list)
    verified: list[float | None] = field(default_factory=list)
    decided: list[float | None] = field(default_factory=list)
    decided_by: list[int | None] = field(default_factory=list)
    assignee: list[int | None] = field(default_factory=list)
    reference: list[str] = field(default_factory=list)
    flags: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    receipts: list[tuple[str, int]] = field(default_factory=list)  # (sha256, application)


def when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def maybe(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class Population:
    """Generates the rows. Everything comes from one seeded ``random.Random``."""

    def __init__(self, rows: int, reviewer_ids: dict[str, int], seed: int = 2) -> None:
        self.rows = rows
        self.rng = random.Random(seed)
        self.now = time.time()
        self.reviewers = reviewer_ids
        self.deciders = [rid for name, rid in reviewer_ids.items() if not name.startswith("Admin")]
        self.facts = Facts()
        self.accounts: list[Account] = []
        self.references: set[str] = set()
        self.phone_plans = {region: PhonePlan.for_country(region) for region in COUNTRY_WEIGHTS}
        self.countries, self.country_weights = zip(*COUNTRY_WEIGHTS.items(), strict=True)
        self.kinds, self.kind_weights = zip(*KIND_WEIGHTS.items(), strict=True)
        self.devices = devices()
        self.unlockable = [device for device in self.devices if device.unlock_offered]
        self.not_unlockable = [device for device in self.devices if not device.unlock_offered]
        rings = [self._country() for _ in range(RING_PHONES)]
        self.ring_phones = [(c, self.phone_plans[c].number(self.rng)) for c in rings]
        self.ring_set = {phone for _, phone in self.ring_phones}
        self.rejected_unlocks: list[int] = []

    # -- helpers

    def _country(self) -> str:
        return self.rng.choices(self.countries, self.country_weights)[0]

    def _reference(self, prefix: str) -> str:
        while True:
            chars = "".join(self.rng.choices(REFERENCE_ALPHABET, k=8))
            reference = f"{prefix}-{chars[:4]}-{chars[4:]}"
            if reference not in self.references:
                self.references.add(reference)
                return reference

    def _imei(self) -> str:
        body = f"35{self.rng.randrange(10**6):06d}{self.rng.randrange(10**6):06d}"
        return body + luhn_digit(body)

    def _locale(self, country: str) -> str:
        if country in {"RU", "UA"}:
            return "ru"
        if country == "IN":
            return self.rng.choices(["en", "hi", "mr"], [60, 30, 10])[0]
        return "en"

    def _new_account(self) -> Account:
        n = len(self.accounts)
        country = self._country()
        if self.rng.random() < 0.01:
            country, phone = self.rng.choice(self.ring_phones)
        else:
            phone = self.phone_plans[country].number(self.rng)
        account = Account(
            account_id=str(6_000_000_000 + n * 7 + self.rng.randrange(7)),
            country=country, phone=phone,
            email=f"user{n}@{self.rng.choice(EMAIL_DOMAINS)}",
            locale=self._locale(country), imei=self._imei(),
        )
        self.accounts.append(account)
        return account

    def _account(self) -> tuple[int, Account]:
        if self.accounts and self.rng.random() < 0.12:
            index = self.rng.randrange(len(self.accounts))
            return index, self.accounts[index]
        account = self._new_account()
        return len(self.accounts) - 1, account

    def _status(self, age_days: float) -> str:
        for limit, weights in STATUS_BY_AGE:
            if age_days < limit:
                return self.rng.choices(list(weights), list(weights.values()))[0]
        raise AssertionError("unreachable")

    def _device(self, kind: str) -> Device:
        """The unlock form refuses models not offered unlocking, so those appear only where
        the catalogue changed after the application (one in a thousand)."""
        if kind in {"unlock", "appeal"}:
            offered = self.rng.random() >= 0.001
            return self.rng.choice(self.unlockable if offered else self.not_unlockable)
        return self.rng.choice(self.devices)

    def _firmware(self, kind: str) -> tuple[str, str]:
        if kind == "recovery" and self.rng.random() < 0.8:
            return f"V14.0.{self.rng.randrange(1, 9)}.0.TKHMIXM", "stable"
        month, day = self.rng.randrange(1, 13), self.rng.randrange(1, 29)
        return f"{self.rng.randrange(20, 25)}.{month}.{day}", "developer"

    # -- applications

    def application(self, app_id: int, created: float) -> tuple[Any, ...]:
        rng = self.rng
        kind = rng.choices(self.kinds, self.kind_weights)[0]
        appeal_of = None
        if kind == "appeal":
            if not self.rejected_unlocks:
                kind = "unlock"
            else:
                appeal_of = rng.choice(self.rejected_unlocks)
        _, account = self._account()
        age = (self.now - created) / DAY
        status = self._status(age)
        if status == "submitted" and age > 1:
            status = "queued"
        spec = KINDS[kind]
        verified = None if status == "submitted" else created + rng.uniform(30, 900)
        if status == "expired" and rng.random() < 0.5:
            verified = None  # never confirmed
        due = None if verified is None else verified + 3600 * promised_hours(spec, {})
        decided = decided_by = assignee = claimed = held_for = held_until = None
        info_request = info_at = permission = code = text = last_activity = asker = None
        if status in {"approved", "rejected"}:
            assert verified is not None
            decided = min(self.now - 60, verified + rng.uniform(7200, min(10, age) * DAY + 7200))
            decided_by = rng.choice(self.deciders)
            last_activity = decided
            if status == "rejected":
                code = rng.choice(list(REJECTION_REASONS))
                text = "We cannot approve this application: " + code.replace("_", " ") + "."
                if kind == "unlock":
                    self.rejected_unlocks.append(app_id)
            else:
                text = "Your application is approved."
                if kind in {"unlock", "appeal"}:
                    permission = decided + 14 * DAY
        elif status == "in_review":
            assignee = rng.choice(self.deciders)
            claimed = self.now - rng.uniform(60, 1500)
            last_activity = claimed
        elif status == "needs_info":
            assert verified is not None
            info_at = min(self.now - 60, verified + rng.uniform(3600, 3 * DAY))
            asker = rng.choice(self.deciders)
            items = rng.sample(list(INFO_ITEMS), 2)
            info_request = json.dumps({"items": items, "message": "Please send these.",
                                       "reviewer_id": asker})
        elif status == "queued" and rng.random() < 0.03:
            held_for = rng.choice(self.deciders)  # an answer, held for who asked
            held_until = self.now + rng.uniform(-DAY, DAY)
        model = self._device(kind)
        firmware, channel = self._firmware(kind)
        imei = account.imei if spec.needs_imei else None
        reference = self._reference(spec.prefix)
        facts = self.facts
        facts.kind.append(kind)
        facts.status.append(status)
        facts.created.append(created)
        facts.verified.append(verified)
        facts.decided.append(decided)
        facts.decided_by.append(decided_by)
        facts.assignee.append(assignee)
        facts.reference.append(reference)
        self._plant_flags(app_id, kind, model.unlock_offered, imei, account)
        updated = max(t for t in (created, verified, decided, claimed, info_at) if t is not None)
        return (
            app_id, reference, kind, status, account.account_id, account.country,
            account.phone, account.email, model.name, firmware, channel, imei,
            rng.choice(REASONS), account.locale, spec.priority, secrets.token_hex(16),
            maybe(due), maybe(verified), maybe(decided), when(created), when(updated),
            appeal_of, assignee, maybe(claimed), decided_by, code, text, held_for,
            maybe(held_until), info_request, maybe(info_at), maybe(last_activity),
            maybe(permission), account.phone[::-1], asker,
        )

    def _plant_flags(self, app_id: int, kind: str, offered: bool, imei: str | None,
                     account: Account) -> None:
        """Flags as ``risk.compute`` would find them: a share of IMEIs are reused by another
        account, ring phones are shared, and a few models are not offered unlocking."""
        flags: dict[str, list[str]] = {}
        if imei and self.rng.random() < 0.03 and len(self.facts.reference) > 10:
            other = self.rng.randrange(1, app_id)
            flags["same_imei"] = [self.facts.reference[other - 1]]
        if account.phone in self.ring_set:
            flags["shared_phone"] = []
        if kind in {"unlock", "appeal"} and not offered:
            flags["unlock_not_offered"] = []
        if kind in {"unlock", "appeal"} and self.rng.random() < 0.01:
            flags["recent_unlock"] = []
        if flags:
            self.facts.flags[app_id] = flags

    async def applications(self) -> AsyncIterator[tuple[Any, ...]]:
        span = 365 * DAY
        moments = sorted(self.now - self.rng.random() * span for _ in range(self.rows))
        for index, created in enumerate(moments):
            yield self.application(index + 1, created)

    # -- events, documents, flags

    async def events(self) -> AsyncIterator[tuple[Any, ...]]:
        f = self.facts
        rng = self.rng
        for i in range(self.rows):
            app_id = i + 1
            status, created, verified = f.status[i], f.created[i], f.verified[i]
            yield (app_id, when(created), "applicant", "submitted", None, "submitted", "", False)
            if verified is not None:
                yield (app_id, when(verified), "applicant", "verify", "submitted", "queued", "",
                       False)
            decided, by = f.decided[i], f.decided_by[i]
            holder = by or f.assignee[i]
            if holder is not None and verified is not None:
                claimed = verified + (((decided or self.now) - verified) * rng.random())
                yield (app_id, when(claimed), f"reviewer:{holder}", "claim", "queued",
                       "in_review", "Taken.", True)
                if rng.random() < 0.15:
                    yield (app_id, when(claimed + 30), f"reviewer:{holder}", "note", None,
                           None, "Checked the receipt against the IMEI.", True)
            if decided is not None:
                action = "approve" if status == "approved" else "reject"
                yield (app_id, when(decided), f"reviewer:{by}", action, "in_review", status,
                       "Decided.", False)
            elif status in {"withdrawn", "expired"}:
                actor, action = (("applicant", "withdraw") if status == "withdrawn"
                                 else ("system", "expire"))
                source = "queued" if verified is not None else "submitted"
                at = (verified or created) + rng.uniform(60, DAY)
                yield (app_id, when(min(at, self.now)), actor, action, source, status, "", False)

    async def documents(self) -> AsyncIterator[tuple[Any, ...]]:
        f = self.facts
        rng = self.rng
        for i in range(self.rows):
            kind = f.kind[i]
            if kind == "appeal":
                continue
            created = when(f.created[i])
            if f.receipts and rng.random() < 0.004:
                sha, other = rng.choice(f.receipts)  # the same receipt file sent twice
                f.flags.setdefault(i + 1, {})["same_receipt"] = [f.reference[other - 1]]
            else:
                sha = hashlib.sha256(rng.randbytes(16)).hexdigest()
            f.receipts.append((sha, i + 1))
            yield (i + 1, "receipt", "image/jpeg", rng.randrange(80_000, 3_000_000), sha,
                   secrets.token_urlsafe(24), "receipt.jpg", "applicant", created)
            if kind == "recovery" and rng.random() < 0.4:
                yield (i + 1, "box_photo", "image/jpeg", rng.randrange(80_000, 3_000_000),
                       hashlib.sha256(rng.randbytes(16)).hexdigest(),
                       secrets.token_urlsafe(24), "IMG_2041.jpg", "applicant", created)

    async def flags(self) -> AsyncIterator[tuple[Any, ...]]:
        for app_id, flags in self.facts.flags.items():
            for code, related in flags.items():
                yield (app_id, code, f"Planted by the benchmark: {code}.", json.dumps(related),
                       when(self.facts.created[app_id - 1]))


# --- the database ----------------------------------------------------------------------

async def secondary_schema(conn: asyncpg.Connection) -> tuple[list[str], list[str]]:
    """(drop statements, re-create statements) for every index and constraint of the bulk
    tables except primary keys: loading first and indexing after is several times faster,
    and the re-created schema is exactly what the migrations made."""
    constraints = await conn.fetch(
        "SELECT conname, conrelid::regclass::text AS tbl, contype, pg_get_constraintdef(oid) "
        "AS def FROM pg_constraint WHERE contype IN ('u', 'f') "
        "AND conrelid::regclass::text = ANY($1::text[]) ORDER BY contype DESC", list(BULK_TABLES)
    )
    indexes = await conn.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY($1::text[]) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        list(BULK_TABLES),
    )
    drops = [f'ALTER TABLE "{c["tbl"]}" DROP CONSTRAINT "{c["conname"]}"' for c in constraints]
    drops += [f'DROP INDEX "{i["indexname"]}"' for i in indexes]
    creates = [str(i["indexdef"]) for i in indexes]
    creates += [f'ALTER TABLE "{c["tbl"]}" ADD CONSTRAINT "{c["conname"]}" {c["def"]}'
                for c in reversed(constraints)]  # unique before foreign keys
    return drops, creates


async def run_in_parallel(url: str, statements: list[str], workers: int = 2) -> None:
    """Index builds on both cores; foreign keys (the tail of the list) after them."""
    indexes = [s for s in statements if not s.startswith("ALTER")]
    rest = [s for s in statements if s.startswith("ALTER")]
    pending = list(indexes)

    async def worker() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("SET maintenance_work_mem = '512MB'")
            while pending:
                await conn.execute(pending.pop(0))
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(workers)))
    pending = [s for s in rest if "UNIQUE" in s]
    await asyncio.gather(*(worker() for _ in range(workers)))
    pending = [s for s in rest if "UNIQUE" not in s]
    await asyncio.gather(*(worker() for _ in range(workers)))


async def insert_reviewers(conn: asyncpg.Connection) -> dict[str, int]:
    ids: dict[str, int] = {}
    for n, (name, role, kinds, countries) in enumerate(REVIEWERS):
        ids[name] = await conn.fetchval(
            "INSERT INTO reviewer (email, name, password_hash, role, active, kinds, countries, "
            "failed_logins, created_at) VALUES ($1, $2, '-', $3, true, $4, $5, 0, now()) "
            "RETURNING id", f"reviewer{n}@example.com", name, role, json.dumps(kinds),
            json.dumps(countries),
        )
    return ids


async def progress(label: str, records: AsyncIterator[tuple[Any, ...]],
                   applications: int) -> AsyncIterator[tuple[Any, ...]]:
    """Passes the records to COPY and says how far it got: each table's records come in
    application order and start with the application's id, so the id over the row count
    is the share done. At a terminal one line is rewritten twice a second; in a log, one
    line per tenth."""
    tty = sys.stderr.isatty()
    started = last = time.perf_counter()
    count, shown = 0, 0.0
    async for item in records:
        count += 1
        if count % 5000 == 0:
            share = min(int(item[0]) / max(applications, 1), 1.0)
            now = time.perf_counter()
            if (tty and now - last >= 0.5) or (not tty and share - shown >= 0.1):
                line = (f"  {label}: {count:,} rows, {share:.0%} of the applications, "
                        f"{now - started:.0f} s")
                print(f"\r{line}" if tty else line, end="" if tty else "\n",
                      file=sys.stderr, flush=True)
                last, shown = now, share
        yield item
    if tty:
        print("\r\033[K", end="", file=sys.stderr, flush=True)


@dataclass
class Generated:
    seconds: float
    load_seconds: float
    index_seconds: float
    analyze_seconds: float
    counts: dict[str, int]


async def generate(url: str, rows: int) -> Generated:
    """COPY every table from Python generators, then index and analyse."""
    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        reviewer_ids = await insert_reviewers(conn)
        drops, creates = await secondary_schema(conn)
        for statement in drops:
            await conn.execute(statement)
        population = Population(rows, reviewer_ids)
        gc.disable()  # millions of small tuples: the collector would walk them again and again
        try:
            tables = [("application", population.applications, APPLICATION_COLUMNS),
                      ("event", population.events, EVENT_COLUMNS),
                      ("document", population.documents, DOCUMENT_COLUMNS),
                      ("risk_flag", population.flags, FLAG_COLUMNS)]
            for table, source, columns in tables:
                step = time.perf_counter()
                await conn.copy_records_to_table(
                    table, records=progress(table, source(), rows), columns=columns)
                print(f"  {table}: {time.perf_counter() - step:.1f} s", flush=True)
        finally:
            gc.enable()
        await conn.execute(f"SELECT setval('application_id_seq', {rows})")
        loaded = time.perf_counter()
        print(f"  indexes and constraints: building {len(creates)} on 2 connections",
              flush=True)
        await run_in_parallel(url, creates)
        indexed = time.perf_counter()
        print(f"  indexes and constraints: {indexed - loaded:.1f} s", flush=True)
        await conn.execute("VACUUM (ANALYZE)")  # what autovacuum would have done by now
        analysed = time.perf_counter()
        counts = {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"'))  # noqa: S608
                  for t in (*BULK_TABLES, "reviewer")}
    finally:
        await conn.close()
    return Generated(analysed - started, loaded - started, indexed - loaded, analysed - indexed,
                     counts)


# --- measuring -------------------------------------------------------------------------

class Timed:
    """ASGI wrapper: how long the app itself takes to answer each request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.last = time.perf_counter() - started


@dataclass
class Operation:
    name: str
    request: Callable[[int], Awaitable[httpx2.Response]]
    expect: int = 200
    times: list[float] = field(default_factory=list)
    captured: list[tuple[str, list[Any]]] = field(default_factory=list)

    def p(self, q: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def pick(conn: asyncpg.Connection, sql: str, count: int) -> list[Any]:
    rows = await conn.fetch(sql, count)
    return [row[0] for row in rows]


async def keyset_cursors(conn: asyncpg.Connection) -> tuple[int, dict[str, list[str]]]:
    """Cursors that open ten pages from page 995 of the queued and decided tabs (for a lead),
    or from as deep as a smaller database goes; and the first of those pages' number."""
    queued = int(await conn.fetchval("SELECT count(*) FROM application WHERE status = 'queued'"))
    first = max(2, min(995, queued // 50 - 10))
    orders = {
        "queued": "SELECT priority, due_at, id FROM application WHERE status = 'queued' "
                  "ORDER BY priority DESC, due_at, id OFFSET $1 LIMIT 500",
        "decided": "SELECT 0, decided_at, id FROM application WHERE status IN ('approved', "
                   "'rejected') ORDER BY decided_at DESC, id DESC OFFSET $1 LIMIT 500",
    }
    cursors: dict[str, list[str]] = {}
    for tab, sql in orders.items():
        rows = await conn.fetch(sql, (first - 1) * 50 - 1)
        cursors[tab] = [queue.encode_cursor([r[0], r[1], r[2]]) for r in rows[::50]]
    return first, cursors


async def sign_in(app: Any, name: str) -> httpx2.AsyncClient:
    from support.accounts import auth
    from support.data.models import Reviewer

    reviewer = await Reviewer.get(name=name)
    # Leads must have a second factor, else every desk page sends them to set one up:
    # a secret as if set up, the session as if its code was typed (both steps done).
    await Reviewer.filter(id=reviewer.id).update(totp_secret="B" * 32)
    token = await auth.start_session(reviewer)
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE)
    client.cookies.set("support_session", token)
    await client.get("/")  # the CSRF cookie
    return client


async def operations(app: Any, url: str, samples: int) -> list[Operation]:
    lead = await sign_in(app, "Lead Asha")
    scoped = await sign_in(app, "Bench Reviewer")
    conn = await asyncpg.connect(url)
    try:
        n = samples + 10
        random_rows = "SELECT {} FROM application TABLESAMPLE BERNOULLI (1) WHERE {} LIMIT $1"
        imeis = await pick(conn, random_rows.format("imei", "imei IS NOT NULL"), n)
        phones = await pick(conn, random_rows.format("phone", "true"), n)
        refs = await pick(conn, random_rows.format("reference", "true"), n)
        emails = await pick(conn, random_rows.format("email", "true"), n)
        details = await pick(conn, random_rows.format("reference", "true"), n)
        page, cursors = await keyset_cursors(conn)
    finally:
        await conn.close()
    filtered = [{"country": "IN", "kind": "unlock", "flag": "unlock_not_offered"},
                {"country": "IN", "kind": "recovery", "flag": "same_imei"},
                {"country": "RU", "kind": "unlock", "flag": "recent_unlock"},
                {"country": "BR", "kind": "recovery", "flag": "shared_phone"}]
    scoped_token = scoped.cookies["support_csrf"]
    return [
        Operation("queue, first page (lead)", lambda i: lead.get("/review/queue")),
        Operation("queue, first page (reviewer: unlock+appeal)",
                  lambda i: scoped.get("/review/queue")),
        Operation("queue, filtered (country, kind, flag)",
                  lambda i: lead.get("/review/queue", params=filtered[i % len(filtered)])),
        Operation(f"queue, page {page:,} (keyset)", lambda i: lead.get(
            "/review/queue", params={"after": cursors["queued"][i % len(cursors["queued"])]})),
        Operation(f"decided tab, page {page:,} (keyset)", lambda i: lead.get(
            "/review/queue", params={"tab": "decided",
                                     "after": cursors["decided"][i % len(cursors["decided"])]})),
        Operation("search by IMEI", lambda i: lead.get("/review/queue",
                                                       params={"q": imeis[i % len(imeis)]})),
        Operation("search by phone", lambda i: lead.get("/review/queue",
                                                        params={"q": phones[i % len(phones)]})),
        Operation("search by reference", lambda i: lead.get(
            "/review/queue", params={"q": refs[i % len(refs)].lower().replace("-", " ")})),
        # Across every state: each an index range (reads/queue.py, search_branches).
        Operation("search by a reference's start (UL-7K)", lambda i: lead.get(
            "/review/queue", params={"q": refs[i % len(refs)][:5]})),
        Operation("search by a reference's start (reviewer: unlock+appeal)", lambda i: scoped.get(
            "/review/queue", params={"q": refs[i % len(refs)][:5]})),
        Operation("search by a phone's last 4 digits", lambda i: lead.get(
            "/review/queue", params={"q": phones[i % len(phones)][-4:]})),
        Operation("search by an email's part before @", lambda i: lead.get(
            "/review/queue", params={"q": emails[i % len(emails)].split("@")[0]})),
        Operation("My work (reviewer: unlock+appeal)", lambda i: scoped.get("/review/mine")),
        Operation("My work (lead)", lambda i: lead.get("/review/mine")),
        Operation("application page", lambda i: lead.get(
            f"/review/applications/{details[i % len(details)]}")),
        Operation("claim next (reviewer: unlock+appeal)", lambda i: scoped.post(
            "/review/next", data={"csrf_token": scoped_token}), expect=303),
    ]


async def measure(settings: Settings, samples: int) -> list[Operation]:
    from support.app import create_app

    app = create_app(settings)
    timed = Timed(app)
    async with app.router.lifespan_context(app):
        ops = await operations(timed, settings.database_url, samples)
        for op in ops:
            for i in range(5):  # warm-up: templates, statement caches
                await op.request(i + samples)
            for i in range(samples):
                response = await op.request(i)
                assert response.status_code == op.expect, (op.name, response.status_code)
                op.times.append(timed.last)
            with db.statements_sent() as seen:
                await op.request(samples + 7)
            op.captured = list(seen)
            print(f"  {op.name}: p50 {op.p(0.5):.1f} ms, p95 {op.p(0.95):.1f} ms, "
                  f"{len(op.captured)} statements", flush=True)
    return ops


async def explain(url: str, ops: list[Operation]) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement of one request of each operation, each
    in a transaction rolled back afterwards (claims and flag writes run, then are undone).

    Each is planned for the values it was sent with, under the settings every session of
    the app starts with (``db.POSTGRES_SETTINGS``)."""
    conn = await asyncpg.connect(url, server_settings=db.POSTGRES_SETTINGS)
    out: list[str] = []
    try:
        for op in ops:
            out.append(f"\n{'=' * 100}\n== {op.name}: {len(op.captured)} statements\n")
            for sql, values in op.captured:
                if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "DELETE")):
                    continue
                out.append(f"\n-- {sql}\n-- params: {values!r}\n")
                transaction = conn.transaction()
                await transaction.start()
                try:
                    rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *values)
                    out.extend(str(row[0]) + "\n" for row in rows)
                except asyncpg.PostgresError as exc:
                    out.append(f"(not explained: {exc})\n")
                finally:
                    await transaction.rollback()
    finally:
        await conn.close()
    return "".join(out)


def table(ops: list[Operation]) -> str:
    lines = ["| operation | p50 ms | p95 ms | max ms | SQL statements | samples |",
             "|---|---|---|---|---|---|"]
    for op in ops:
        mark = "" if op.p(0.95) <= 50 else " ✗"
        lines.append(f"| {op.name} | {op.p(0.5):.1f} | {op.p(0.95):.1f}{mark} | "
                     f"{max(op.times) * 1000:.1f} | {len(op.captured)} | {len(op.times)} |")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--database", help="reuse this kept database: migrate it, measure")
    parser.add_argument("--label", default="", help="a word for results.md: before, after")
    parser.add_argument("--no-record", action="store_true",
                        help="print only; do not append to results.md")
    args = parser.parse_args()
    print(describe(), flush=True)
    url = (postgres_url(args.database) if args.database
           else await new_postgres(f"b2_{secrets.token_hex(4)}"))
    name = url.rsplit("/", 1)[1]
    generated: Generated | None = None
    try:
        print(f"B2: database {name}: migrating", flush=True)
        await db.migrate(url)
        if not args.database:
            print(f"B2: generating {args.rows:,} applications", flush=True)
            generated = await generate(url, args.rows)
            print(f"B2: generated in {generated.seconds:.1f} s: {generated.counts}", flush=True)
        else:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("VACUUM (ANALYZE)")
            finally:
                await conn.close()
        print("B2: measuring", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-b2-") as tmp:
            settings = Settings(data_dir=Path(tmp), database_url=url, secret_key=SECRET,
                                base_url=BASE, inprocess_worker=False)
            args.load_before = load_average(minutes=1)
            ops = await measure(settings, args.samples)
            args.load_after = load_average(minutes=1)
        plans = await explain(url, ops)
    finally:
        if not args.keep and not args.database:
            await drop_database(url)
    text = report(ops, generated, args, plans, name)
    print(text)
    if not args.no_record:
        record("B2", text)


def report(ops: list[Operation], generated: Generated | None, args: argparse.Namespace,
           plans: str, name: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H%M")
    label = f"-{args.label}" if args.label else ""
    PLANS.mkdir(exist_ok=True)
    plan_path = PLANS / f"b2-{stamp}{label}.txt"
    plan_path.write_text(f"B2 {args.label} {stamp}\n{describe()}\n{plans}", encoding="utf-8")
    lines = [f"### B2 queue{' (' + args.label + ')' if args.label else ''}: "
             f"server time, {args.samples} samples each, PostgreSQL"]
    if generated is not None:
        counts = ", ".join(f"{table} {count:,}" for table, count in generated.counts.items())
        lines.append(
            f"\n- generated {args.rows:,} applications in {generated.seconds:.0f} s "
            f"(COPY {generated.load_seconds:.0f} s, indexes and constraints "
            f"{generated.index_seconds:.0f} s, VACUUM ANALYZE {generated.analyze_seconds:.0f} "
            f"s): {counts}"
        )
    else:
        lines.append(f"\n- reused database {name}")
    lines.append(f"- load average (1 min) at the start and end of the measurements: "
                 f"{args.load_before} and {args.load_after} (this benchmark and its "
                 f"PostgreSQL backend account for up to 2; more is other work)")
    lines.append(f"- plans: bench/plans/{plan_path.name}\n")
    lines.append(table(ops))
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("SUPPORT_INPROCESS_WORKER", "0")
    asyncio.run(main())
