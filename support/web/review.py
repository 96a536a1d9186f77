"""The reviewer's desk: the queue, taking the next application, one application on one
screen, and the actions taken from it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from support import workflow
from support.accounts import roles
from support.accounts.scope import held_for_another, works_queue_of
from support.data.ids import parse_id
from support.data.models import Application, Event, Permission, Reviewer, RiskFlag
from support.documents.rendering import MAX_PAGES
from support.reads import findings, related, wording
from support.reads import permissions as permission_reads
from support.rules.kinds import INFO_ITEMS, KINDS, REJECTION_REASONS
from support.web import composer
from support.web import documents as document_views
from support.web.auth import render_review, requires
from support.web.context import reviewer_of, visible_application
from support.web.forms import FormInput, read_small_form
from support.workflow import permissions, presence, responses, risk


async def _form(request: Request) -> FormInput:
    return await read_small_form(request)




def _back(application: Application, notice: str = "") -> RedirectResponse:
    suffix = f"?notice={notice}" if notice else ""
    return RedirectResponse(f"/review/applications/{application.reference}{suffix}", 303)


@requires("reviewer")
async def application_page(request: Request) -> Response:
    application = await visible_application(request)
    if application is None:
        return render_review(request, "errors/404.html", {}, 404)
    reviewer = reviewer_of(request)
    await risk.refresh(application)
    await workflow.review.touch(application, reviewer)
    await presence.seen(application, reviewer)
    chosen = parse_id(request.query_params.get("use", ""))  # a canned text picked without JS
    return await _page(request, application, use=chosen)


async def _page(request: Request, application: Application, *, use: int | None = None,
                posted: composer.Posted | None = None, error: str = "",
                changes: list[Event] | None = None, status: int = 200,
                revoke_reason: str = "", revoke_error: str = "") -> Response:
    """The application on one screen; after a refused decision, with what the reviewer
    wrote kept in its form and the reason it was refused."""
    reviewer = reviewer_of(request)
    await application.fetch_related("assignee", "appeal_of", "documents", "held_for",
                                    "decided_by", "asked_by")
    original = application.appeal_of
    if original is not None:
        await original.fetch_related("documents", "decided_by")
    events = await Event.filter(application=application).exclude(type="document_viewed").order_by(
        "at", "id"
    )
    options = await responses.options(application.kind, application.locale)
    kind = KINDS[application.kind]
    found, waiting = findings.compare(application, list(application.documents))
    return render_review(request, "review/application.html", {
        "findings": found,
        "findings_waiting": waiting,
        "application": application,
        "kind": kind,
        "documents": application.documents,
        "page_counts": await document_views.page_counts(request, application.documents),
        "max_pages": MAX_PAGES,
        "flags": await RiskFlag.filter(application=application).order_by("code"),
        "flag_labels": risk.CODES,
        "events": events,
        "seen": max((event.id for event in events), default=0),
        "actors": await wording.actor_names(events),
        "can": await workflow.review.available(application, reviewer),
        "barred": await workflow.review.barred_from(application, reviewer),
        "forms": composer.forms(options, use=use, posted=posted),
        "options": options,
        "canned_data": [dataclasses.asdict(option) for option in options],
        "held_elsewhere": held_for_another(application, reviewer, datetime.now(UTC)),
        "reasons": REJECTION_REASONS,
        "info_items": INFO_ITEMS,
        "reply_by": composer.reply_by(application, kind),
        "reviewers": [who for who in await Reviewer.filter(active=True).order_by("name")
                      if works_queue_of(who, application)],
        "notice": request.query_params.get("notice", ""),
        "is_lead": roles.has_role(reviewer, roles.LEAD),
        "original": original,
        "related": await related.related_to(application),
        "others": await presence.others(application, reviewer),
        "error": error,
        "changes": changes or [],
        # The account's unlock quota before approving, the permission an approval granted,
        # and a refused revoke's reason kept in its box.
        "quota": await permission_reads.quota_standing(
            request.app.state.settings, application, datetime.now(UTC)),
        "permission": await Permission.get_or_none(application_id=application.id),
        "revoke_reason": revoke_reason,
        "revoke_error": revoke_error,
        "now": datetime.now(UTC),
    }, status)


@requires("reviewer")
async def claim(request: Request) -> Response:
    await _form(request)
    application = await visible_application(request)
    if application is None:
        return render_review(request, "errors/404.html", {}, 404)
    await workflow.claim(application, workflow.reviewer_actor(reviewer_of(request)))
    return _back(application)


@requires("reviewer")
async def release(request: Request) -> Response:
    await _form(request)
    application = await visible_application(request)
    if application is None:
        return render_review(request, "errors/404.html", {}, 404)
    await workflow.release(application, workflow.reviewer_actor(reviewer_of(request)))
    return RedirectResponse("/review/queue?notice=released", 303)


@requires("lead")
async def reassign(request: Request) -> Response:
    form = await _form(request)
    application = await visible_application(request)
    chosen = parse_id(form.get("reviewer_id"))  # "abc" or 30 digits was a 500 (int(), int4)
    target = await Reviewer.get_or_none(id=chosen, active=True) if chosen else None
    if application is None or target is None:
        return render_review(request, "errors/404.html", {}, 404)
    await workflow.reassign(application, workflow.reviewer_actor(reviewer_of(request)), target)
    return _back(application, "reassigned")


@requires("reviewer")
async def add_note(request: Request) -> Response:
    form = await _form(request)
    application = await visible_application(request)
    if application is None:
        return render_review(request, "errors/404.html", {}, 404)
    await workflow.add_note(application, reviewer_of(request), form.get("note"))
    return _back(application, "noted")


UNVERSIONED = ("This decision did not say which version of the application you were looking "
               "at, so it was not sent: the application may have changed since you opened it. "
               "What you wrote is kept below; check the application, then send it again.")


def _version(text: str) -> int | None:
    """The decision form's ``seen``: the newest event its page showed, 0 for a page that
    showed none; None when missing or unreadable."""
    return 0 if text == "0" else parse_id(text)


@requires("reviewer")
async def decide(request: Request) -> Response:
    form = await _form(request)
    application = await visible_application(request)
    if application is None:
        return render_review(request, "errors/404.html", {}, 404)
    posted = composer.Posted.of(form)
    seen = _version(form.get("seen"))
    if seen is None:
        # Without the version the page was drawn at, nothing says the application did not
        # change since: refused as a stale one is, with what was written kept.
        return await _page(request, application, posted=posted, error=UNVERSIONED,
                           status=409)
    decision = workflow.Decision(
        action=posted.action, text=form.get("message"), reason_code=posted.reason_code,
        items=posted.items, seen=seen,
    )
    try:
        await workflow.decide(application, workflow.reviewer_actor(reviewer_of(request)), decision)
    except workflow.review.Changed as changed:
        return await _page(request, application, posted=posted, error=changed.message,
                           changes=changed.events, status=409)
    except workflow.review.WrongText as wrong:
        # The text followed another reason: the form again, with the chosen reason's text.
        return await _page(request, application, posted=posted.with_reasons_text(),
                           error=f"{wrong.message} (The text sent was “{wrong.written_for}”.)",
                           status=wrong.status_code)
    except workflow.DomainError as refused:
        message = refused.message % refused.params if refused.params else refused.message
        return await _page(request, application, posted=posted, error=message,
                           status=refused.status_code)
    return _back(application, {"approve": "approved", "reject": "refused",
                               "request_info": "asked"}[decision.action])


@requires("lead")
async def revoke_permission(request: Request) -> Response:
    """A lead or an admin withdraws the permission an approval granted, with a reason the
    applicant is sent; refused, the page again with the reason kept."""
    form = await _form(request)
    application = await visible_application(request)
    if application is None:
        return render_review(request, "errors/404.html", {}, 404)
    reason = form.get("reason")
    try:
        await permissions.revoke(request.app.state.settings, application,
                                 workflow.reviewer_actor(reviewer_of(request)), reason)
    except workflow.DomainError as refused:
        message = refused.message % refused.params if refused.params else refused.message
        return await _page(request, application, revoke_reason=reason, revoke_error=message,
                           status=refused.status_code)
    return _back(application, "revoked")


def routes() -> list[Route]:
    ref = "/review/applications/{reference}"
    return [
        Route(ref, application_page, name="review_application"),
        Route(ref + "/claim", claim, methods=["POST"]),
        Route(ref + "/release", release, methods=["POST"]),
        Route(ref + "/reassign", reassign, methods=["POST"]),
        Route(ref + "/notes", add_note, methods=["POST"]),
        Route(ref + "/decide", decide, methods=["POST"]),
        Route(ref + "/permission/revoke", revoke_permission, methods=["POST"]),
    ]



