"""Kinds are data (issue 18): a kind declared here, in the test, and nowhere else goes from
the form to a decision, keeping its own fields, documents, promise, queue and approval; and
nothing outside ``support/rules`` decides by a kind's code, nor checks a role but
``roles.has_role``."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from support import workflow
from support.accounts import auth
from support.accounts.roles import ROLES
from support.config import Settings
from support.data.models import Application, Status
from support.rules import kinds
from support.rules.kinds import KINDS, DocumentSlot, Kind, Permission
from tests.conftest import BASE, RECOVERY, Signed, jpeg_bytes
from tests.factories import make_application, page_version

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "support"

DELETION = Kind(
    code="deletion",
    prefix="DL",
    title="Account deletion",
    summary="Ask us to delete an account and everything in it.",
    reason_label="Why should the account be deleted?",
    reason_hint="In any language, 30 to 2000 characters.",
    fields=kinds.FIELDS,
    unlock_rules=False,
    documents=(DocumentSlot("id_proof", "Proof of identity", "A photo or a PDF.",
                            required=True),),
    sla_hours=240,
    permission=Permission(days=30, valid_until="The account will be deleted by %(when)s.",
                          valid_until_sms="Deleted by %(when)s."),
    info_reply_days=7,
)


@pytest.fixture
def deletion(monkeypatch: pytest.MonkeyPatch) -> Iterator[Kind]:
    """The kind registered for this test only: one entry in KINDS, nothing else."""
    monkeypatch.setitem(KINDS, DELETION.code, DELETION)
    kinds.check(KINDS)
    yield DELETION


async def _sign_in(app, reviewer) -> Signed:
    token = await auth.start_session(reviewer)
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE)
    client.cookies.set("support_session", token)
    return Signed(reviewer, client)


async def test_a_kind_declared_in_a_test_goes_from_the_form_to_a_decision(
        deletion, app, client, applicant, outbox, desk):
    home = await client.get("/")
    assert "/apply/deletion" in home.text
    form = await client.get("/apply/deletion")
    assert form.status_code == 200
    for shown in ("Account deletion", "Why should the account be deleted?",
                  'name="id_proof"', 'name="imei"'):
        assert shown in form.text
    assert 'name="receipt"' not in form.text

    sent = await applicant.submit(
        "deletion", RECOVERY, files={"id_proof": ("passport.jpg", jpeg_bytes(), "image/jpeg")})
    assert sent.status_code == 303, sent.text
    code = await outbox.last_code()
    confirmed = await applicant.post_form(sent.headers["location"], {"code": code})
    assert confirmed.status_code == 303, confirmed.text
    status_path = confirmed.headers["location"].split("?")[0]

    application = await Application.get(kind="deletion")
    assert application.reference.startswith("DL-")
    assert application.imei == RECOVERY["imei"]
    assert application.due_at - application.verified_at == timedelta(hours=240)

    # Its queue is its own: a reviewer of the other queues does not get it; one given the
    # new queue (accepted by the same check as every queue) does.
    others = await desk.reviewer("Ann")
    assert (await others.post("/review/next")).headers["location"] == \
        "/review/queue?notice=empty"
    dee = await _sign_in(app, await auth.create_reviewer(
        "dee@example.com", "Dee", "reviewer", "a long enough password", kinds=["deletion"]))
    try:
        assert dee.reviewer.kinds == ["deletion"]
        taken = await dee.post("/review/next")
        assert taken.headers["location"] == f"/review/applications/{application.reference}"
        page = await dee.get(taken.headers["location"])
        assert page.status_code == 200 and "Why should the account be deleted?" in page.text
        decided = await dee.post(f"/review/applications/{application.reference}/decide", {
            "action": "approve", "message": "We will delete the account.",
            "seen": await page_version(application.reference),
        })
        assert decided.status_code == 303, decided.text
    finally:
        await dee.client.aclose()

    await application.refresh_from_db()
    assert application.status is Status.APPROVED
    assert application.permission_expires_at - application.decided_at == timedelta(days=30)
    status = await client.get(status_path)
    assert "Approved" in status.text
    assert "The account will be deleted by" in status.text
    assert "unlock" not in status.text.lower()
    await outbox.deliver()
    assert any("Deleted by" in sms["text"] for sms in outbox.sms())


async def test_the_new_kind_keeps_its_own_reply_days_and_cannot_be_appealed(
        deletion, app, settings, client, outbox):
    asked = datetime.now(UTC) - timedelta(days=8)  # past its 7 days, within unlock's 14
    mine = await make_application(kind="deletion", status=Status.NEEDS_INFO,
                                  info_requested_at=asked)
    unlock = await make_application(kind="unlock", status=Status.NEEDS_INFO,
                                    info_requested_at=asked)
    assert await workflow.expire_unanswered() == 1
    await mine.refresh_from_db()
    await unlock.refresh_from_db()
    assert mine.status is Status.EXPIRED and unlock.status is Status.NEEDS_INFO
    await outbox.deliver()
    assert [sms["text"] for sms in outbox.sms()] == [
        f"Application {mine.reference} closed: no answer within 7 days. You can apply again."]

    refused = await make_application(kind="deletion", status=Status.REJECTED,
                                     decided_at=datetime.now(UTC), decision_text="No.")
    assert not workflow.appealable(refused)
    link = await workflow.new_status_link(settings, refused)
    page = await client.get(link.removeprefix(settings.base_url))
    assert "Not approved" in page.text and "/appeal" not in page.text
    assert (await client.get(link.removeprefix(settings.base_url) + "/appeal")).status_code == 409


def test_promises_come_from_the_kind_and_the_environment_overrides_them(deletion, tmp_path):
    def promised(env: dict[str, str], code: str) -> int:
        settings = Settings.from_env({"SUPPORT_DATA_DIR": str(tmp_path),
                                      "SUPPORT_SECRET_KEY": "k" * 48, **env})
        return kinds.promised_hours(KINDS[code], settings.sla_hours)

    assert [promised({}, code) for code in ("unlock", "recovery", "appeal", "deletion")] == \
        [72, 168, 72, 240]
    assert promised({"SUPPORT_SLA_UNLOCK_HOURS": "24"}, "appeal") == 24  # as its original
    assert promised({"SUPPORT_SLA_RECOVERY_HOURS": "100"}, "recovery") == 100
    assert promised({"SUPPORT_SLA_DELETION_HOURS": "12"}, "deletion") == 12


def test_a_kind_that_cannot_work_is_refused_when_declared():
    with pytest.raises(ValueError, match="prefix"):
        Kind(**{**DELETION.__dict__, "prefix": "DEL"})
    with pytest.raises(ValueError, match="fields"):
        Kind(**{**DELETION.__dict__, "fields": ("account_id", "reason")})
    with pytest.raises(ValueError, match="used twice"):
        kinds.check({**KINDS, "deletion": Kind(**{**DELETION.__dict__, "prefix": "UL"})})


# --- nothing decides by a kind's code or a role's name but the rules ----------------------

KIND_CODES = frozenset(KINDS)
ROLE_NAMES = frozenset(ROLES)
# Declarations and data: the kinds themselves, the canned responses keyed by kind, and
# migrations (rows as they were written).
KIND_HOMES = (SUPPORT / "rules", SUPPORT / "data" / "migrations")
ROLE_HOMES = (SUPPORT / "accounts" / "roles.py", SUPPORT / "data" / "migrations")


def _named(node: ast.AST, names: frozenset[str]) -> bool:
    """A string constant among ``names``, or a literal tuple, list or set holding one."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in names
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_named(element, names) for element in node.elts)
    return False


