"""10,000 malformed or mutated forms posted to a real server over real HTTP (issue 7).

`support serve` runs in its own process on a loopback port, so uvicorn's h11 parses every
byte as it would in production. Every POST route of the applicant site and the reviewer
sign-in gets wrong types, missing and repeated fields, huge values, broken multipart,
invalid UTF-8, other content types, bogus CSRF tokens and slightly wrong valid forms. No
answer may be a 5xx; every refusal is an HTML page that says what happened; every form
sent back shows its field errors; nothing is left in the upload folder.

Deterministic: case ``i`` is built from ``random.Random(f"{seed}:{i}")``. Set
``SUPPORT_FUZZ_CASES`` and ``SUPPORT_FUZZ_SEED`` to run more or other cases.
"""

from __future__ import annotations

import asyncio
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
from pathlib import Path
from urllib.parse import quote

import httpx2
import pyotp
import pytest
from starlette.routing import Route

from support.app import routes
from support.data.models import Event, Status
from support.platform import tokens
from tests.conftest import PDF_BYTES, free_port, jpeg_bytes
from tests.factories import make_application
from tests.fuzz_http import (
    MARKER,
    Connection,
    FilePart,
    Form,
    Reply,
    broken_multipart,
    field_part,
    file_part,
    multipart,
    mutate_fields,
    request_bytes,
    run_cases,
    urlencoded,
)
from tests.fuzz_inputs import random_valid

CASES = int(os.environ.get("SUPPORT_FUZZ_CASES", "10000"))
SEED = int(os.environ.get("SUPPORT_FUZZ_SEED", "7"))
CONNECTIONS = 6
SECRET = "fuzz-secret-" + "k" * 40
CSRF = "F" * 43  # any cookie of 32 characters or more is taken as the token
MAX_FILE, MAX_BODY = 256 * 1024, 1024 * 1024  # small limits: the limit paths cost little
JPEG = jpeg_bytes()


