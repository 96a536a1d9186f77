"""Codes as words: every state, action, event type, role, refusal reason, risk flag and
message the code can write has words (reads/wording.py), and no desk page of a full flow,
nor an export's header, shows a raw code like ``needs_info`` or ``request_info``."""

from __future__ import annotations

import ast
import csv
import io
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from support.accounts.roles import ROLES
from support.data.models import Channel, DeliveryStatus, Event, Notification, Reviewer, Status
from support.reads import wording
from support.reads.queue import TABS
from support.reads.reports import tables as report_tables
from support.rules.kinds import INFO_ITEMS, KINDS, REJECTION_REASONS
from support.workflow import risk
from support.workflow.machine import TRANSITIONS
from tests.factories import make_application

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "support"


# Where the codes come from ------------------------------------------------------------

def _event_types_in_code() -> set[str]:
    """Every ``Event.type`` the code writes: ``Event(type="…")``, ``Event.create(type="…")``
    and ``move(application, "action", …)`` (the action is the type)."""
    found: set[str] = set()
    for path in SUPPORT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(
                func.value, ast.Name) else ""
            if name == "Event" or (owner == "Event" and name == "create"):
                found |= {kw.value.value for kw in node.keywords if kw.arg == "type"
                          and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)}
            if name == "move" and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                found.add(str(node.args[1].value))
    return found


def _signal_codes() -> set[str]:
    tree = ast.parse((SUPPORT / "workflow" / "risk.py").read_text(encoding="utf-8"))
    return {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Signal"
            and node.args and isinstance(node.args[0], ast.Constant)}


def _message_templates() -> set[str]:
    return {path.stem for folder in ("email", "sms")
            for path in (ROOT / "templates" / folder).glob("*.txt")}


def _is_words(code: str, words: str) -> bool:
    return bool(words) and "_" not in words and words != code


# Every code has words -------------------------------------------------------------------

def test_every_state_has_words():
    for status in Status:
        assert status.value in wording.STATE_WORDS, status
        assert _is_words(status.value, wording.state_word(status)), status
        assert wording.state_word(status.value) == wording.state_word(status)
    assert wording.state_word(Status.NEEDS_INFO) == "Waiting for the applicant"


def test_every_action_and_event_the_code_writes_has_words():
    written = _event_types_in_code()
    # The scan sees the code's events, so it cannot pass by finding none.
    assert {"submitted", "note", "claim", "document_viewed", "redacted", "verify",
            "reply", "expire"} <= written
    for code in set(TRANSITIONS) | written:
        assert code in wording.EVENT_WORDS, f"event {code!r} has no words"
        for said in wording.EVENT_WORDS[code]:
            assert _is_words(code, said), code
        assert _is_words(code, wording.event_plain(code))


def test_every_role_reason_item_flag_message_and_delivery_has_words():
    for role in ROLES:
        assert role in wording.ROLE_WORDS and _is_words(role, wording.role_word(role))
    assert wording.role_word("lead") == "Lead reviewer"
    for code in REJECTION_REASONS:
        assert _is_words(code, wording.reason_word(code))
    assert wording.reason_word(None) == "" and wording.reason_word("") == ""
    for code in INFO_ITEMS:
        assert _is_words(code, wording.info_word(code))
    assert set(risk.CODES) == _signal_codes() == set(wording.FLAG_WORDS)
    for code in wording.FLAG_WORDS:
        assert _is_words(code, wording.flag_word(code))
    templates = _message_templates()
    assert {"info_requested", "verification_code", "rejected"} <= templates
    for template in templates | {"reviewer_invitation"}:
        assert template in wording.MESSAGE_WORDS, f"message {template!r} has no words"
        assert _is_words(template, wording.message_word(template))
    for status in DeliveryStatus:
        assert status.value in wording.DELIVERY_WORDS
    for channel in Channel:
        assert channel.value in wording.CHANNEL_WORDS
    for code in KINDS:
        assert _is_words(code, wording.kind_word(code))
    for kind in KINDS.values():
        for slot in kind.documents:
            assert _is_words(slot.name, wording.purpose_word(slot.name))


def test_a_code_no_dictionary_knows_is_still_said_in_words():
    assert wording.state_word("on_hold") == "On hold"
    assert wording.event_words(Event(type="moved_elsewhere", actor="system")) == "Moved elsewhere"
    assert wording.reason_word("retired_reason") == "Retired reason"


