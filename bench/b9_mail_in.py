"""B9: mail coming in over LMTP (issue 23): replies taken into applications, and the memory
of the receiver under one large message.

``support mail-in`` runs as its own process (as docs/deploy.md runs it, behind the mail
server), on a fresh database and data dir of its own, after ``support migrate``. The
applications waiting for a receipt are written into the database first (the rows
tests/factories.py makes, in NEEDS_INFO with ``{"items": ["receipt"]}``). This process is
the mail server: the standard library's ``smtplib.LMTP``, a real client.

(a) ``--messages`` Gmail-shaped replies (tests/mail_helpers.py), each from an application's
    email to its signed reply address (``support+TOKEN@…``), each with its own photo: a
    real JPEG of about 200 KB (Pillow noise, unique by a comment). ``--clients`` threads,
    each with its own LMTP connections, ``--per-connection`` messages on each. Measured:
    messages taken per second, p50/p99 of one delivery (MAIL to the 250 after DATA), the
    receiver's RSS (VmRSS every 50 ms, and the kernel's own peak, VmHWM). Then the database
    is counted against the 250 answers: one ``reply`` event by email, one document (its
    bytes in the spool, as sent) and the reply's own words, for every application; nothing
    lost, nothing doubled.
(b) one message of ``--big-mib`` MiB, delivered alone, twice: with one photo over the 10 MiB
    document limit (never decoded; the text still answers), and with two photos just
    under it (decoded, checked, spooled). RSS before, peak and after; the issue's target
    is that the message raises RSS by no more than its size once (peak − before ≤ its
    size). Meanwhile a second connection sends NOOP every 20 ms: how long the listener
    stops answering.
(c) where the memory goes: the same large messages taken by the same code in a child
    process under ``tracemalloc``, the peak of each stage (aiosmtpd's DATA, the email
    parser's steps, the rest of the reading, the taking) measured in place. Only this
    child wraps functions, and only to measure them; support/ is unchanged.

    .venv/bin/python bench/b9_mail_in.py [--db sqlite|postgres|both] [--messages 250]
                                         [--clients 8] [--per-connection 8] [--seed 3000]
                                         [--big-mib 25] [--no-trace] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import random
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.b4_uploads import noise_jpeg, with_comment  # noqa: E402
from bench.harness import (  # noqa: E402
    BIN,
    SECRET,
    RssSampler,
    code_state,
    drop_database,
    free_port,
    load_average,
    migrate,
    new_database,
    percentile,
    rss_kb,
    support_env,
    wait_for,
)
from bench.machine import describe, record  # noqa: E402

MIB = 1024 * 1024
DESK = "support@desk.example"
DESK_FROM = f"Support desk <{DESK}>"
PHOTO_BYTES = 200_000
ASKED = "Please send a clearer photo of the receipt."
# The reply's own words; the quote of our request below them must not be kept (reply_text).
WORDS = "Here is the receipt again, photographed in daylight. Order {n}."


# --- the receiver's memory ------------------------------------------------------------

class FastRss(RssSampler):
    """``RssSampler`` at 50 ms: a 25 MB message is read and dropped within a second."""

    interval = 0.05


def reset_peak(pid: int) -> None:
    """Start the kernel's own peak (VmHWM) again from the current RSS (clear_refs 5): it
    sees a spike that a 50 ms sample can miss."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def settle(pid: int, seconds: float = 2.0) -> int:
    """The RSS once the receiver has been idle a moment (what it keeps)."""
    time.sleep(seconds)
    return rss_kb(pid)


# --- the applications and their mail ---------------------------------------------------