# --- the server -------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    data_dir: Path
    log: Path
    admin: tuple[str, str]
    pid: int = 0

    def cpu_seconds(self) -> float:
        """The server's CPU time so far: what the run costs it, whatever else the machine
        is doing (printed with -s, for tuning the run's size)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
async def server(tmp_path: Path, empty_database_url: str) -> AsyncIterator[Server]:
    port = free_port()
    data_dir = tmp_path / "data"
    env = {**os.environ, "SUPPORT_DATA_DIR": str(data_dir), "SUPPORT_DATABASE_URL": empty_database_url,
           "SUPPORT_SECRET_KEY": SECRET, "PORT": str(port), "SUPPORT_RATE_LIMITS": "0",
           "SUPPORT_MAX_FILE_BYTES": str(MAX_FILE), "SUPPORT_MAX_BODY_BYTES": str(MAX_BODY),
           "SUPPORT_WORKER_INTERVAL_MS": "100", "SUPPORT_LOG_FORMAT": "text"}
    for command in ("migrate", "bootstrap"):
        done = subprocess.run([sys.executable, "-m", "support", command], env=env,
                              capture_output=True, text=True, timeout=120, check=True)
    email = re.search(r"email:\s+(\S+)", done.stdout)
    password = re.search(r"password:\s+(\S+)", done.stdout)
    assert email and password, done.stdout
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "support", "serve"], env=env, stdout=out,
            stderr=subprocess.STDOUT)
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
        yield Server(port, data_dir, log, (email.group(1), password.group(1)), process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


# --- the applications the links and references point to ---------------------------------


@dataclass
class Targets:
    """Real references and status links, each in the state its route needs."""

    submitted: str = ""  # an unconfirmed application: verify and resend
    references: dict[str, list[str]] = field(default_factory=dict)  # role -> references
    links: dict[str, list[str]] = field(default_factory=dict)  # role -> status tokens
    phone: str = ""


# How many applications each route gets: a reply, an appeal or a withdrawal succeeds once
# per application, and until then every check behind it is reached.
ROLES = {"withdraw": 3, "reply": 8, "appeal": 4, "lookup": 1, "spare": 2}


async def _post(http: httpx2.AsyncClient, path: str, data: dict[str, str]) -> httpx2.Response:
    return await http.post(path, data={"csrf_token": CSRF, **data})


async def _code(server: Server, reference: str) -> str:
    sms = server.data_dir / "sms.log"
    for _ in range(300):
        if sms.exists():
            for line in sms.read_text(encoding="utf-8").splitlines():
                text = json.loads(line)["text"]
                found = re.search(r"Code (\d{6})", text)
                if found and reference in text:
                    return found.group(1)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no code SMS for {reference}")


async def prepare(server: Server) -> Targets:
    """Applications made the real way: submitted, confirmed, then claimed and decided by
    the bootstrap admin, so every route meets an application it can act on."""
    targets = Targets()
    async with httpx2.AsyncClient(base_url=f"http://{server.host}", timeout=30) as http:
        http.cookies.set("support_csrf", CSRF)
        roles = ["unconfirmed"] + [role for role, count in ROLES.items() for _ in range(count)]
        for n, role in enumerate(roles):
            fields = {**random_valid(random.Random(n), "unlock"), "account_id": f"612345{n:04d}",
                      "submission_token": tokens.new_submission_token(SECRET)}
            files = {"receipt": ("receipt.jpg", JPEG, "image/jpeg")}
            sent = await _post_files(http, "/apply/unlock", fields, files)
            assert sent.status_code == 303, sent.text
            targets.references.setdefault(role, []).append(sent.headers["location"].split("/")[2])
            if role == "lookup":
                targets.phone = fields["phone"]
        targets.submitted = targets.references.pop("unconfirmed")[0]
        for role, references in targets.references.items():
            for reference in references:
                confirmed = await _post(http, f"/applications/{reference}/verify",
                                        {"code": await _code(server, reference)})
                assert confirmed.status_code == 303, confirmed.text
                token = confirmed.headers["location"].split("/")[2].split("?")[0]
                targets.links.setdefault(role, []).append(token)
        email, password = server.admin
        signed = await _post(http, "/review/login", {"email": email, "password": password})
        assert signed.status_code == 303, signed.text
        # The bootstrap admin has no second factor yet: the desk asks for one first.
        assert signed.headers["location"].startswith("/review/account/two-factor")
        enrolment = await http.get("/review/account/two-factor")
        secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', enrolment.text)
        assert secret, enrolment.text
        enrolled = await _post(http, "/review/account/two-factor",
                               {"code": pyotp.TOTP(secret.group(1)).now()})
        assert enrolled.status_code == 200 and "recovery-codes" in enrolled.text, enrolled.text
        for role, decision in [("reply", {"action": "request_info", "items": "receipt"}),
                               ("appeal", {"action": "reject", "reason_code": "other"})]:
            for reference in targets.references[role]:
                base = f"/review/applications/{reference}"
                assert (await _post(http, f"{base}/claim", {})).status_code == 303
                page = (await http.get(base)).text
                seen = re.search(r'name="seen" value="(\d+)"', page)
                assert seen, page[:2000]
                decided = await _post(http, f"{base}/decide", {
                    "message": "Send it.", "seen": seen.group(1), **decision})
                assert decided.status_code == 303, decided.text
    return targets


async def _post_files(http: httpx2.AsyncClient, path: str, fields: dict[str, str],
                      files: dict[str, tuple[str, bytes, str]]) -> httpx2.Response:
    return await http.post(path, data={"csrf_token": CSRF, **fields}, files=files)


# --- the routes and their valid forms ---------------------------------------------------

Builder = Callable[[random.Random, Targets], tuple[str, Form]]


def _pairs(values: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in values.items()]


def _receipt(rng: random.Random) -> FilePart:
    content, name, declared = rng.choice([
        (JPEG, b"receipt.jpg", b"image/jpeg"), (PDF_BYTES, b"receipt.pdf", b"application/pdf"),
        (JPEG[: len(JPEG) // 2], b"cut.jpg", b"image/jpeg"), (b"", b"", b"application/octet-stream"),
        (b"MZ\x90\x00 not a photo", b"receipt.jpg", b"image/jpeg"),
        (b"<html><script>x</script>", b"receipt.html", b"text/html"),
    ])
    return FilePart(b"receipt", name, declared, content)


def _bogus(rng: random.Random, real: str, *, typed_by_hand: bool = False) -> str:
    """The real reference or link (a reference maybe as typed from an SMS), cut short, or
    not ours at all (percent-escaped for the request line: "%00" and "%FF" arrive decoded)."""
    if rng.random() < 0.75:
        typed = rng.choice([real, real, real.lower(), real.replace("-", " ")]) \
            if typed_by_hand else real
    else:
        typed = rng.choice(["NOPE", real + "%00", "%FF%FE", "x" * 300, real[:-1],
                            "..%2F..%2Fetc", "१२" + real])
    return quote(typed, safe="%-._~")


def _apply(rng: random.Random, targets: Targets) -> tuple[str, Form]:
    kind = rng.choice(["unlock"] * 5 + ["recovery"] * 5 + ["appeal", "nope%00"])
    fields = random_valid(rng, "recovery" if kind == "recovery" else "unlock")
    token = rng.choice([tokens.new_submission_token(SECRET)] * 6
                       + [tokens.new_submission_token(SECRET, now=1.0), "a.b.c", ""])
    files = [_receipt(rng)]
    if kind == "recovery" and rng.random() < 0.5:
        files.append(FilePart(b"box_photo", b"box.png", b"image/png", JPEG))
    return f"/apply/{kind}", Form(_pairs({**fields, "submission_token": token}), files)


def _verify(rng: random.Random, targets: Targets) -> tuple[str, Form]:
    code = rng.choice([f"{rng.randrange(10**6):06d}", "12 34 56", "१२३४५६", "", "1" * 50])
    return f"/applications/{_bogus(rng, targets.submitted, typed_by_hand=True)}/verify", Form(_pairs({"code": code}))


def _resend(rng: random.Random, targets: Targets) -> tuple[str, Form]:
    reference = _bogus(rng, targets.submitted, typed_by_hand=True)
    return f"/applications/{reference}/verify/resend", Form()


def _lookup(rng: random.Random, targets: Targets) -> tuple[str, Form]:
    reference = _bogus(rng, targets.references["lookup"][0], typed_by_hand=True)
    contact = rng.choice([targets.phone, "asha@example.com", "+91 98765 43210", "nobody"])
    return "/status", Form(_pairs({"reference": reference, "contact": contact}))


def _by_link(name: str, action: str, fields: Callable[[random.Random], dict[str, str]],
             files: bool = False) -> Builder:
    def build(rng: random.Random, targets: Targets) -> tuple[str, Form]:
        token = _bogus(rng, rng.choice(targets.links[name]))
        form = Form(_pairs(fields(rng)), [_receipt(rng)] if files and rng.random() < 0.6 else [])
        return f"/status/{token}/{action}", form
    return build


def _appeal_fields(rng: random.Random) -> dict[str, str]:
    values = random_valid(rng, "unlock")
    return {name: values[name] for name in
            ("account_id", "country", "phone", "email", "model", "firmware", "reason")}


def _login(rng: random.Random, targets: Targets) -> tuple[str, Form]:
    email = rng.choice(["admin@example.com", "nobody@example.com", "", "a@b"])
    password = rng.choice(["", "wrong password here", "x" * 20])
    next_path = rng.choice(["", "/review/queue", "//evil.example", "https://evil.example/"])
    return "/review/login", Form(_pairs({"email": email, "password": password,
                                         "next": next_path}))


ROUTES: dict[str, tuple[int, Builder]] = {
    "/apply/{kind}": (30, _apply),
    "/applications/{reference}/verify": (10, _verify),
    "/applications/{reference}/verify/resend": (5, _resend),
    "/status": (8, _lookup),
    "/status/{token}/withdraw": (5, _by_link("withdraw", "withdraw", lambda rng: {})),
    "/status/{token}/erase": (3, _by_link("spare", "erase", lambda rng: {})),
    "/status/{token}/reply": (12, _by_link("reply", "reply", lambda rng: {
        "message": rng.choice(["Here is the receipt you asked for.", "short", "x" * 2001])},
        files=True)),
    "/status/{token}/appeal": (12, _by_link("appeal", "appeal", _appeal_fields)),
    "/status/{token}/email": (6, _by_link("spare", "email", lambda rng: {"email": rng.choice(
        ["new@example.org", "bad address", "", "x" * 300 + "@a.b"])})),
    "/status/{token}/email/confirm": (4, _by_link("spare", "email/confirm", lambda rng: {
        "code": rng.choice(["123456", "12", "", "١٢٣٤٥٦"])})),
    "/status/{token}/email/resend": (2, _by_link("spare", "email/resend", lambda rng: {})),
    "/review/login": (4, _login),
    "/review/logout": (2, lambda rng, targets: ("/review/logout", Form())),
}
SUCCESS_PAGES = {"/status", "/applications/{reference}/verify/resend",  # 200 without errors
                 "/status/{token}/email/resend"}


# --- one case ---------------------------------------------------------------------------


@dataclass
class Case:
    index: int
    route: str
    label: str
    raw: bytes
    oversize: bool = False


def _csrf(rng: random.Random) -> tuple[str, bytes | None, list[tuple[str, bytes]], str]:
    """(cookie, form token or None, extra headers, label) for one way of sending CSRF."""
    how = rng.choice(["good"] * 8 + ["no-cookie", "no-token", "mismatch", "short", "odd",
                                     "cross-site", "evil-origin", "null-origin"])
    token = CSRF.encode()
    cookie, extra = CSRF, []
    if how == "no-cookie":
        cookie = ""
    elif how == "no-token":
        return cookie, None, extra, how
    elif how == "mismatch":
        token = b"G" * 43
    elif how == "short":  # too short to be ours: the server sets a new one instead
        cookie, token = "abc", b"abc"
    elif how == "odd":
        token = rng.choice([b"\xff" * 43, "\u202e".encode() * 20, b"F" * 100_000, b""])
    elif how == "cross-site":
        extra = [("Sec-Fetch-Site", b"cross-site")]
    elif how == "evil-origin":
        extra = [("Origin", b"http://evil.example")]
    elif how == "null-origin":
        extra = [("Origin", b"null")]
    return cookie, token, extra, how


def build_case(index: int, targets: Targets, host: str) -> Case:
    rng = random.Random(f"{SEED}:{index}")
    routes_, weights = zip(*[(r, w) for r, (w, _) in ROUTES.items()], strict=True)
    route = rng.choices(routes_, weights)[0]
    path, form = ROUTES[route][1](rng, targets)
    cookie, csrf_token, headers, csrf_how = _csrf(rng)
    if csrf_token is not None:
        form.fields.insert(rng.randint(0, len(form.fields)), (b"csrf_token", csrf_token))
    mutated = "valid"
    if rng.random() < 0.6:
        form.fields, mutated = mutate_fields(rng, form.fields)
    shape = rng.choice(["urlencoded", "multipart", "multipart", "broken-multipart",
                        "wrong-type", "chunked"])
    boundary = b"fz" + str(rng.randrange(10**9)).encode()
    if shape in {"urlencoded", "chunked"} and not form.files:
        content_type, body = b"application/x-www-form-urlencoded", urlencoded(form.fields)
    elif shape == "broken-multipart":
        content_type, body, how = broken_multipart(rng, form, boundary)
        shape = f"multipart:{how}"
    elif shape == "wrong-type":
        content_type, body = rng.choice([
            (b"text/plain", urlencoded(form.fields)), (b"application/json", b'{"a": 1}'),
            (b"application/xml", b"<a/>"), (b"multipart/mixed; boundary=x", b"--x--"),
            (b"application/x-www-form-urlencoded; charset=utf-16",
             urlencoded(form.fields).decode().encode("utf-16")),
            (b"\xff\xfe/\xff", b"a=b"), (b"", b"a=b"), (b"form", b""),
        ])
    else:
        parts = [field_part(n, v) for n, v in form.fields] + [file_part(f) for f in form.files]
        content_type, body = b"multipart/form-data; boundary=" + boundary, multipart(
            parts, boundary)
    if rng.random() < 0.05:
        headers.append(("Accept-Language", rng.choice([b"*;q=nan", b"hi;q=inf, ru;q=-1",
                                                       b"x" * 4000, b"\xff\xfe", b"mr-IN"])))
    if rng.random() < 0.03:
        body += b"\x00" * (MAX_BODY + 1)  # past the body limit
    if rng.random() < 0.03:
        path += rng.choice(["?lang=hi", "?lang=%FF", "?lang=" + "x" * 500, "?welcome=1&lang=ru"])
    all_headers = [("Cookie", f"support_csrf={cookie}; support_lang=xx".encode()),
                   *([("Content-Type", content_type)] if content_type else []), *headers]
    raw = request_bytes("POST", path, host, all_headers, body, chunked=shape == "chunked")
    label = f"{route} {shape} csrf:{csrf_how} fields:{mutated} {len(body)}B"
    return Case(index, route, label, raw, oversize=len(body) > MAX_BODY)


# --- judging an answer ------------------------------------------------------------------

HEADING = re.compile(rb"<h1[^>]*>(.*?)</h1>", re.S)
FIELD_ERRORS = (b'class="error-summary"', b'class="error"')
NOTICE = b'class="notice" role="status"'  # "this form was open too long": nothing to fix


def problem(case: Case, reply: Reply | None) -> str | None:
    """What is wrong with this answer, or None when it is what a person should get."""
    if reply is None:
        return None if case.oversize else "no answer"
    status, body = reply.status, reply.body
    if status >= 500:
        return f"{status}"
    if status == 303:
        return None if reply.headers.get("location", "").startswith("/") else "redirect away"
    if status not in {200, 400, 403, 404, 409, 413, 422, 429}:
        return f"unexpected {status}"
    if "text/html" not in reply.headers.get("content-type", ""):
        return f"{status} is not an HTML page"
    if b"Traceback" in body or MARKER in body:
        return f"{status} shows a traceback or our script unescaped"
    heading = HEADING.search(body)
    if heading is None or not re.sub(rb"<[^>]+>|\s", b"", heading.group(1)):
        return f"{status} has no visible heading"
    shows_errors = any(marker in body for marker in FIELD_ERRORS)
    if status == 422 and not shows_errors and NOTICE not in body:
        return "422 form without its field errors"
    if status == 200 and not shows_errors and case.route not in SUCCESS_PAGES:
        return "200 form without field errors"
    if status not in {200, 422} and len(re.sub(rb"<[^>]+>", b"", body).strip()) < 40:
        return f"{status} page says nothing"
    return None


async def exchange(connection: Connection, case: Case) -> Reply | None:
    """The answer, or None when the server cut the connection without one. A kept-alive
    connection the server closed after the previous answer (uvicorn does after a 500, or
    when idle) is retried once on a fresh one, as browsers do."""
    for attempt in range(2):
        reused = connection.writer is not None
        try:
            return await connection.exchange(case.raw)
        except (ConnectionError, asyncio.IncompleteReadError):
            await connection.close()
            if not reused or attempt:
                return None
    return None


# --- the run ----------------------------------------------------------------------------


def test_every_applicant_post_route_is_fuzzed() -> None:
    """A new form an applicant can post must join the run with its valid fields."""
    posted = {r.path for r in routes() if isinstance(r, Route) and "POST" in (r.methods or ())
              and not r.path.startswith("/review/")}
    assert posted | {"/review/login", "/review/logout"} == set(ROUTES)


@pytest.mark.slow
async def test_ten_thousand_broken_forms_get_readable_answers(server: Server) -> None:
    targets = await prepare(server)
    started, cpu = time.perf_counter(), server.cpu_seconds()
    cases = [build_case(i, targets, server.host) for i in range(CASES)]
    built = time.perf_counter()
    failures, statuses = await run_cases(server.port, cases, CONNECTIONS, exchange,
                                          problem)
    print(f"\nfuzz: {CASES} cases built in {built - started:.1f} s, sent in "
          f"{time.perf_counter() - built:.1f} s; server CPU {server.cpu_seconds() - cpu:.1f} s; "
          f"statuses {sorted(statuses.items())}")
    log = server.log.read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [line for line in log if re.match(r"\w[\w.]*(Error|Exception)\b", line)
              or " ERROR " in line]
    assert not failures, f"{len(failures)} of {CASES} answers were wrong; statuses {statuses}:\n" \
        + "\n".join(failures[:25]) + "\nThe server logged:\n" + "\n".join(
            line[:300] for line in errors[:30])
    assert not errors, "\n".join(line[:300] for line in errors[:30])
    assert statuses[0] <= sum(case.oversize for case in cases), statuses  # only cut-off uploads
    assert {303, 400, 403, 404, 409, 413, 422} <= set(statuses), statuses  # every path was met
    leftovers = list((server.data_dir / "tmp").glob("*")) if (server.data_dir / "tmp").exists() \
        else []
    assert not leftovers, f"{len(leftovers)} uploads left in tmp/"
    async with httpx2.AsyncClient(base_url=f"http://{server.host}") as http:
        assert (await http.get("/healthz")).status_code == 200


# --- what the run found, kept as quick regression tests ---------------------------------


async def test_nul_in_a_form_is_kept_as_a_replacement_character(desk) -> None:
    """PostgreSQL cannot store NUL in text: a note with one was a 500 page there."""
    signed = await desk.reviewer()
    held = await make_application(status=Status.IN_REVIEW, assignee=signed.reviewer)
    noted = await signed.post(f"/review/applications/{held.reference}/notes",
                              {"note": "Receipt\x00 checked."})
    assert noted.status_code == 303
    note = await Event.get(application_id=held.id, type="note")
    assert note.message == "Receipt\ufffd checked."


@pytest.mark.parametrize("reference", ["x" * 300, "UL-AAAA-BBBB%00", "%FF%FE"])
async def test_a_reference_that_cannot_be_ours_is_not_found(applicant, desk, reference) -> None:
    """A reference longer than the column failed its length check (a 500 page), and one with
    NUL failed on PostgreSQL; both are simply not ours."""
    for path in (f"/applications/{reference}/verify", f"/applications/{reference}/verify/resend"):
        answer = await applicant.post_form(path, {"code": "123456"})
        assert answer.status_code == 404, path
        assert "<h1" in answer.text
    looked_up = await applicant.post_form("/status", {"reference": reference,
                                                      "contact": "+91 98765 43210"})
    assert looked_up.status_code == 200  # the same page whatever was typed
    signed = await desk.reviewer()
    assert (await signed.get(f"/review/applications/{reference}")).status_code == 404


async def _raw_post(client, path: str, content_type: bytes, body: bytes):
    await client.get("/")
    token = client.cookies["support_csrf"].encode()
    return await client.post(path, content=body.replace(b"TOKEN", token),
                             headers={"content-type": content_type.decode("latin-1")})


async def test_a_boundary_longer_than_any_browser_writes_is_a_readable_400(client) -> None:
    boundary = b"b" * 300
    body = multipart([field_part(b"csrf_token", b"TOKEN")], boundary)
    answer = await _raw_post(client, "/status", b"multipart/form-data; boundary=" + boundary,
                             body)
    assert answer.status_code == 400
    assert "We could not read that form" in answer.text


async def test_a_multipart_body_cut_short_is_a_400_and_leaves_no_file(client, settings) -> None:
    upload = FilePart(b"receipt", b"receipt.jpg", b"image/jpeg", JPEG)
    body = multipart([field_part(b"csrf_token", b"TOKEN"), file_part(upload)], b"cut")
    answer = await _raw_post(client, "/apply/unlock", b"multipart/form-data; boundary=cut",
                             body[: len(body) - 40])
    assert answer.status_code == 400
    assert "We could not read that form" in answer.text
    assert not list(settings.upload_tmp_dir.glob("*"))


async def test_a_reply_when_none_is_awaited_is_refused_with_the_reason(applicant, outbox) -> None:
    """It used to be checked as an answer first: a 422 page whose error had no form to sit
    next to (the form is shown only while an answer is awaited)."""
    status_path = await applicant.apply_and_verify(outbox)
    answer = await applicant.post_form(f"{status_path}/reply", {"message": "short"})
    assert answer.status_code == 409
    assert "This application is waiting for a reviewer, so that cannot be done now." \
        in answer.text


@pytest.mark.parametrize("reviewer_id", ["abc", "9" * 30, "²"])
async def test_reassigning_to_a_reviewer_id_that_is_no_number_is_404(desk, reviewer_id) -> None:
    lead = await desk.reviewer(role="lead")
    held = await make_application(status=Status.IN_REVIEW, assignee=lead.reviewer)
    answer = await lead.post(f"/review/applications/{held.reference}/reassign",
                             {"reviewer_id": reviewer_id})
    assert answer.status_code == 404