def kind_rules(source: str) -> list[int]:
    """Lines where code decides by a kind's code: compares with one, indexes by one,
    filters on one (``kind=``, ``kind__in=``), lists some, maps one to a plain value, or
    defaults a parameter to one. Names used otherwise (a route called "appeal", an
    ``__all__`` entry, a context key) are not rules, and docstrings are never looked at."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            hit = any(_named(side, KIND_CODES) for side in (node.left, *node.comparators))
        elif isinstance(node, ast.Subscript):
            hit = _named(node.slice, KIND_CODES)
        elif isinstance(node, ast.keyword):
            hit = (node.arg or "").startswith("kind") and _named(node.value, KIND_CODES)
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            hit = any(_named(element, KIND_CODES) for element in node.elts)
        elif isinstance(node, ast.Dict):
            hit = any(_named(key, KIND_CODES) and isinstance(value, ast.Constant)
                      for key, value in zip(node.keys, node.values, strict=True)
                      if key is not None)
        elif isinstance(node, ast.arguments):
            hit = any(_named(default, KIND_CODES)
                      for default in (*node.defaults, *node.kw_defaults) if default)
        elif isinstance(node, ast.MatchValue):
            hit = _named(node.value, KIND_CODES)
        else:
            continue
        if hit:
            found.append(getattr(node, "lineno", 0))
    # __all__ lists functions, one of which is called appeal.
    exported = {node.lineno for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Assign) and any(
                    isinstance(target, ast.Name) and target.id == "__all__"
                    for target in node.targets)}
    return sorted(set(found) - exported)


def role_rules(source: str) -> list[int]:
    """Lines that check a role by hand: a literal tuple, list or set of role names, or a
    comparison of a ``.role`` or with a role's name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            hit = any(_named(element, ROLE_NAMES) for element in node.elts)
        elif isinstance(node, ast.Compare):
            sides = (node.left, *node.comparators)
            hit = any(_named(side, ROLE_NAMES) or
                      (isinstance(side, ast.Attribute) and side.attr == "role")
                      for side in sides)
        else:
            continue
        if hit:
            found.append(node.lineno)
    # A model's Meta names its fields; a field may be called "reviewer".
    meta = {node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id in {"unique_together", "indexes"}
                for target in node.targets)}
    return sorted(set(found) - meta)


