"""The decision forms of the application page: which canned text each starts from, in the
applicant's language, and what a refused decision puts back in front of the reviewer.

A refusal's form follows its reason: it opens on a reason with that reason's text; a text
picked from the list brings its reason with it; and a decision sent back (changed
application, wrong text, missing field) shows exactly what the reviewer wrote."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from support.data.models import Application, Status
from support.rules.kinds import Kind
from support.web.forms import FormInput
from support.workflow.responses import Option
from support.workflow.review import DECISIONS


@dataclass(frozen=True)
class Posted:
    """A decision as the reviewer sent it."""

    action: str
    reason_code: str | None
    message: str | None  # None: load the chosen reason's canned text
    items: tuple[str, ...]

    @classmethod
    def of(cls, form: FormInput) -> Posted:
        return cls(action=form.get("action"), reason_code=form.get("reason_code") or None,
                   message=form.get("message"), items=tuple(form.fields.get("items", [])))

    def with_reasons_text(self) -> Posted:
        return replace(self, message=None)


@dataclass(frozen=True)
class DecisionForm:
    action: str
    option: Option | None  # the canned text it starts from
    reason_code: str | None
    text: str
    items: tuple[str, ...]
    open: bool

    @property
    def missing(self) -> bool:
        """A canned text exists, but not in the applicant's language."""
        return self.option is not None and self.option.missing


def _first(options: list[Option], action: str, reason: str | None = None) -> Option | None:
    return next((o for o in options if o.action == action
                 and (reason is None or o.reason_code == reason)), None)


def forms(options: list[Option], *, use: int | None = None,
          posted: Posted | None = None) -> dict[str, DecisionForm]:
    picked = next((o for o in options if o.id == use), None)
    opened = posted.action if posted else picked.action if picked else "approve"
    result: dict[str, DecisionForm] = {}
    for action in DECISIONS:
        option = _first(options, action)
        reason = option.reason_code if option else None
        text = option.text if option else ""
        items: tuple[str, ...] = ()
        if picked is not None and picked.action == action:
            option, reason, text = picked, picked.reason_code, picked.text
        if posted is not None and posted.action == action:
            if action == "reject":
                reason = posted.reason_code
                option = _first(options, action, reason) if reason else None
            text = posted.message if posted.message is not None else (
                option.text if option else "")
            items = posted.items
        result[action] = DecisionForm(action=action, option=option, reason_code=reason,
                                      text=text, items=items, open=action == opened)
    return result


def reply_by(application: Application, kind: Kind) -> datetime | None:
    """Until when the applicant may answer a request for information."""
    if application.status != Status.NEEDS_INFO or application.info_requested_at is None:
        return None
    return kind.answer_due(application.info_requested_at)