async def seed(url: str, count: int) -> list[tuple[str, str]]:
    """``count`` confirmed applications waiting for a receipt, as tests/factories.py makes
    them, in bulk: (reference, email) of each."""
    from support.data import db
    from support.data.models import Application, Status
    from support.platform import tokens
    from support.rules.kinds import KINDS

    await db.init(url)
    try:
        now = datetime.now(UTC)
        rows = []
        for n in range(1, count + 1):
            kind = "unlock"
            phone = f"+9198{n:08d}"
            rows.append(Application(
                reference=tokens.new_reference(KINDS[kind].prefix), kind=kind,
                status=Status.NEEDS_INFO, account_id=f"6{n:09d}", country="IN", phone=phone,
                phone_reversed=phone[::-1], email=f"owner{n}@example.com",
                imei=f"35{n:013d}", model="Redmi Note 10 Pro", firmware="21.3.17",
                firmware_channel="developer",
                reason="I develop a custom kernel for this phone and need to flash test builds.",
                priority=KINDS[kind].priority, submission_key=f"bench-b9-{n:08d}",
                verified_at=now - timedelta(days=2), due_at=now + timedelta(days=1),
                info_request={"items": ["receipt"], "message": ASKED, "reviewer_id": None},
                info_requested_at=now - timedelta(days=1)))
        await Application.bulk_create(rows, batch_size=500)
        return [(row.reference, row.email) for row in rows]
    finally:
        await db.close()


