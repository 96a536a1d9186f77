"""10,000 mutated requests to every reviewer, lead and admin route, signed in (issue 19).

``test_fuzz_http.py`` sends broken forms to the applicant's routes and the sign-in; this
run is the desk's: every ``/review`` route but the sign-in and sign-out (the account,
second-factor and invitation pages included), as a reviewer, a lead and an admin (now and
then one whose role is too low; the lead and the admin first set up their sign-in codes,
as the desk asks them to), against ``support serve`` in its own process. Query strings, path ids and form fields are mutated: ids that are no
number or past what an id column holds (2**31 on PostgreSQL, 2**63 on SQLite), digits that
are no ASCII ("²"), NUL, dates at the ends of the calendar, keyset cursors forged with
ids, priorities and dates out of range, and the forms broken the ways
``tests/fuzz_http.py`` breaks them. The cases issue 19 found come first, by every
principal that may use the route.

No answer may be a 5xx, and none may be cut short: an answer whose headers arrived and
whose body did not end (an export streamed and aborted) fails the run. A CSV export
answers 200 with the whole file or refuses before its first byte. Every other answer is
a page with a heading, a redirect on the site, or a document.

Deterministic: case ``i`` is built from ``random.Random(f"desk:{seed}:{i}")``;
``SUPPORT_FUZZ_CASES`` and ``SUPPORT_FUZZ_SEED`` run more or other cases.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import httpx2
import pyotp
import pytest
from starlette.routing import Route

from support.app import routes
from support.platform import tokens
from support.reads.queue import encode_cursor
from support.rules.kinds import INFO_ITEMS, REJECTION_REASONS
from tests.conftest import free_port
from tests.fuzz_http import (
    MARKER,
    Connection,
    Form,
    Reply,
    broken_multipart,
    field_part,
    multipart,
    mutate_fields,
    request_bytes,
    run_cases,
    urlencoded,
)
from tests.fuzz_inputs import random_valid
from tests.test_fuzz_http import (
    CASES,
    CONNECTIONS,
    CSRF,
    JPEG,
    MAX_BODY,
    MAX_FILE,
    SECRET,
    SEED,
    Server,
    _code,
    _post,
)

PRINCIPALS = ("reviewer", "lead", "admin")
SPARES = 4  # reviewers the run may deactivate, send links to, sign out
PASSWORD = "fuzzing the desk all night long"


# --- the server and its accounts --------------------------------------------------------


async def _cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "support", *args, env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(stdin.encode()), 120)
    assert process.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


@pytest.fixture
async def desk_server(tmp_path: Path, empty_database_url: str) -> AsyncIterator[Server]:
    """``support serve`` as test_fuzz_http.py runs it, with the run's accounts made by
    ``support create-reviewer`` (the admin among them: nothing here depends on how the
    desk invites people)."""
    port = free_port()
    data_dir = tmp_path / "data"
    env = {**os.environ, "SUPPORT_DATA_DIR": str(data_dir), "SUPPORT_DATABASE_URL": empty_database_url,
           "SUPPORT_SECRET_KEY": SECRET, "PORT": str(port), "SUPPORT_RATE_LIMITS": "0",
           "SUPPORT_MAX_FILE_BYTES": str(MAX_FILE), "SUPPORT_MAX_BODY_BYTES": str(MAX_BODY),
           "SUPPORT_WORKER_INTERVAL_MS": "100", "SUPPORT_LOG_FORMAT": "text"}
    await _cli(env, "migrate")
    people = [(role, role) for role in PRINCIPALS] + [
        (f"spare{n}", "reviewer") for n in range(SPARES)]
    await asyncio.gather(*(
        _cli(env, "create-reviewer", f"{name}@example.com", "--name", name.title(),
             "--role", role, "--kinds", "unlock,recovery,appeal", stdin=PASSWORD + "\n")
        for name, role in people))
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "support", "serve"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(log.read_text())
        yield Server(port, data_dir, log, ("admin@example.com", PASSWORD), process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


# --- the desk the requests find ---------------------------------------------------------


@dataclass
class Desk:
    """Real accounts, applications, documents and messages, so that every route meets
    something it can act on, and the ids a mutation starts from."""

    sessions: dict[str, str] = field(default_factory=dict)  # principal -> session cookie
    ids: dict[str, int] = field(default_factory=dict)  # principal -> reviewer id
    spares: list[int] = field(default_factory=list)  # reviewers the run may act on
    spare_sessions: list[int] = field(default_factory=list)  # sessions nobody here uses
    references: list[str] = field(default_factory=list)
    documents: list[int] = field(default_factory=list)
    notifications: list[int] = field(default_factory=list)
    responses: list[int] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)


async def _sign_in(served: Server, email: str, *, enrol: bool = False) -> str:
    """A session's cookie. ``enrol``: a lead or an admin must set up sign-in codes before
    any desk page opens; done here as a person would, with the secret the page shows."""
    async with httpx2.AsyncClient(base_url=f"http://{served.host}", timeout=30) as http:
        http.cookies.set("support_csrf", CSRF)
        signed = await _post(http, "/review/login", {"email": email, "password": PASSWORD})
        assert signed.status_code == 303, signed.text
        desk = await http.get("/review/queue")
        if enrol and desk.status_code == 303 and "/two-factor" in desk.headers["location"]:
            page = (await http.get("/review/account/two-factor")).text
            secret = re.search(r'id="totp-secret"[^>]*>\s*([A-Z2-7]+)\s*<', page)
            assert secret, page
            done = await _post(http, "/review/account/two-factor",
                               {"code": pyotp.TOTP(secret.group(1)).now()})
            assert done.status_code == 200, done.text
            desk = await http.get("/review/queue")
        assert desk.status_code == 200 or not enrol, (email, desk.status_code, desk.headers)
        return str(http.cookies["support_session"])


def _found(pattern: str, text: str) -> list[int]:
    return sorted({int(n) for n in re.findall(pattern, text)})


async def prepare(served: Server) -> Desk:
    desk = Desk()
    # A second session each, signed in first (lower ids) and never used: the run may end
    # them from the account page; the sessions it uses are never offered.
    for name in PRINCIPALS:
        await _sign_in(served, f"{name}@example.com")
    for name in PRINCIPALS:
        desk.sessions[name] = await _sign_in(served, f"{name}@example.com", enrol=True)
    async with httpx2.AsyncClient(base_url=f"http://{served.host}", timeout=30) as http:
        http.cookies.set("support_csrf", CSRF)
        http.cookies.set("support_session", desk.sessions["admin"])
        page = (await http.get("/review/admin/reviewers")).text
        for row in page.split("<tr")[1:]:
            email = re.search(r"([a-z0-9]+)@example\.com", row)
            ident = re.search(r"/review/admin/reviewers/(\d+)/", row)
            if email and ident:
                name = email.group(1)
                if name.startswith("spare"):
                    desk.spares.append(int(ident.group(1)))
                else:
                    desk.ids[name] = int(ident.group(1))
        assert len(desk.spares) == SPARES and {"reviewer", "lead"} <= set(desk.ids), page
        for name in PRINCIPALS:
            http.cookies.set("support_session", desk.sessions[name])
            mine = (await http.get("/review/account")).text
            for row in mine.split("<tr")[1:]:
                ident = re.search(r"/review/account/sessions/(\d+)/end", row)
                if ident and "this browser" not in row:
                    desk.spare_sessions.append(int(ident.group(1)))
        http.cookies.set("support_session", desk.sessions["admin"])
        # Applications made the real way: submitted with a photo, confirmed by their code.
        for n in range(14):
            fields = {**random_valid(random.Random(f"desk{n}"), "unlock"),
                      "account_id": f"712345{n:04d}",
                      "submission_token": tokens.new_submission_token(SECRET)}
            sent = await http.post("/apply/unlock", data={"csrf_token": CSRF, **fields},
                                   files={"receipt": ("receipt.jpg", JPEG, "image/jpeg")})
            assert sent.status_code == 303, sent.text
            reference = sent.headers["location"].split("/")[2]
            confirmed = await _post(http, f"/applications/{reference}/verify",
                                    {"code": await _code(served, reference)})
            assert confirmed.status_code == 303, confirmed.text
            desk.references.append(reference)
        # Some claimed, some waiting for the applicant, some decided: every tab has rows.
        for n, reference in enumerate(desk.references[:8]):
            base = f"/review/applications/{reference}"
            assert (await _post(http, f"{base}/claim", {})).status_code == 303
            decision = [{"action": "request_info", "items": "receipt"},
                        {"action": "reject", "reason_code": "other"},
                        {"action": "approve"}, None][n % 4]
            if decision is not None:
                decided = await _post(http, f"{base}/decide", {
                    "message": "Thank you.", "seen": _seen((await http.get(base)).text),
                    **decision})
                assert decided.status_code == 303, decided.text
        for reference in desk.references:
            page = (await http.get(f"/review/applications/{reference}")).text
            desk.documents += _found(r"/review/documents/(\d+)", page)
        made = await _post(http, "/review/admin/responses", {
            "kind": "unlock", "action": "approve", "title": "Approved", "body": "Yes."})
        assert made.status_code == 303, made.text
        desk.responses = _found(r"/review/admin/responses/(\d+)",
                                (await http.get("/review/admin/responses")).text)
        desk.notifications = _found(r"/review/admin/deliveries/(\d+)/retry",
                                    (await http.get("/review/admin/deliveries")).text)
        for tab in ("queued", "decided"):  # real cursors, to be tampered with
            page = (await http.get(f"/review/queue?tab={tab}")).text
            desk.cursors += re.findall(r"after=([A-Za-z0-9_-]+)", page)
    moment = datetime.now(UTC)  # and cursors as a page would write them, in range
    desk.cursors += [encode_cursor([priority, moment + timedelta(hours=h), ident])
                     for priority, h, ident in [(0, 1, 3), (10, -5, 1), (0, 0, 14)]]
    assert desk.documents and desk.responses, desk
    return desk


# --- values: what arrives in a query, a path or a form ----------------------------------

# Starlette's {id:int} reads "000…01" as 1, so zeros in front lead to a number past the range.
BIG = [str(2**31 - 1), str(2**31), str(2**32), str(2**63 - 1), str(2**63), str(2**64),
       "9" * 30, "0" * 40 + str(2**31), "1" * 400]
# Percent-encoded as they travel; "%00" and "%C2%B2" ("²") arrive decoded.
ODD = ["%00", "a%00b", "%00%00", "%C2%B2", "%D9%A3", "%E0%A5%A7%E0%A5%A8", "-1", "0", "1e309",
       "NaN", "", "%", "%zz", "%FF%FE", "%ED%A0%80", "x" * 1000, "+", "%20%20", "%0D%0A",
       quote(MARKER.decode()), "..%2F..%2Fetc%2Fpasswd", "%5B%5D", "%E2%80%AE", "%EF%BF%BD",
       "true", "1.5", "%2B1", "0x10", "%E0%A5%A7%E0%A5%A8", "%EF%BC%91"]
DATES = ["9999-12-31", "9999-12-30", "0001-01-01", "2024-02-30", "20240101", "2024-W01-1",
         "+10000-01-01", "2024-01-01%00", "%E0%A5%A8%E0%A5%A6%E0%A5%A8%E0%A5%AA-01-01",
         "2024-13-45", "1970-01-01", "2026-03-10T25:00"]


def _cursor(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


FORGED_CURSORS = [
    _cursor([0, "2026-01-01T00:00:00+00:00", 2**63]),
    _cursor([0, "2026-01-01T00:00:00+00:00", 2**31]),
    _cursor([0, "2026-01-01T00:00:00+00:00", -(2**63) - 1]),
    _cursor([2**40, "2026-01-01T00:00:00+00:00", 1]),
    _cursor([-(2**31) - 1, "2026-01-01T00:00:00+00:00", 1]),
    _cursor([0, "0001-01-01T00:00:00+14:00", 1]),
    _cursor([0, "9999-12-31T23:59:59-14:00", 1]),
    _cursor([0, "9999-12-31T23:59:59+00:00", 2**31 - 1]),
    _cursor([True, "2026-01-01T00:00:00+00:00", 1]),
    _cursor([0, "2026-01-01T00:00:00", 1]),
    _cursor([0, "2026-01-01T00:00:00+00:00\u0000", 1]),
    base64.urlsafe_b64encode(b"[0, \"2026-01-01T00:00:00+00:00\", 1e400]").decode(),
    base64.urlsafe_b64encode(b"[" * 2000).decode(),
    base64.urlsafe_b64encode(b"[0, \"x\", " + b"9" * 5000 + b"]").decode(),
    "%00", "W10", "!!!", "=" * 10,
]


def _id(rng: random.Random, real: list[int], *, small: bool = True) -> str:
    """An id for a path or a field: a real one, one that names nothing, or one that is no
    id at all. Not ``small`` where a real id could be one of the run's own accounts or
    sessions (deactivating the lead would end the lead's part of the run)."""
    roll = rng.random()
    if roll < 0.45 and real:
        return str(rng.choice(real))
    if roll < 0.8:
        return rng.choice(BIG)
    return rng.choice(["0", "999999", "-1", "1.5", "%C2%B2", "%00", "abc", "%2e%2e",
                       "%EF%BC%91", "%E0%A5%A7", "%201", "0x1", "+2",
                       *(["1", "1%00", "2"] if small else [])])


def _reference(rng: random.Random, desk: Desk) -> str:
    real = rng.choice(desk.references)
    if rng.random() < 0.6:
        return rng.choice([real, real, real.lower(), real.replace("-", "%20")])
    return rng.choice(["NOPE", real + "%00", "%FF%FE", "x" * 300, real[:-1], "%00",
                       "..%2F..%2Fetc", quote("१२") + real, "%C2%B2", "9" * 30])


def _value(rng: random.Random, valid: list[str]) -> str:
    """A query value: one the page would send (encoded), or one nobody's page would."""
    if valid and rng.random() < 0.55:
        return quote(rng.choice(valid), safe="")
    return rng.choice(ODD + BIG + DATES)


def _query(rng: random.Random, params: dict[str, list[str]]) -> str:
    """A query string over ``params`` (name -> values a page would send): some left out,
    some mutated, some repeated, now and then a name nobody sends."""
    pairs = []
    for name, valid in params.items():
        if rng.random() < 0.45:
            continue
        for _ in range(rng.choice([1, 1, 1, 1, 2])):
            pairs.append(f"{name}={_value(rng, valid)}")
    if rng.random() < 0.1:
        pairs.append(f"{rng.choice(['x', '%00', 'tab[]', 'q%00', 'a' * 300])}="
                     f"{rng.choice(ODD)}")
    if rng.random() < 0.05:
        pairs.append(rng.choice(["lang=hi", "lang=%FF", "&&&", "=", "q", "%"]))
    rng.shuffle(pairs)
    while len("&".join(pairs)) > 8000:  # a request line h11 still reads (16 KB with headers)
        pairs.pop()
    return ("?" + "&".join(pairs)) if pairs else ""


# --- the routes: what each is sent ------------------------------------------------------

Build = Callable[[random.Random, Desk], tuple[str, Form | None]]  # path + query, form (POST)
QUEUE = {"tab": ["queued", "mine", "in_review", "needs_info", "decided"],
         "kind": ["unlock", "recovery", "appeal"], "country": ["IN", "in", "RU", "NP"],
         "model": ["Redmi Note 10 Pro", "Poco F5"], "flag": ["same_imei", "same_phone"],
         "assignee": [], "q": ["UL-", "98765 43210", "asha@example.com", "490154203237518"]}
APPLICATION = "/review/applications/{reference}"


def _queue_params(desk: Desk) -> dict[str, list[str]]:
    return {**QUEUE, "assignee": [str(i) for i in desk.ids.values()]}


def _queue(rng: random.Random, desk: Desk) -> tuple[str, Form | None]:
    params = {**_queue_params(desk), "after": desk.cursors + FORGED_CURSORS,
              "notice": ["empty", "released"]}
    query = _query(rng, params)
    if rng.random() < 0.25:  # a forged cursor, whole (an encoded one would be a new one)
        query += ("&" if query else "?") + "after=" + rng.choice(FORGED_CURSORS)
    return "/review/queue" + query, None


def _queue_csv(rng: random.Random, desk: Desk) -> tuple[str, Form | None]:
    return "/review/queue.csv" + _query(rng, {**_queue_params(desk), "contacts": ["1", "0"]}), None


def _application(rng: random.Random, desk: Desk) -> tuple[str, Form | None]:
    query = _query(rng, {"notice": ["decided", "noted", "reassigned"]})
    return f"/review/applications/{_reference(rng, desk)}{query}", None


def _document(rng: random.Random, desk: Desk) -> tuple[str, Form | None]:
    query = _query(rng, {"download": ["1"]})
    return f"/review/documents/{_id(rng, desk.documents)}{query}", None


def _page(path: str, params: dict[str, list[str]] | None = None) -> Build:
    def build(rng: random.Random, desk: Desk) -> tuple[str, Form | None]:
        return path + _query(rng, params or {"notice": ["created", "saved"]}), None
    return build


def _audit(rng: random.Random, desk: Desk) -> tuple[str, Form | None]:
    params = {"reviewer": [str(i) for i in desk.ids.values()],
              "reference": desk.references, "from": ["2026-01-01", *DATES],
              "to": ["2030-12-31", *DATES], "after": desk.cursors + FORGED_CURSORS,
              "accounts_after": desk.cursors + FORGED_CURSORS}
    return "/review/admin/audit" + _query(rng, params), None


def _pairs(values: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in values.items()]


def _post_to(path: Callable[[random.Random, Desk], str],
             fields: Callable[[random.Random, Desk], list[tuple[bytes, bytes]]]) -> Build:
    def build(rng: random.Random, desk: Desk) -> tuple[str, Form | None]:
        return path(rng, desk), Form(fields(rng, desk))
    return build


def _none(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    return []


def _on_application(action: str) -> Callable[[random.Random, Desk], str]:
    return lambda rng, desk: f"/review/applications/{_reference(rng, desk)}/{action}"


def _reassign(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    return _pairs({"reviewer_id": _id(rng, [*desk.ids.values(), *desk.spares]).replace(
        "%C2%B2", "²").replace("%00", "\x00")})


def _note(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    return _pairs({"note": rng.choice(["Checked the receipt.", "x" * 5000, "", "a\x00b"])})


def _seen(page: str) -> str:
    """The version an application page's decision forms carry."""
    found = re.search(r'name="seen" value="(\d+)"', page)
    assert found, page[:2000]
    return found.group(1)


def _decide(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    pairs = _pairs({
        "action": rng.choice(["approve", "reject", "request_info", "approve", "erase", ""]),
        "message": rng.choice(["Your request is approved.", "", "y" * 5000]),
        "reason_code": rng.choice([*REJECTION_REASONS, "", "nope", "x" * 300]),
        # The page's version: the highest one passes the check (nothing newer happened).
        "seen": rng.choice(["2147483647", "2147483647", "0", "", "x9", "-1", "9" * 30]),
    })
    for _ in range(rng.randint(0, 3)):
        pairs.append((b"items", rng.choice([*INFO_ITEMS, "nope", "x" * 300]).encode()))
    return pairs


def _new_reviewer(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    n = rng.randrange(10**6)
    pairs = _pairs({
        "email": rng.choice([f"fz{n}@example.com", f"fz{n}@example.com", "not an email",
                             "a" * 300 + "@example.com", "", "reviewer@example.com"]),
        "name": rng.choice([f"Fuzz {n}", "", "n" * 200]),
        "role": rng.choice(["reviewer", "lead", "admin", "root", ""]),
        # Mostly too short: a valid one is hashed with Argon2, which the run need not time.
        "password": rng.choice([PASSWORD, "short", "", "p" * 5000, "short", "short"]),
        "countries": rng.choice(["", "IN, NP", "XX", "in,,ru", "I" * 300]),
    })
    for _ in range(rng.randint(0, 3)):
        pairs.append((b"kinds", rng.choice(["unlock", "recovery", "appeal", "nope"]).encode()))
    return pairs


def _revoke(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    return _pairs({"reason": rng.choice(["The receipt was made for another phone.", "", "short",
                                         "r" * 5000, "a\x00b"])})


def _webhook(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    pairs = _pairs({"url": rng.choice(["https://maker.example/hooks", "http://127.0.0.1:9/h",
                                       "ftp://x", "", "https://u:p@x.example/", "h" * 600])})
    for event in rng.sample(["permission.granted", "permission.redeemed", "nope", ""], 2):
        pairs.append((b"events", event.encode()))
    return pairs


def _api_key(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    pairs = _pairs({"name": rng.choice(["unlock-service", "", "n" * 200, "a\x00b"])})
    for scope in rng.sample(["permissions:read", "applications:write", "nope", ""], 2):
        pairs.append((b"scopes", scope.encode()))
    return pairs


def _response(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    return _pairs({
        "kind": rng.choice(["unlock", "recovery", "appeal", "nope", ""]),
        "action": rng.choice(["approve", "reject", "request_info", "nope"]),
        "reason_code": rng.choice([*REJECTION_REASONS, "", "nope"]),
        "title": rng.choice(["Approved", "", "t" * 500]),
        "body": rng.choice(["Your request is approved.", "", "b" * 20_000]),
        "active": rng.choice(["1", "0", "", "x"]),
    })


def _on_spare(action: str) -> Build:
    """An admin's action on a reviewer: never on the run's own principals."""
    return _post_to(lambda rng, desk: f"/review/admin/reviewers/"
                                      f"{_id(rng, desk.spares, small=False)}/{action}", _none)


def _code_fields(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    return _pairs({"code": rng.choice(["123456", "", "12 34 56", "x" * 100, "१२३४५६"]),
                   "recovery_code": rng.choice(["", "abcd-efgh", "%00"]),
                   "next": rng.choice(["", "/review/queue", "//evil.example"])})


def _invitation(rng: random.Random, desk: Desk) -> str:
    token = rng.choice(["x" * 43, "nope", "%00", "a" * 400, "%FF%FE", "..%2F..", "%C2%B2"])
    return f"/review/invitation/{token}"


def _document_part(part: Callable[[random.Random], str]) -> Build:
    def build(rng: random.Random, desk: Desk) -> tuple[str, Form | None]:
        return f"/review/documents/{_id(rng, desk.documents)}/{part(rng)}", None
    return build


def _page_number(rng: random.Random) -> str:
    return "pages/" + rng.choice([str(rng.randint(0, 60)), "1", "2", str(2**31), "9" * 30,
                                  str(2**63)])


def _presence(rng: random.Random, desk: Desk) -> tuple[str, Form | None]:
    query = _query(rng, {"since": ["0", "1", "5000", str(2**31 - 1), str(2**31), "-1"]})
    return f"/review/applications/{_reference(rng, desk)}/presence{query}", None


def _leave(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    return _pairs({"mark": rng.choice(["2026-12-06T06:00:00+00:00", "2026-12-06T06:00:00",
                                       "", "x" * 50, "9999-12-31T23:59:59+14:00",
                                       "0001-01-01T00:00:00-12:00", "%00"])})


def _bulk(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    pairs = _pairs({"action": rng.choice(["release", "reassign", "reassign", "erase", ""]),
                    "reviewer_id": _id(rng, [*desk.ids.values(), *desk.spares]).replace(
                        "%C2%B2", "²").replace("%00", "\x00"),
                    "tab": rng.choice(["queued", "in_review", "nope", ""])})
    for _ in range(rng.choice([0, 1, 2, 3, 60])):
        pairs.append((b"reference", unquote(_reference(rng, desk)).encode(
            "utf-8", "surrogateescape")))
    return pairs


def _access(rng: random.Random, desk: Desk) -> list[tuple[bytes, bytes]]:
    pairs = _pairs({"role": rng.choice(["reviewer", "lead", "admin", "root", ""]),
                    "countries": rng.choice(["", "IN, NP", "XX", "in,,ru", "I" * 300])})
    for _ in range(rng.randint(0, 3)):
        pairs.append((b"kinds", rng.choice(["unlock", "recovery", "appeal", "nope"]).encode()))
    return pairs


def _page_of(path: Callable[[random.Random, Desk], str]) -> Build:
    def build(rng: random.Random, desk: Desk) -> tuple[str, Form | None]:
        return path(rng, desk) + _query(rng, {"next": ["/review/queue"]}), None
    return build


# (weight, who may use it, build). Weights favour the routes that read ids and filters.
ROUTES: dict[tuple[str, str], tuple[int, str, Build]] = {
    ("GET", "/review"): (1, "reviewer", _page("/review")),
    ("GET", "/review/queue"): (16, "reviewer", _queue),
    ("GET", "/review/queue.csv"): (14, "reviewer", _queue_csv),
    ("POST", "/review/next"): (2, "reviewer", _post_to(lambda rng, desk: "/review/next", _none)),
    ("GET", APPLICATION): (6, "reviewer", _application),
    ("POST", APPLICATION + "/claim"): (3, "reviewer", _post_to(_on_application("claim"), _none)),
    ("POST", APPLICATION + "/release"): (2, "reviewer",
                                         _post_to(_on_application("release"), _none)),
    ("POST", APPLICATION + "/reassign"): (4, "lead",
                                          _post_to(_on_application("reassign"), _reassign)),
    ("POST", APPLICATION + "/notes"): (3, "reviewer", _post_to(_on_application("notes"), _note)),
    ("POST", APPLICATION + "/decide"): (4, "reviewer",
                                        _post_to(_on_application("decide"), _decide)),
    ("GET", "/review/documents/{document_id:int}"): (8, "reviewer", _document),
    ("GET", "/review/documents/{document_id:int}/thumbnail"): (
        4, "reviewer", _document_part(lambda rng: "thumbnail")),
    ("GET", "/review/documents/{document_id:int}/pages/{page:int}"): (
        4, "reviewer", _document_part(_page_number)),
    ("GET", APPLICATION + "/presence"): (4, "reviewer", _presence),
    ("POST", APPLICATION + "/presence/leave"): (2, "reviewer",
                                                _post_to(_on_application("presence/leave"),
                                                         _leave)),
    ("GET", "/review/mine"): (3, "reviewer", _page("/review/mine", {"notice": ["nope"]})),
    ("GET", "/review/mail"): (3, "reviewer", _page("/review/mail", {
        "view": ["unplaced", "taken", "reports", "automatic", "x" * 300],
        "before": ["1", "0", "-1", "9" * 30, "abc"]})),
    ("POST", "/review/queue/bulk"): (4, "lead", _post_to(lambda rng, desk: "/review/queue/bulk",
                                                         _bulk)),
    ("GET", "/review/admin/deliveries"): (5, "lead", _page("/review/admin/deliveries", {
        "status": ["failing", "dead", "pending", "sent"], "channel": ["email", "sms"],
        "template": ["received", "code"], "notice": ["retrying"]})),
    ("POST", "/review/admin/deliveries/{notification_id:int}/retry"): (5, "lead", _post_to(
        lambda rng, desk: f"/review/admin/deliveries/{_id(rng, desk.notifications)}/retry",
        _none)),
    ("GET", "/review/reports"): (1, "lead", _page("/review/reports")),
    ("GET", "/review/reports.csv"): (2, "lead", _page("/review/reports.csv", {
        "table": ["backlog", "decisions", "nope"]})),
    ("GET", "/review/admin/reviewers"): (1, "admin", _page("/review/admin/reviewers")),
    ("POST", "/review/admin/reviewers"): (2, "admin", _post_to(
        lambda rng, desk: "/review/admin/reviewers", _new_reviewer)),
    ("GET", "/review/admin/reviewers/{reviewer_id:int}"): (2, "admin", _page_of(
        lambda rng, desk: f"/review/admin/reviewers/{_id(rng, desk.spares, small=False)}")),
    ("POST", "/review/admin/reviewers/{reviewer_id:int}"): (3, "admin", _post_to(
        lambda rng, desk: f"/review/admin/reviewers/{_id(rng, desk.spares, small=False)}",
        _access)),
    ("POST", "/review/admin/reviewers/{reviewer_id:int}/deactivate"): (4, "admin",
                                                                        _on_spare("deactivate")),
    ("POST", "/review/admin/reviewers/{reviewer_id:int}/link"): (2, "admin", _on_spare("link")),
    ("POST", "/review/admin/reviewers/{reviewer_id:int}/second-factor/reset"): (
        2, "admin", _on_spare("second-factor/reset")),
    ("POST", "/review/admin/reviewers/{reviewer_id:int}/sessions/end"): (
        2, "admin", _on_spare("sessions/end")),
    ("GET", "/review/account"): (1, "reviewer", _page("/review/account", {
        "notice": ["session-ended", "nope"]})),
    ("POST", "/review/account/sessions/{session_id:int}/end"): (3, "reviewer", _post_to(
        # Only sessions nobody here uses: ending one's own would sign it out of the run.
        lambda rng, desk: f"/review/account/sessions/"
                          f"{_id(rng, desk.spare_sessions, small=False)}/end", _none)),
    ("POST", "/review/account/recovery-codes"): (1, "reviewer", _post_to(
        lambda rng, desk: "/review/account/recovery-codes", _code_fields)),
    ("GET", "/review/account/two-factor"): (1, "reviewer", _page("/review/account/two-factor", {
        "next": ["/review/queue", "//evil.example", "/review/../x"]})),
    ("POST", "/review/account/two-factor"): (2, "reviewer", _post_to(
        lambda rng, desk: "/review/account/two-factor", _code_fields)),
    ("GET", "/review/login/code"): (1, "reviewer", _page("/review/login/code", {
        "next": ["/review/queue", "//evil.example"]})),
    ("POST", "/review/login/code"): (1, "reviewer", _post_to(
        lambda rng, desk: "/review/login/code", _code_fields)),
    ("GET", "/review/invitation/{invitation}"): (1, "reviewer", _page_of(_invitation)),
    ("POST", "/review/invitation/{invitation}"): (1, "reviewer", _post_to(
        _invitation, lambda rng, desk: _pairs({"password": rng.choice([PASSWORD, "short"]),
                                                "password_again": PASSWORD}))),
    ("GET", "/review/admin/responses"): (1, "admin", _page("/review/admin/responses")),
    ("POST", "/review/admin/responses"): (2, "admin", _post_to(
        lambda rng, desk: "/review/admin/responses", _response)),
    ("POST", "/review/admin/responses/{response_id:int}"): (4, "admin", _post_to(
        lambda rng, desk: f"/review/admin/responses/{_id(rng, desk.responses)}", _response)),
    ("GET", "/review/admin/audit"): (8, "admin", _audit),
    ("POST", APPLICATION + "/permission/revoke"): (3, "lead", _post_to(
        _on_application("permission/revoke"), _revoke)),
    ("GET", "/review/admin/webhooks"): (1, "admin", _page("/review/admin/webhooks", {
        "notice": ["disabled", "nope"]})),
    ("POST", "/review/admin/webhooks"): (3, "admin", _post_to(
        lambda rng, desk: "/review/admin/webhooks", _webhook)),
    ("POST", "/review/admin/webhooks/{endpoint_id:int}/disable"): (2, "admin", _post_to(
        lambda rng, desk: f"/review/admin/webhooks/{rng.choice([1, 2, 99999])}/disable",
        _none)),
    ("GET", "/review/admin/api-keys"): (1, "admin", _page("/review/admin/api-keys", {
        "notice": ["revoked", "nope"]})),
    ("POST", "/review/admin/api-keys"): (3, "admin", _post_to(
        lambda rng, desk: "/review/admin/api-keys", _api_key)),
    ("GET", "/review/admin/api-keys/{key_id:int}/revoke"): (1, "admin", _page_of(
        lambda rng, desk: f"/review/admin/api-keys/{rng.choice([1, 2, 99999])}/revoke")),
    ("POST", "/review/admin/api-keys/{key_id:int}/revoke"): (2, "admin", _post_to(
        lambda rng, desk: f"/review/admin/api-keys/{rng.choice([1, 2, 99999])}/revoke",
        _none)),
}

# What issue 19 found, first in the run, by every principal (with the form a page sends).
FOUND: list[tuple[str, str] | tuple[str, str, dict[str, str]]] = [
    ("GET", "/review/queue?assignee=%C2%B2"),
    ("GET", "/review/queue?assignee=" + "9" * 30),
    ("GET", "/review/queue?after=" + FORGED_CURSORS[0]),
    ("GET", "/review/queue?tab=decided&after=" + FORGED_CURSORS[0]),
    ("GET", "/review/queue?after=" + FORGED_CURSORS[5]),
    ("GET", "/review/queue?after=" + FORGED_CURSORS[12]),
    ("GET", f"/review/documents/{2**31}"),
    ("GET", f"/review/documents/{2**63}"),
    ("GET", "/review/documents/" + "9" * 30),
    ("GET", "/review/queue?kind=%00"),
    ("GET", "/review/queue?country=%00"),
    ("GET", "/review/queue?model=a%00b"),
    ("GET", "/review/queue?flag=%00"),
    ("GET", "/review/queue?q=%00"),
    ("GET", "/review/queue?q=a%00b%40example.com"),
    ("GET", "/review/admin/audit?to=9999-12-31"),
    ("GET", "/review/admin/audit?after=" + FORGED_CURSORS[0]),
    ("GET", "/review/admin/audit?accounts_after=" + FORGED_CURSORS[5]),
    ("GET", "/review/admin/deliveries?template=%00"),
    ("POST", "/review/admin/reviewers/" + "9" * 30 + "/deactivate"),
    ("POST", "/review/admin/deliveries/" + "9" * 30 + "/retry"),
    ("POST", "/review/admin/responses/" + "9" * 30, {
        "kind": "unlock", "action": "approve", "title": "Approved", "body": "Yes."}),
    ("GET", "/review/queue.csv?assignee=%C2%B2"),
    ("GET", "/review/queue.csv?assignee=" + "9" * 30),
    ("GET", "/review/queue.csv?kind=%00"),
    ("GET", "/review/queue.csv?q=%00"),
    ("GET", "/review/queue.csv?tab=nope"),
]


# --- one case ---------------------------------------------------------------------------


@dataclass
class Case:
    index: int
    route: str
    label: str
    raw: bytes
    export: bool = False


def _template(method: str, path: str) -> str:
    for (m, template), _ in ROUTES.items():
        pattern = re.sub(r"\\\{\w+(?::\w+)?\\\}", "[^/]+", re.escape(template))
        if m == method and re.fullmatch(pattern, path.split("?")[0]):
            return f"{m} {template}"
    return f"{method} {path.split('?')[0]}"


def _who(rng: random.Random, needs: str) -> str:
    """Mostly someone the route lets in; now and then someone it refuses."""
    allowed = PRINCIPALS[PRINCIPALS.index(needs):]
    return rng.choice(allowed) if rng.random() < 0.92 else rng.choice(PRINCIPALS)


def _raw(method: str, target: str, host: str, session: str, form: Form | None,
         rng: random.Random, *, as_sent: bool = False) -> tuple[bytes, str]:
    """The request's bytes; ``as_sent``: the form as a page sends it (CSRF, nothing
    mutated), so that the handler is reached."""
    cookie = f"support_session={session}; support_csrf={CSRF}".encode()
    if form is None:
        return request_bytes(method, target, host, [("Cookie", cookie)], b""), "get"
    how = "good" if as_sent or rng.random() < 0.9 else rng.choice(["no-token", "mismatch"])
    if how != "no-token":
        token = CSRF.encode() if how == "good" else b"G" * 43
        form.fields.insert(rng.randint(0, len(form.fields)), (b"csrf_token", token))
    mutated = "valid"
    if not as_sent and rng.random() < 0.5:
        form.fields, mutated = mutate_fields(rng, form.fields)
    shape = "urlencoded" if as_sent else rng.choice(
        ["urlencoded"] * 5 + ["multipart", "broken-multipart", "chunked"])
    boundary = b"fz" + str(rng.randrange(10**9)).encode()
    if shape == "multipart":
        content_type = b"multipart/form-data; boundary=" + boundary
        body = multipart([field_part(n, v) for n, v in form.fields], boundary)
    elif shape == "broken-multipart":
        content_type, body, way = broken_multipart(rng, form, boundary)
        shape = f"multipart:{way}"
    else:
        content_type, body = b"application/x-www-form-urlencoded", urlencoded(form.fields)
    headers = [("Cookie", cookie), ("Content-Type", content_type)]
    raw = request_bytes(method, target, host, headers, body, chunked=shape == "chunked")
    return raw, f"{shape} csrf:{how} fields:{mutated} {len(body)}B"


def build_case(index: int, desk: Desk, host: str) -> Case:
    rng = random.Random(f"desk:{SEED}:{index}")
    found = [(entry, who) for entry in FOUND for who in PRINCIPALS]
    if index < len(found):
        entry, who = found[index]
        method, target = entry[0], entry[1]
        fields = entry[2] if len(entry) == 3 else {}  # type: ignore[misc]
        form: Form | None = Form(_pairs(fields)) if method == "POST" else None
        route = _template(method, target)
    else:
        keys = list(ROUTES)
        key = rng.choices(keys, [ROUTES[k][0] for k in keys])[0]
        weight, needs, build = ROUTES[key]
        target, form = build(rng, desk)
        method, route = key[0], f"{key[0]} {key[1]}"
        who = _who(rng, needs)
    raw, how = _raw(method, target, host, desk.sessions[who], form, rng,
                    as_sent=index < len(found))
    label = f"{who} {method} {target[:160]} {how}"
    return Case(index, route, label, raw, export=".csv" in target.split("?")[0])


# --- judging an answer ------------------------------------------------------------------

HEADING = re.compile(rb"<h1[^>]*>(.*?)</h1>", re.S)
BOM = b"\xef\xbb\xbf"


def problem(case: Case, reply: Reply | str) -> str | None:
    """What is wrong with this answer, or None when it is what a person should get."""
    if isinstance(reply, str):
        return reply
    status, body, kind = reply.status, reply.body, reply.headers.get("content-type", "")
    if status >= 500:
        return f"{status}"
    if status == 303:
        return None if reply.headers.get("location", "").startswith("/") else "redirect away"
    if status == 204 and case.route.endswith("/presence/leave"):
        return None if not body else "a 204 with a body"
    if status == 201 and case.route == "POST /review/admin/api-keys":
        # A key made: the page that shows it, once.
        return None if b"not shown again" in body else "a key made without its warning"
    if status not in {200, 400, 403, 404, 409, 413, 422}:
        return f"unexpected {status}"
    if status == 200 and case.export:
        if not kind.startswith("text/csv") or not body.startswith(BOM):
            return "a 200 export that is no CSV"
        if b"EXPORT INCOMPLETE" in body or not body.endswith(b"\r\n"):
            return "an export that says it is incomplete"
        return None
    if status == 200 and case.route.endswith("{document_id:int}"):
        return None if kind.startswith(("image/", "application/pdf")) else f"document as {kind}"
    if status == 200 and case.route.endswith(("/thumbnail", "/pages/{page:int}")):
        return None if kind.startswith("image/") else f"a picture as {kind}"
    if status == 200 and case.route.endswith("/presence"):
        try:
            json.loads(body)
        except ValueError:
            return "presence that is no JSON"
        return None if kind.startswith("application/json") else f"presence as {kind}"
    if "text/html" not in kind:
        return f"{status} is not an HTML page ({kind})"
    if b"Traceback" in body or MARKER in body:
        return f"{status} shows a traceback or our script unescaped"
    heading = HEADING.search(body)
    if heading is None or not re.sub(rb"<[^>]+>|\s", b"", heading.group(1)):
        return f"{status} has no visible heading"
    return None


async def exchange(connection: Connection, case: Case) -> Reply | str:
    """The answer, or what went wrong with it. A kept-alive connection the server closed
    before answering is retried once on a fresh one; a connection cut after the answer's
    headers arrived is an answer cut short, and a failure of the run."""
    for attempt in range(2):
        reused = connection.writer is not None
        try:
            return await connection.exchange(case.raw)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            await connection.close()
            if connection.head_seen:
                return f"answer cut short after its headers ({type(exc).__name__})"
            if not reused or attempt:
                return "no answer"
    return "no answer"


# --- the run ----------------------------------------------------------------------------


def test_every_desk_route_is_fuzzed() -> None:
    """A new reviewer, lead or admin route must join the run with what it is sent."""
    desk_routes = {(method, r.path) for r in routes() if isinstance(r, Route)
                   and r.path.startswith("/review") for method in (r.methods or ())
                   if method != "HEAD"}
    signing = {("GET", "/review/login"), ("POST", "/review/login"),
               ("POST", "/review/logout")}  # test_fuzz_http.py's
    assert desk_routes - signing == set(ROUTES)


@pytest.mark.slow
async def test_ten_thousand_mutated_desk_requests_get_no_5xx(desk_server: Server) -> None:
    server = desk_server
    desk = await prepare(server)
    started, cpu = time.perf_counter(), server.cpu_seconds()
    cases = [build_case(i, desk, server.host) for i in range(max(CASES, len(FOUND) * 3))]
    built = time.perf_counter()
    failures, statuses = await run_cases(server.port, cases, CONNECTIONS, exchange,
                                          problem)
    elapsed = time.perf_counter() - built
    print(f"\ndesk fuzz: {len(cases)} requests built in {built - started:.1f} s, sent in "
          f"{elapsed:.1f} s; server CPU {server.cpu_seconds() - cpu:.1f} s; "
          f"5xx {sum(n for s, n in statuses.items() if s >= 500)}; "
          f"statuses {sorted(statuses.items())}")
    log = server.log.read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [line for line in log if re.match(r"\w[\w.]*(Error|Exception)\b", line)
              or " ERROR " in line or "Traceback" in line]
    assert not failures, f"{len(failures)} of {len(cases)} answers were wrong; statuses " \
        f"{statuses}:\n" + "\n".join(failures[:25]) + "\nThe server logged:\n" + "\n".join(
            line[:300] for line in errors[:30])
    assert not errors, "\n".join(line[:300] for line in errors[:30])
    assert {200, 303, 400, 403, 404, 409, 422} <= set(statuses), statuses  # every path met
    async with httpx2.AsyncClient(base_url=f"http://{server.host}") as http:
        http.cookies.set("support_session", desk.sessions["reviewer"])
        assert (await http.get("/review/queue")).status_code == 200  # still signed in