def _modules(homes: tuple[Path, ...]) -> Iterator[Path]:
    for path in sorted(SUPPORT.rglob("*.py")):
        if not any(path == home or home in path.parents for home in homes):
            yield path


@pytest.mark.parametrize(("rule", "source"), [
    (kind_rules, 'if application.kind == "unlock":\n    pass\n'),
    (kind_rules, 'allowed = fresh.kind in {"unlock", "appeal"}\n'),
    (kind_rules, 'form_page(request, KINDS["appeal"], None)\n'),
    (kind_rules, 'Application.filter(kind__in=("unlock", "appeal"))\n'),
    (kind_rules, 'UNLOCK_KINDS = ("unlock", "appeal")\n'),
    (kind_rules, 'SLA = {"unlock": 72, "recovery": 168}\n'),
    (kind_rules, 'def apply(kind: str = "recovery") -> None: ...\n'),
    (role_rules, 'if reviewer.role in ("lead", "admin"):\n    pass\n'),
    (role_rules, 'STAFF = {"lead", "admin"}\n'),
    (role_rules, 'ok = "admin" == me.role\n'),
])
def test_the_checks_catch_what_they_are_for(rule, source):
    assert rule(source)


@pytest.mark.parametrize(("rule", "source"), [
    (kind_rules, '"""Only an unlock\'s refusal can be appealed, as "appeal"."""\n'),
    (kind_rules, '__all__ = ["appeal", "appealable"]\n'),
    (kind_rules, 'Route("/status/{token}/appeal", view, name="appeal")\n'),
    (kind_rules, 'render({"appeal": appeal, "kind": kind})\n'),
    (kind_rules, 'help = "--kinds unlock,appeal"\n'),
    (role_rules, 'if has_role(reviewer, LEAD):\n    pass\n'),
    (role_rules, '@requires("admin")\nasync def page(): ...\n'),
])
def test_the_checks_leave_alone_what_is_not_a_rule(rule, source):
    assert not rule(source)


def test_no_code_outside_the_rules_decides_by_a_kind_code():
    found = {str(path.relative_to(ROOT)): lines for path in _modules(KIND_HOMES)
             if (lines := kind_rules(path.read_text(encoding="utf-8")))}
    assert not found, f"ask the kind (rules/kinds.py), not its code: {found}"


def test_roles_are_checked_through_one_function():
    found = {str(path.relative_to(ROOT)): lines for path in _modules(ROLE_HOMES)
             if (lines := role_rules(path.read_text(encoding="utf-8")))}
    assert not found, f"check roles with accounts.roles.has_role: {found}"


JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
QUOTED = re.compile(r"([\"'])([^\"'\n]*)\1")
ROLE_COMPARED = re.compile(r"\.role\s*(==|!=|not\s+in\b|in\b)")  # a reviewer's role


def template_rules(text: str) -> list[str]:
    """Template tags that name a kind's code in quotes, or compare a role by hand."""
    return [tag.group() for tag in JINJA.finditer(text)
            if {m.group(2) for m in QUOTED.finditer(tag.group())} & KIND_CODES
            or ROLE_COMPARED.search(tag.group())]


@pytest.mark.parametrize(("text", "caught"), [
    ('{% if kind.code == "appeal" %}x{% endif %}', True),
    ("{{ 'recovery' if flag else '' }}", True),
    ('{% if me.role in ("lead", "admin") %}x{% endif %}', True),
    ('{% if me.role == "admin" %}x{% endif %}', True),
    ('{% if kind.appeals %}{{ _("Send appeal") }}{% endif %}', False),
    ('{% if has_role(me, "lead") %}x{% endif %}{% for role in roles %}{% endfor %}', False),
])
def test_the_template_check_catches_what_it_is_for(text, caught):
    assert bool(template_rules(text)) is caught


def test_templates_ask_the_kind_and_has_role_too():
    found = {str(path.relative_to(ROOT)): tags
             for path in sorted((ROOT / "templates").rglob("*")) if path.is_file()
             if (tags := template_rules(path.read_text(encoding="utf-8")))}
    assert not found, found