def test_events_say_who_did_them_when_names_are_given():
    names = {"reviewer:7": "Asha"}

    def said(type: str, actor: str = "reviewer:7", **more: str) -> str:
        return wording.event_words(Event(type=type, actor=actor, **more), names)

    assert said("claim") == "Taken by Asha"
    assert said("request_info") == "Asha asked the applicant for information"
    assert said("reject") == "Refused by Asha"
    assert said("claim", actor="reviewer:99") == "Taken by a reviewer"
    assert said("release", actor="system") == "Released to the queue by the desk"
    assert said("verify", actor="applicant", from_status="submitted",
                to_status="queued") == "Confirmed by the applicant: waiting for a reviewer"
    assert said("reply", actor="applicant") == "The applicant replied: waiting for a reviewer"
    assert said("expire", actor="system", from_status="needs_info") == \
        "Expired: the applicant did not answer in time"
    assert said("expire", actor="system", from_status="submitted") == \
        "Expired: the confirmation code was never entered"
    # Without names, for a table that has a "Who" column.
    assert wording.event_words(Event(type="claim", actor="reviewer:7")) == "Taken"
    assert wording.event_words(Event(type="document_viewed", actor="reviewer:7")) == \
        "Document viewed"


# No page shows a code --------------------------------------------------------------------

# Codes that are not English words: none may be read on a page. (Codes that are also
# words, "queued" or "approved", cannot be told from the words around them.)
RAW = sorted(
    {code for family in (
        [s.value for s in Status], list(TRANSITIONS), list(wording.EVENT_WORDS),
        list(REJECTION_REASONS), list(INFO_ITEMS), list(wording.FLAG_WORDS),
        list(wording.MESSAGE_WORDS),
    ) for code in family if "_" in code}
) + [" → ", "(lead)", "(admin)", "(reviewer)"]


