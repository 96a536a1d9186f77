"""Admin pages: the canned responses decisions start from, in every applicant language."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from support.platform import i18n
from support.rules.kinds import KINDS, REJECTION_REASONS
from support.web import params
from support.web.auth import render_review, requires
from support.web.forms import FormInput, read_small_form
from support.workflow import responses
from support.workflow.review import DECISIONS


async def _form(request: Request) -> FormInput:
    return await read_small_form(request)


async def _responses_page(request: Request, error: str = "", status: int = 200,
                          typed: dict[str, Any] | None = None,
                          typed_id: int | None = None) -> Response:
    """Every response with its four language versions side by side. After a refused save,
    the form that was sent opens again with what the admin typed (``typed``)."""
    rows = await responses.every_response()
    return render_review(request, "review/admin_responses.html", {
        "rows": rows, "kinds": KINDS, "decisions": DECISIONS, "reasons": REJECTION_REASONS,
        "languages": [(code, i18n.english_name(code)) for code in i18n.LANGUAGES],
        "missing": {row.id: [i18n.english_name(code) for code in responses.missing_languages(row)]
                    for row in rows},
        "error": error, "notice": request.query_params.get("notice", ""),
        "typed": typed, "typed_id": typed_id,
    }, status)


@requires("admin")
async def canned_responses(request: Request) -> Response:
    return await _responses_page(request)


def _typed(form: FormInput) -> dict[str, Any]:
    """The form as sent, trimmed: what the page shows again if it is refused."""
    translations = {code: form.get(f"body_{code}").strip()
                    for code in i18n.LANGUAGES if code != i18n.DEFAULT}
    return {
        "kind": form.get("kind"), "action": form.get("action"),
        "reason_code": form.get("reason_code") or None,
        "title": form.get("title").strip()[:128], "body": form.get("body").strip(),
        "active": form.get("active") != "0",
        # An empty version is a missing one: the decision form says so to the reviewer.
        "translations": {code: text for code, text in translations.items() if text},
    }


def _problem(values: dict[str, Any]) -> str:
    """What is wrong with the values, or ""."""
    if values["kind"] not in KINDS or values["action"] not in DECISIONS:
        return "Choose the kind and the decision."
    if values["action"] == "reject" and values["reason_code"] not in REJECTION_REASONS:
        return "A refusal needs a reason."
    if not values["title"] or not values["body"]:
        return "Give the response a title and its English text (the version every reviewer reads)."
    return ""


@requires("admin")
async def save_response(request: Request) -> Response:
    form = await _form(request)
    values = _typed(form)
    response_id = params.path_id(request, "response_id")
    if "response_id" in request.path_params and response_id is None:  # 30 digits: a 404
        return render_review(request, "errors/404.html", {}, 404)
    problem = _problem(values)
    if problem:
        return await _responses_page(request, problem, 422, typed=values,
                                     typed_id=response_id)
    if values["action"] != "reject":
        values["reason_code"] = None
    if not await responses.save(values, response_id):
        return render_review(request, "errors/404.html", {}, 404)
    return RedirectResponse("/review/admin/responses?notice=saved", 303)


def routes() -> list[Route]:
    return [
        Route("/review/admin/responses", canned_responses, methods=["GET"]),
        Route("/review/admin/responses", save_response, methods=["POST"]),
        Route("/review/admin/responses/{response_id:int}", save_response, methods=["POST"]),
    ]
