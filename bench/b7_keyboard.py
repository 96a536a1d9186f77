"""B7: a reviewer decides 30 prepared applications with the keyboard alone, in Chromium.

``support serve`` runs as `make run` runs it, on a fresh database holding 30 queued unlock
applications, each with a 1600×1200 photo of a receipt. A reviewer signs in, and from the
queue, for each application: takes the next (``t``), waits until the receipt is drawn in
the viewer beside the facts (the look a reviewer gives it), then approves with the canned
text (``a``, ``Enter``) or, for every third, refuses with the reason's canned text (``r``,
``Ctrl+Enter``). Every key is counted; "desk seconds" run from the key that takes the
application to the page that says the decision was sent: the time the desk makes the
reviewer wait, not the time they spend reading.

Targets (issue 20): at most 4 keystrokes for an approval with its canned text; median
under 3 s of desk time per decision on this machine.

    .venv/bin/python bench/b7_keyboard.py [--db sqlite|postgres] [--count 30] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw  # noqa: E402
from playwright.async_api import Page, async_playwright  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from bench.harness import (  # noqa: E402
    BIN,
    ROOT,
    code_state,
    drop_database,
    free_port,
    load_average,
    migrate,
    new_database,
    percentile,
    support_env,
    wait_for,
)
from bench.machine import describe, record  # noqa: E402
from support.accounts.passwords import hash_password  # noqa: E402
from support.config import Settings  # noqa: E402
from support.data.db import tortoise_config  # noqa: E402
from support.data.models import Application, Document, Reviewer, Status  # noqa: E402
from support.documents.store import DocumentStore  # noqa: E402
from support.platform import tokens  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
EMAIL, PASSWORD = "bench.reviewer@maker.example", "correct horse battery staple"


def receipt_photo(n: int) -> bytes:
    """A phone photo of a receipt: large, mostly paper, a few lines of print."""
    image = Image.new("RGB", (1600, 1200), (236, 232, 220))
    draw = ImageDraw.Draw(image)
    lines = ["MOBILE WORLD, MG ROAD", f"INVOICE 2026/{n:05d}", "Redmi Note 10 Pro 128GB",
             f"IMEI 35{n:013d}", "Rs 17,999.00", "21-03-2026"]
    for row, line in enumerate(lines):
        draw.text((200, 200 + row * 90), line, fill=(30, 30, 30))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def seed(url: str, settings: Settings, count: int) -> None:
    """The reviewer and ``count`` queued applications with their receipts, written as the
    worker would have left them (sanitised), so the run measures the desk, not the worker."""
    await Tortoise.init(config=tortoise_config(url))
    store = DocumentStore.of(settings)
    try:
        await Reviewer.create(email=EMAIL, name="Bench Reviewer", role="reviewer",
                              password_hash=hash_password(PASSWORD),
                              kinds=["unlock", "recovery", "appeal"], countries=[])
        now = datetime.now(UTC)
        for n in range(count):
            application = await Application.create(
                reference=tokens.new_reference("UL"), kind="unlock", status=Status.QUEUED,
                account_id=f"6{n:09d}", country="IN", phone=f"+9198{n:08d}",
                phone_reversed=f"+9198{n:08d}"[::-1], email=f"owner{n}@example.com",
                imei=f"35{n:013d}", model="Redmi Note 10 Pro", firmware="21.3.17",
                firmware_channel="developer",
                reason="I develop a custom kernel for this phone and flash test builds.",
                submission_key=secrets.token_hex(16), verified_at=now,
                due_at=now + timedelta(hours=24 + n),
            )
            photo = receipt_photo(n)
            key = secrets.token_urlsafe(24)
            target = store.path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(photo)
            await Document.create(application=application, purpose="receipt",
                                  content_type="image/jpeg", size=len(photo),
                                  sha256=secrets.token_hex(32), storage_key=key,
                                  original_name=f"receipt-{n}.jpg", sanitised_at=now)
    finally:
        await Tortoise.close_connections()


@dataclass
class Run:
    keys: list[int] = field(default_factory=list)  # per decision
    seconds: list[float] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)


async def press(page: Page, run: Run, key: str) -> None:
    await page.keyboard.press(key)
    run.keys[-1] += 1


async def decide_all(base: str, count: int) -> Run:
    run = Run()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await (await browser.new_context(viewport={"width": 1440, "height": 900})).new_page()
        await page.goto(f"{base}/review/login")
        await page.fill("#email", EMAIL)
        await page.fill("#password", PASSWORD)
        await page.locator("main button[type=submit]").click()
        await page.wait_for_url("**/review/queue")
        for n in range(count):
            run.keys.append(0)
            refuse = n % 3 == 2
            start = time.perf_counter()
            try:
                before = page.url
                await press(page, run, "t")
                await page.wait_for_url(lambda url, before=before: url != before
                                        and "/review/applications/" in url
                                        and "notice=" not in url)
                # The look: the receipt drawn in the viewer, beside the facts.
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('#viewer-stage img')]"
                    ".some(img => img.complete && img.naturalWidth > 0)")
                await decide_one(page, run, refuse)
            except Exception as failed:
                print(f"decision {n + 1} failed at {page.url}: {failed}", file=sys.stderr)
                shot = Path(tempfile.gettempdir()) / f"b7-failed-{n}.png"
                await page.screenshot(path=str(shot), timeout=5000)
                raise
            run.seconds.append(time.perf_counter() - start)
            run.actions.append("refuse" if refuse else "approve")
        await browser.close()
    return run


async def decide_one(page: Page, run: Run, refuse: bool) -> None:
    """Approve (a, Enter) or refuse (r, Ctrl+Enter) with the canned text, and wait for the
    page that says it was sent."""
    if refuse:
        await press(page, run, "r")
        await press(page, run, "Control+Enter")
        await page.wait_for_url("**notice=refused")
    else:
        await press(page, run, "a")
        await press(page, run, "Enter")
        await page.wait_for_url("**notice=approved")
    await page.locator("#notice").wait_for()


def report(db: str, count: int, run: Run) -> str:
    approvals = [k for k, a in zip(run.keys, run.actions, strict=True) if a == "approve"]
    refusals = [k for k, a in zip(run.keys, run.actions, strict=True) if a == "refuse"]
    p95 = percentile(run.seconds, 0.95)
    return "\n".join([
        f"### B7 keyboard desk, {db}, {count} decisions (2 approvals : 1 refusal)",
        "",
        "| decisions | keys per approval | keys per refusal | desk s median | p95 | max |",
        "|---|---|---|---|---|---|",
        f"| {len(run.seconds)} | {max(approvals)} | {max(refusals) if refusals else '-'} | "
        f"{statistics.median(run.seconds):.2f} | {p95:.2f} | {max(run.seconds):.2f} |",
        "",
        f"- {code_state()[2:]}; load average {load_average()}",
        "- keys: t (take next), a + Enter (approve with the canned text) or r + Ctrl+Enter "
        "(refuse with the reason's canned text); a chord counts as one key",
        "- desk s: from the key that takes the application to the page saying the decision "
        "was sent, the receipt drawn in the viewer on the way (targets: ≤ 4 keys per "
        "approval, median < 3 s)",
    ])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="b7-") as folder:
        data_dir = Path(folder)
        url = await new_database(args.db, data_dir, "b7")
        port = free_port()
        env = support_env(url, data_dir, port)
        try:
            migrate(env)
            await seed(url, Settings.from_env(env), args.count)
            # The log to a file: a pipe nobody reads fills and blocks the server.
            with (data_dir / "server.log").open("wb") as log:
                server = subprocess.Popen([str(BIN / "support"), "serve"], env=env,
                                          stdout=log, stderr=log, cwd=ROOT)
                try:
                    wait_for(port, server)
                    run = await decide_all(f"http://127.0.0.1:{port}", args.count)
                finally:
                    server.terminate()
                    try:
                        server.wait(10)
                    except subprocess.TimeoutExpired:  # connections a failed run left open
                        server.kill()
        finally:
            await drop_database(url)
    text = report(args.db, args.count, run)
    print(describe(), text, sep="\n\n")
    if not args.no_record:
        record(f"B7 keyboard desk ({args.db})", text)


if __name__ == "__main__":
    asyncio.run(main())