class _Text(HTMLParser):
    """What a person reads: text nodes, not attributes, scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def assert_no_codes(page_text: str, where: str) -> None:
    found = [code for code in RAW if code in page_text]
    assert not found, f"{where} shows {found}"


def test_visible_text_is_what_a_person_reads():
    text = visible('<p class="needs_info">Waiting <option value="in_review">In review</option>'
                   '<script>var needs_info;</script></p>')
    assert text == "Waiting In review"
    assert RAW and "needs_info" in RAW and "request_info" in RAW and "reason_insufficient" in RAW


async def _every_event(application, reviewer_id: int) -> None:
    """One event of every type, with the actor and the states the code gives it."""
    at = datetime.now(UTC) - timedelta(hours=2)
    for n, type in enumerate(wording.EVENT_WORDS):
        transition = TRANSITIONS.get(type)
        source = sorted(transition.source)[0].value if transition else None
        actor = {"verify": "applicant", "withdraw": "applicant", "reply": "applicant",
                 "submitted": "applicant", "appealed": "applicant", "code_resent": "applicant",
                 "status_link_sent": "applicant", "erasure_requested": "applicant",
                 "expire": "system", "document_unsafe": "system", "delivery_failed": "system",
                 "documents_purged": "system", "redacted": "system"}.get(
                     type, f"reviewer:{reviewer_id}")
        await Event.create(application=application, actor=actor, type=type,
                           from_status=source, to_status=transition.target.value
                           if transition else None, message=f"message {n}",
                           internal=actor.startswith("reviewer"), at=at + timedelta(seconds=n))


async def test_the_application_page_says_every_event_in_words(desk):
    lead = await desk.reviewer("Asha Lead", role="lead")
    original = await make_application(status=Status.REJECTED, decided_at=datetime.now(UTC),
                                      decided_by=lead.reviewer, decision_code="reason_insufficient",
                                      decision_text="Please say why you need it.")
    appeal = await make_application(kind="appeal", appeal_of=original,
                                    account_id=original.account_id, phone=original.phone)
    await _every_event(appeal, lead.reviewer.id)
    for application in (appeal, original):
        page = await lead.get(f"/review/applications/{application.reference}")
        assert page.status_code == 200
        text = visible(page.text)
        assert_no_codes(text, application.reference)
    text = visible((await lead.get(f"/review/applications/{appeal.reference}")).text)
    assert "Taken by Asha Lead" in text
    assert "Asha Lead asked the applicant for information" in text
    assert "Confirmed by the applicant: waiting for a reviewer" in text
    assert "The applicant replied: waiting for a reviewer" in text
    assert "The reason does not explain why unlocking is needed" in text  # the original's
    assert "(Lead reviewer)" in text


async def test_an_application_in_review_says_where_it_stands_in_words(desk):
    lead = await desk.reviewer("Lee", role="lead")
    now = datetime.now(UTC)
    application = await make_application(status=Status.NEEDS_INFO, assignee=lead.reviewer,
                                          claimed_at=now, last_activity_at=now)
    text = visible((await lead.get(f"/review/applications/{application.reference}")).text)
    assert "Waiting for the applicant" in text
    assert_no_codes(text, "an application waiting for the applicant")
    # Held by the lead: the decision forms are on the page, their choices in words.
    held = await make_application(status=Status.IN_REVIEW, assignee=lead.reviewer,
                                  claimed_at=now, last_activity_at=now)
    text = visible((await lead.get(f"/review/applications/{held.reference}")).text)
    assert "In review" in text
    assert_no_codes(text, "an application in review")


async def test_the_queue_tabs_audit_and_deliveries_show_words(desk):
    admin = await desk.reviewer("Ada", role="admin")
    lead = await desk.reviewer("Lee", role="lead")
    now = datetime.now(UTC)
    for status in Status:
        await make_application(status=status, assignee=lead.reviewer if status in (
            Status.IN_REVIEW,) else None, decided_at=now if status in (
                Status.APPROVED, Status.REJECTED) else None,
            decision_code="proof_mismatch" if status is Status.REJECTED else None)
    application = await make_application()
    await _every_event(application, lead.reviewer.id)
    for template in wording.MESSAGE_WORDS:
        for channel in Channel:
            for status in DeliveryStatus:
                await Notification.create(
                    application=application, channel=channel, recipient="x@example.com",
                    template=template, next_attempt_at=now, status=status,
                    idempotency_key=secrets.token_hex(16))
    pages = [f"/review/queue?tab={tab}" for tab in TABS] + [
        "/review/admin/audit", "/review/admin/deliveries",
        "/review/admin/deliveries?status=dead", "/review/admin/reviewers"]
    for path in pages:
        page = await admin.get(path)
        assert page.status_code == 200, path
        assert_no_codes(visible(page.text), path)
    audit = visible((await admin.get("/review/admin/audit")).text)
    assert "Asked the applicant for information" in audit and "Document viewed" in audit
    deliveries = visible((await admin.get("/review/admin/deliveries")).text)
    assert "Request for information" in deliveries and "Dead" in deliveries
    filtered = await admin.get("/review/admin/deliveries?template=info_requested")
    assert filtered.status_code == 200
    assert visible(filtered.text).count("Request for information") >= 6  # rows and the select


async def test_export_headers_and_cells_are_words(desk):
    lead = await desk.reviewer("Lee", role="lead")
    await make_application(status=Status.REJECTED, decided_at=datetime.now(UTC),
                           decision_code="reason_insufficient")
    response = await lead.get("/review/queue.csv?tab=decided&contacts=1")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    header, row = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[:3] == ["Reference", "Kind", "State"]
    assert "Submitted (UTC)" in header and "Refusal reason" in header
    assert row["State"] == "Refused"
    assert row["Refusal reason"] == "The reason does not explain why unlocking is needed"
    assert_no_codes(" ".join(header) + " " + " ".join(rows[1]), "the queue's CSV")
    for key in report_tables.KEYS:
        report = await lead.get(f"/review/reports.csv?table={key}")
        assert report.status_code == 200, key
        first = report.content.decode("utf-8-sig").splitlines()[0]
        assert_no_codes(first, f"the report table {key}'s header")
        assert "_" not in first, first


async def test_the_export_command_writes_words_and_refuses_an_unknown_flag(app, database_url,
                                                                          tmp_path):
    await Reviewer.create(email="lee@example.com", name="Lee", role="lead", password_hash="-",
                          kinds=["unlock", "recovery", "appeal"])
    await make_application(status=Status.IN_REVIEW)
    env = {**os.environ, "SUPPORT_DATABASE_URL": database_url,
           "SUPPORT_DATA_DIR": str(tmp_path / "cli-data")}

    def export(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "support", "export", "--as",
                               "lee@example.com", *args], env=env, capture_output=True,
                              timeout=60, check=False)

    done = export("--tab", "in_review", "--contacts")
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout.decode("utf-8-sig"), newline="")))
    assert rows[0][:3] == ["Reference", "Kind", "State"] and rows[1][2] == "In review"
    assert_no_codes(" ".join(rows[0] + rows[1]), "support export")
    refused = export("--flag", "no_such_flag")
    assert refused.returncode == 2 and b"invalid choice" in refused.stderr


def test_the_history_does_not_say_twice_what_its_words_say():
    from types import SimpleNamespace

    from support.reads.wording import event_detail

    def detail(kind: str, message: str) -> str:
        return event_detail(SimpleNamespace(type=kind, message=message))

    assert detail("claim", "Taken by Asha.") == ""
    assert detail("verify", "Contact confirmed; waiting for review.") == ""
    assert detail("release", "Returned to the queue.") == ""
    # What adds to the words stays: why the desk released it, a decision's text, a note.
    assert detail("release", "Returned to the queue: Bo no longer works it.") != ""
    assert detail("reject", "The phone runs a stable build.") == "The phone runs a stable build."
    assert detail("note", "Taken by Asha.") == "Taken by Asha."