def seed_in_child(url: str, count: int) -> list[tuple[str, str]]:
    """``seed`` in a process of its own: Tortoise keeps the first database's SQL (SQLite's
    ``?`` placeholders) for a model, so one process cannot seed SQLite, then PostgreSQL."""
    out = subprocess.run([sys.executable, __file__, "--seed-into", url, "--seed", str(count)],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{out.stderr[-3000:]}")
    return [(ref, email) for ref, email in json.loads(out.stdout.strip().splitlines()[-1])]


@dataclass
class Mail:
    reference: str
    sender: str
    recipient: str
    raw: bytes
    words: str
    photos: list[str]  # sha256 of each photo attached


def reply_address(reference: str) -> str:
    from support.platform import tokens

    return tokens.plus_address(DESK, tokens.reply_token(SECRET, reference))


def ours(reference: str, n: int) -> EmailMessage:
    """The request for information the applicant answers, as the outbox writes it."""
    message = EmailMessage()
    message["From"] = DESK_FROM
    message["Reply-To"] = f"Support desk <{reply_address(reference)}>"
    message["Subject"] = f"More information needed for {reference}"
    message["Message-ID"] = f"<{reference}.info_requested.{n}.email@desk.example>"
    return message


def reply(reference: str, email: str, n: int, photos: list[bytes]) -> Mail:
    from tests.mail_helpers import gmail_reply, wire

    words = WORDS.format(n=n)
    raw = gmail_reply(ours(reference, n), email, words, photos[0] if photos else None)
    if len(photos) > 1:
        from email import message_from_bytes, policy

        message = message_from_bytes(raw, policy=policy.default)
        for extra in photos[1:]:
            message.add_attachment(extra, maintype="image", subtype="jpeg",
                                   filename="IMG_2042.jpg")
        raw = wire(message)
    return Mail(reference, email, reply_address(reference), raw, words,
                [hashlib.sha256(p).hexdigest() for p in photos])


def small_replies(apps: list[tuple[str, str]], photo: bytes) -> list[Mail]:
    return [reply(reference, email, n, [with_comment(photo, f"b9 reply {n}")])
            for n, (reference, email) in enumerate(apps)]


def over_limit_photo(size: int) -> bytes:
    """A phone's large photo as far as the desk looks at it: a JPEG's markers around
    random bytes. Over the document limit, it is never decoded nor checked."""
    body = random.Random(11).randbytes(size - 6)
    return b"\xff\xd8\xff\xe0" + body + b"\xff\xd9"


def big_replies(apps: list[tuple[str, str]], big: int, work: Path) -> list[tuple[str, Mail]]:
    """Two messages of ``big`` bytes on the wire: one photo over the document limit, and
    two photos just under it. Base64 on 76-character lines: 78 wire bytes for 57."""
    room = big - 4000  # headers, the text and HTML parts, boundaries
    one = over_limit_photo(room * 57 // 78)
    size, _, _ = noise_jpeg(work / "half.jpg", room // 2 * 57 // 78)
    half = (work / "half.jpg").read_bytes()
    two = [with_comment(half, "b9 big 1"), with_comment(half, "b9 big 2")]
    (ref_a, email_a), (ref_b, email_b) = apps
    return [(f"one {len(one) / MIB:.1f} MiB photo (over the limit)",
             reply(ref_a, email_a, 90001, [one])),
            (f"two {size / MIB:.1f} MiB photos (decoded, checked, spooled)",
             reply(ref_b, email_b, 90002, two))]


# --- delivering -----------------------------------------------------------------------

@dataclass
class Delivery:
    reference: str
    seconds: float
    taken: bool
    error: str = ""


def client(port: int, batch: list[Mail], per_connection: int, start: threading.Barrier,
           out: list[Delivery]) -> None:
    """One mail server's delivery agent: a connection, ``per_connection`` messages on it,
    then the next connection."""
    start.wait()
    for at in range(0, len(batch), per_connection):
        with smtplib.LMTP("127.0.0.1", port, timeout=120) as lmtp:
            for mail in batch[at:at + per_connection]:
                began = time.perf_counter()
                try:
                    refused = lmtp.sendmail(mail.sender, [mail.recipient], mail.raw)
                    out.append(Delivery(mail.reference, time.perf_counter() - began,
                                        not refused, str(refused) if refused else ""))
                except smtplib.SMTPException as error:
                    out.append(Delivery(mail.reference, time.perf_counter() - began, False,
                                        f"{type(error).__name__}: {error}"[:200]))


def deliver_all(port: int, mails: list[Mail], clients: int,
                per_connection: int) -> tuple[list[Delivery], float]:
    out: list[Delivery] = []
    start = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=client, args=(port, mails[k::clients], per_connection,
                                                     start, out)) for k in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    return out, time.monotonic() - began


@dataclass
class Prober:
    """NOOP every 20 ms on a connection of its own: how long the listener keeps another
    delivery waiting while it takes a large message."""

    port: int
    latencies: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with smtplib.LMTP("127.0.0.1", self.port, timeout=120) as lmtp:
            lmtp.ehlo_or_helo_if_needed()
            self._ready.set()
            while not self._stop.is_set():
                began = time.perf_counter()
                lmtp.noop()
                self.latencies.append(time.perf_counter() - began)
                time.sleep(0.02)

    def __enter__(self) -> Prober:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join(30)


# --- counting what was taken ------------------------------------------------------------

def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite://"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite://"))) as conn:
            return list(conn.execute(sql).fetchall())

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(run())


def quoted(references: list[str]) -> str:
    return ", ".join(f"'{r}'" for r in references)  # our own references: [A-Z0-9-] only


def count_taken(url: str, env: dict[str, str], mails: list[Mail]) -> dict[str, Any]:
    """Every answer in the database, once: its reply event by email with its words, its
    document with the bytes sent (read back from the spool), the application queued."""
    from support.config import Settings
    from support.documents.store import DocumentStore

    refs = quoted([m.reference for m in mails])
    replies = query(url, "SELECT a.reference, e.message FROM event e JOIN application a ON "
                         f"a.id = e.application_id WHERE e.type = 'reply' AND e.via = 'email' "
                         f"AND a.reference IN ({refs})")
    documents = query(url, "SELECT a.reference, d.sha256, d.storage_key, d.spooled FROM "
                           "document d JOIN application a ON a.id = d.application_id WHERE "
                           f"a.reference IN ({refs})")
    queued = query(url, f"SELECT count(*) FROM application WHERE reference IN ({refs}) AND "
                        "status = 'queued'")[0][0]
    outcomes = dict(query(url, "SELECT outcome, count(*) FROM inbound_mail GROUP BY outcome"))
    store = DocumentStore.of(Settings.from_env(env))
    expected = {m.reference: m for m in mails}
    words_kept = sum(expected[ref].words == message for ref, message in replies)
    sent = {(m.reference, sha) for m in mails for sha in m.photos}
    stored_ok = 0
    for ref, sha, key, spooled in documents:
        source = store.source(key, spooled)
        data = source if isinstance(source, bytes) else source.read_bytes()
        stored_ok += (ref, sha) in sent and hashlib.sha256(data).hexdigest() == sha
    return {"replies": len(replies), "reply_apps": len({r for r, _ in replies}),
            "documents": len(documents), "document_apps": len({r for r, *_ in documents}),
            "stored_ok": stored_ok, "photos_sent": len(sent), "words_kept": words_kept,
            "queued": int(queued), "outcomes": outcomes}


# --- one database ----------------------------------------------------------------------

def start_receiver(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen([str(BIN / "support"), "mail-in", "--host", "127.0.0.1",
                                    "--port", str(port)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    wait_for(port, process)
    return process


async def run_database(kind: str, args: argparse.Namespace, photo: bytes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-b9-{kind}-") as tmp:
        work = Path(tmp)
        url = await new_database(kind, work, "b9")
        process: subprocess.Popen[bytes] | None = None
        try:
            port = free_port()
            env = support_env(url, work / "data", 0, SUPPORT_EMAIL_REPLIES="1",
                              SUPPORT_EMAIL_FROM=DESK_FROM)
            migrate(env)
            began = time.monotonic()
            apps = await asyncio.to_thread(seed_in_child, url, args.seed)
            seeded_s = time.monotonic() - began
            chosen = random.Random(9).sample(apps, args.messages + 2)
            mails = small_replies(chosen[:args.messages], photo)
            bigs = big_replies(chosen[args.messages:], args.big_mib * MIB, work)
            average = sum(len(m.raw) for m in mails) / len(mails) / 1024
            print(f"B9 {kind}: {args.seed:,} applications seeded in {seeded_s:.1f} s; "
                  f"{len(mails)} replies of {average:.0f} KB on the wire", flush=True)
            process = start_receiver(env, port, work / "mail-in.log")
            result = await asyncio.to_thread(measure, kind, args, process.pid, port, env, url,
                                             mails, bigs)
            result["seeded_s"] = seeded_s
            return result
        except BaseException:
            log = work / "mail-in.log"
            if log.exists():
                print("--- mail-in.log (last lines)\n" + "\n".join(
                    log.read_text(errors="replace").splitlines()[-30:]), file=sys.stderr)
            raise
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
            await drop_database(url)


def measure(kind: str, args: argparse.Namespace, pid: int, port: int, env: dict[str, str],
            url: str, mails: list[Mail], bigs: list[tuple[str, Mail]]) -> dict[str, Any]:
    before = settle(pid, 1.0)
    load = load_average(minutes=1)
    reset_peak(pid)
    with FastRss(pid) as rss:
        deliveries, seconds = deliver_all(port, mails, args.clients, args.per_connection)
    peak_hwm = hwm_kb(pid)
    after = settle(pid)
    taken = [d for d in deliveries if d.taken]
    times = [d.seconds * 1000 for d in deliveries]
    counted = count_taken(url, env, mails)
    result: dict[str, Any] = {
        "db": kind, "messages": len(mails), "answers": len(taken),
        "errors": sorted({d.error for d in deliveries if not d.taken})[:3],
        "rate": len(taken) / seconds, "seconds": seconds,
        "p50": percentile(times, 0.50), "p99": percentile(times, 0.99), "max": max(times),
        "rss_before": before / 1024, "rss_peak": rss.peak_kb / 1024,
        "rss_hwm": peak_hwm / 1024, "rss_after": after / 1024,
        "cpu_ms": rss.cpu_used * 1000 / max(len(taken), 1), "waited": rss.cpu_wait_share,
        "load": load, "counted": counted, "big": [],
    }
    print(f"  {len(taken)}/{len(mails)} answered 250 in {seconds:.1f} s: {result['rate']:.1f}/s,"
          f" p50 {result['p50']:.0f} ms, p99 {result['p99']:.0f} ms; RSS {before / 1024:.1f} →"
          f" peak {rss.peak_kb / 1024:.1f} (VmHWM {peak_hwm / 1024:.1f}) → "
          f"{after / 1024:.1f} MB; {counted}", flush=True)
    for label, mail in bigs:
        result["big"].append(big_delivery(pid, port, url, label, mail))
    return result


def big_delivery(pid: int, port: int, url: str, label: str, mail: Mail) -> dict[str, Any]:
    before = settle(pid, 1.0)
    reset_peak(pid)
    with Prober(port) as prober, FastRss(pid) as rss:
        time.sleep(0.2)  # a few NOOPs first: the listener's answer when idle
        idle = list(prober.latencies)
        out: list[Delivery] = []
        client(port, [mail], 1, threading.Barrier(1), out)
        time.sleep(0.2)
    peak_hwm = hwm_kb(pid)
    after = settle(pid)
    refs = quoted([mail.reference])
    row = query(url, "SELECT m.outcome, m.documents, m.detail, m.size FROM inbound_mail m JOIN "
                     f"application a ON a.id = m.application_id WHERE a.reference IN ({refs})")
    found = {"before": before / 1024, "peak": rss.peak_kb / 1024, "hwm": peak_hwm / 1024,
             "after": after / 1024, "size": len(mail.raw) / MIB, "label": label,
             "seconds": out[0].seconds, "taken": out[0].taken, "error": out[0].error,
             "noop_idle_ms": max(idle, default=0) * 1000,
             "noop_max_ms": max(prober.latencies, default=0) * 1000,
             "row": row[0] if row else None}
    print(f"  {found['size']:.1f} MiB, {label}: {found['seconds']:.2f} s, RSS "
          f"{found['before']:.1f} → peak {found['peak']:.1f} (VmHWM {found['hwm']:.1f}) → "
          f"{found['after']:.1f} MB, NOOP max {found['noop_max_ms']:.0f} ms; {found['row']}",
          flush=True)
    return found


# --- (c) where the memory goes: a child under tracemalloc -------------------------------

STAGES = ("aiosmtpd DATA: the lines, then their join", "lmtp_key: sha256 of the message",
          "parser: bytes decoded to str", "parser: StringIO(str), first read",
          "parser: FeedParser fed 8 KB at a time", "parser: done, str and StringIO dropped",
          "reading the parts (base64 decoded here)", "taking: threading, checks, spool, rows",
          "answered: the message dropped", "then gc.collect(): what only a cycle held")


class Trace:
    """Stage by stage, the peak of traced memory above what was held before the message
    arrived (``tracemalloc.reset_peak`` at each stage's start), and the stage's seconds."""

    def __init__(self) -> None:
        import tracemalloc

        self.tm = tracemalloc
        self.base = 0
        self.rows: list[tuple[str, float, float, float, float]] = []
        self._stage = ""
        self._start = 0
        self._began = 0.0

    def begin(self) -> None:
        self.rows.clear()
        self.base = self.tm.get_traced_memory()[0]

    def stage(self, name: str) -> None:
        self.end()
        self._stage = name
        self._start = self.tm.get_traced_memory()[0]
        self._began = time.perf_counter()
        self.tm.reset_peak()

    def end(self) -> None:
        if self._stage:
            current, peak = self.tm.get_traced_memory()
            self.rows.append((self._stage, (self._start - self.base) / MIB,
                              (peak - self.base) / MIB, (current - self.base) / MIB,
                              time.perf_counter() - self._began))
            self._stage = ""


def install_probes(trace: Trace) -> None:
    """Wrap, in this child only, the functions a message passes through, to mark stages.
    The parser is run as ``email.message_from_bytes`` runs it (BytesParser.parsebytes:
    decode; Parser.parsestr: StringIO; Parser.parse: 8 KB reads fed to a FeedParser)."""
    import email
    import email.parser
    from email.feedparser import FeedParser
    from io import StringIO

    from aiosmtpd.lmtp import LMTP

    from support.mailin import desk, lmtp
    from support.workflow import mail

    parse = vars(desk)["parse"]  # the reader the taker calls, wherever it lives

    original_data = LMTP.smtp_DATA

    async def smtp_data(self: Any, arg: str) -> None:
        trace.begin()
        trace.stage(STAGES[0])
        await original_data(self, arg)
        # the loop's iteration ends first: its last handle still refers to the thread's
        # result (the message read) until then
        await asyncio.sleep(0)
        trace.stage(STAGES[8])
        trace.stage(STAGES[9])
        gc.collect()
        trace.end()

    LMTP.smtp_DATA = smtp_data  # type: ignore[method-assign]

    # module globals, replaced where the listener and the reader look them up
    original_key = vars(lmtp)["lmtp_key"]

    def key(raw: bytes) -> str:
        trace.stage(STAGES[1])
        return str(original_key(raw))

    vars(lmtp)["lmtp_key"] = key

    def message_from_bytes(raw: bytes, *, policy: Any) -> Any:
        trace.stage(STAGES[2])
        text = raw.decode("ASCII", errors="surrogateescape")
        trace.stage(STAGES[3])
        fp = StringIO(text)
        first = fp.read(8192)
        trace.stage(STAGES[4])
        parser = FeedParser(policy=policy)
        while first:
            parser.feed(first)
            first = fp.read(8192)
        message = parser.close()
        trace.stage(STAGES[5])
        del fp, text
        trace.stage(STAGES[6])
        return message

    vars(parse)["email"] = type("email", (), {
        "message_from_bytes": staticmethod(message_from_bytes)})
    assert email.parser.Parser.parsestr.__code__.co_names.count("StringIO") == 1

    original_take = mail.take

    async def take(*args: Any, **kwargs: Any) -> Any:
        trace.stage(STAGES[7])
        return await original_take(*args, **kwargs)

    desk.mail.take = take  # type: ignore[attr-defined]


async def trace_child(work: Path, big: int) -> dict[str, Any]:
    """Run in a child process: the listener in this event loop, as tests/mail_helpers.py
    runs it, and the two large messages delivered to it by a real client."""
    import tracemalloc

    from support.config import Settings
    from support.data import db
    from support.mailin import lmtp
    from support.mailin.desk import DeskTaker

    url = f"sqlite://{work / 'trace.sqlite3'}"
    env = support_env(url, work / "data", 0, SUPPORT_EMAIL_REPLIES="1",
                      SUPPORT_EMAIL_FROM=DESK_FROM)
    await db.migrate(url)
    apps = await seed(url, 4)
    bigs = big_replies(apps[:2], big, work)
    settings = Settings.from_env(env)
    trace = Trace()
    install_probes(trace)
    await db.init(url)
    port = free_port()
    stop, ready = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(lmtp.serve(settings, DeskTaker(settings), "127.0.0.1", port,
                                            stop, ready))
    await ready.wait()
    # a small reply first: imports and first-use caches are not the large message's
    await asyncio.to_thread(client, port, small_replies(apps[2:3], photo_bytes(work)), 1,
                            threading.Barrier(1), [])
    tracemalloc.start()
    found = []
    for label, message in bigs:
        taken = await asyncio.to_thread(deliver_from_process, port, message, work)
        found.append({"label": label, "size": len(message.raw) / MIB, "taken": taken,
                      "stages": list(trace.rows)})
    tracemalloc.stop()
    stop.set()
    await server
    await db.close()
    for (_, message), entry in zip(bigs, found, strict=True):
        entry["other_ways"] = other_ways(message.raw)
    return {"messages": found}


def other_ways(raw: bytes) -> list[tuple[str, float, float]]:
    """The same bytes read other ways, each alone under tracemalloc: (what, peak, held)
    in MiB. Not what support/ does today; what a change there would save."""
    import binascii
    import email
    import tracemalloc
    from email.parser import BytesFeedParser
    from email.policy import compat32

    lines = raw.splitlines(keepends=True)

    def as_lines() -> bytes:  # aiosmtpd 1.4's smtp_DATA: a bytearray a line, then a join
        data = [bytearray(line) for line in lines]
        return b"".join(data)

    def one_buffer() -> bytearray:  # the lines appended to one buffer, kept as it is
        buffer = bytearray()
        for line in lines:
            buffer += line
        return buffer

    def chunked() -> Any:  # the parser fed bytes 64 KB at a time: no str, no StringIO
        parser = BytesFeedParser(policy=compat32)
        view = memoryview(raw)
        for at in range(0, len(raw), 64 * 1024):
            parser.feed(bytes(view[at:at + 64 * 1024]))
        return parser.close()

    # the largest part, parsed beforehand: what reading it costs once the message is parsed
    def encoded(leaf: Any) -> int:  # the part's text as parsed (a list for a multipart)
        return len(leaf._payload) if isinstance(leaf._payload, str) else 0

    part: Any = max(email.message_from_bytes(raw, policy=compat32).walk(), key=encoded)
    mib = len(part._payload) / MIB
    found = []
    for what, work in (
            ("DATA as aiosmtpd reads it: a bytearray a line, joined", as_lines),
            ("DATA appended to one bytearray", one_buffer),
            ("email.message_from_bytes (what parse.read calls)",
             lambda: email.message_from_bytes(raw, policy=compat32)),
            ("BytesFeedParser fed 64 KB chunks of the bytes", chunked),
            (f"the largest part ({mib:.1f} MiB of base64): get_payload(), as parse sizes it",
             part.get_payload),
            ("… its length read from the parsed text instead", lambda: len(part._payload)),
            ("… decoded by get_payload(decode=True), as parse decodes it",
             lambda: part.get_payload(decode=True)),
            ("… decoded by binascii.a2b_base64 on the parsed text",
             lambda: binascii.a2b_base64(part._payload))):
        tracemalloc.start()
        start = tracemalloc.get_traced_memory()[0]
        kept = work()
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del kept
        found.append((what, (peak - start) / MIB, (held - start) / MIB))
    return found


def deliver_from_process(port: int, mail: Mail, work: Path) -> bool:
    """The client in a process of its own: smtplib copies the message as it sends it
    (dot-stuffing), and that copy must not be counted as the receiver's."""
    path = work / "message.eml"
    path.write_bytes(mail.raw)
    script = ("import smtplib, sys\n"
              f"with smtplib.LMTP('127.0.0.1', {port}, timeout=120) as lmtp:\n"
              f"    sys.exit(1 if lmtp.sendmail({mail.sender!r}, [{mail.recipient!r}], "
              f"open({str(path)!r}, 'rb').read()) else 0)\n")
    return subprocess.run([sys.executable, "-c", script], timeout=300).returncode == 0


def run_trace(big: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-b9-trace-") as tmp:
        out = subprocess.run([sys.executable, __file__, "--trace-child", tmp,
                              "--big-mib", str(big // MIB)], capture_output=True, text=True,
                             timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"trace child failed:\n{out.stderr[-3000:]}")
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --- the report --------------------------------------------------------------------------

def report(results: list[dict[str, Any]], trace: dict[str, Any] | None,
           args: argparse.Namespace, photo: int) -> str:
    lines = [f"### B9 mail in: `support mail-in` (LMTP), {args.messages} replies with a "
             f"{photo / 1000:.0f} KB photo from {args.clients} clients, {args.per_connection} "
             f"per connection; {args.seed:,} applications waiting for a receipt", "",
             code_state(), "",
             "| db | answered 250 | taken/s | p50 ms | p99 ms | max ms | reply events "
             "(applications) | documents (bytes as sent) | words kept | queued | RSS before / "
             "peak / VmHWM / after MB | CPU ms/msg | waited for a CPU | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r["counted"]
        whole = (r["answers"] == r["messages"] == c["replies"] == c["reply_apps"]
                 == c["documents"] == c["document_apps"] == c["stored_ok"] == c["queued"])
        lines.append(
            f"| {r['db']} | {r['answers']}/{r['messages']} | {r['rate']:.1f} | {r['p50']:.0f} |"
            f" {r['p99']:.0f} | {r['max']:.0f} | {c['replies']} ({c['reply_apps']}) | "
            f"{c['documents']} ({c['stored_ok']}) | {c['words_kept']} | {c['queued']} | "
            f"{r['rss_before']:.1f} / {r['rss_peak']:.1f} / {r['rss_hwm']:.1f} / "
            f"{r['rss_after']:.1f} | {r['cpu_ms']:.1f} | {r['waited']:.0%} | {r['load']} |"
            + ("" if whole else " ✗"))
        if r["errors"]:
            lines.append(f"- {r['db']}: refused deliveries: {r['errors']}")
    lines += ["", "- answered 250: deliveries the receiver answered 250 (taken); reply events: "
              "`event` rows of type reply via email, and how many applications they are on; "
              "documents: `document` rows, and how many hold (in the spool) the bytes sent "
              "for that application; words kept: replies whose event is the reply's own "
              "line, without the quoted request; queued: applications moved back to the "
              "queue. One of each for each answer: nothing lost, nothing doubled.",
              "- inbound_mail outcomes: " + "; ".join(
                  f"{r['db']} {r['counted']['outcomes']}" for r in results),
              "", f"One message of {args.big_mib} MiB alone (RSS from /proc every 50 ms, and "
              "VmHWM, the kernel's peak, reset before each); NOOP: the longest another "
              "connection waited for an answer meanwhile (idle: before the message)", "",
              "| db | message | MiB | delivery s | RSS before MB | peak (VmHWM) MB | after MB | "
              "peak − before MB | target ≤ size | NOOP max ms (idle) | taken as |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for b in r["big"]:
            rise = max(b["peak"], b["hwm"]) - b["before"]
            verdict = "✓" if rise <= b["size"] else f"✗ {rise / b['size']:.1f}× its size"
            row = b["row"]
            taken = f"{row[0]}, {row[1]} documents ({row[2]})" if row else b["error"]
            lines.append(f"| {r['db']} | {b['label']} | {b['size']:.1f} | {b['seconds']:.2f} | "
                         f"{b['before']:.1f} | {b['peak']:.1f} ({b['hwm']:.1f}) | "
                         f"{b['after']:.1f} | {rise:.1f} | {verdict} | {b['noop_max_ms']:.0f} "
                         f"({b['noop_idle_ms']:.0f}) | {taken} |")
    if trace:
        lines += ["", "Where the memory goes: the same messages taken by the same code in a "
                  "child process under tracemalloc (SQLite), each stage's peak of traced "
                  "memory above what was held before the message came (MiB; seconds are "
                  "slowed by tracemalloc, aiosmtpd's most):", ""]
        for message in trace["messages"]:
            lines += [f"{message['label']}, {message['size']:.1f} MiB:", "",
                      "| stage | held at its start | peak during it | held at its end | "
                      "seconds |", "|---|---|---|---|---|"]
            lines += [f"| {name} | {start:.1f} | {peak:.1f} | {end:.1f} | {took:.2f} |"
                      for name, start, peak, end, took in message["stages"]]
            lines += ["", "The same bytes read other ways, each alone (MiB above its start):",
                      "", "| reading | peak | held after |", "|---|---|---|"]
            lines += [f"| {what} | {peak:.1f} | {held:.1f} |"
                      for what, peak, held in message["other_ways"]]
            lines.append("")
    return "\n".join(lines).rstrip()


# --- main --------------------------------------------------------------------------------

def photo_bytes(work: Path) -> bytes:
    noise_jpeg(work / "photo.jpg", PHOTO_BYTES)
    return (work / "photo.jpg").read_bytes()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--messages", type=int, default=250)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-connection", type=int, default=8)
    parser.add_argument("--seed", type=int, default=3000)
    parser.add_argument("--big-mib", type=int, default=25)
    parser.add_argument("--no-trace", action="store_true")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--trace-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed-into", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_into:
        print(json.dumps(await seed(args.seed_into, args.seed)))
        return
    if args.trace_child:
        print(json.dumps(await trace_child(args.trace_child, args.big_mib * MIB)))
        return
    print(describe(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-b9-") as tmp:
        photo = photo_bytes(Path(tmp))
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = [await run_database(kind, args, photo) for kind in kinds]
    trace = None if args.no_trace else await asyncio.to_thread(run_trace, args.big_mib * MIB)
    text = report(results, trace, args, len(photo))
    print(text)
    if not args.no_record:
        record("B9", text)


if __name__ == "__main__":
    asyncio.run(main())
