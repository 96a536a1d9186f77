"""Which other applications share something with one: its account, its phone number, its
IMEI, or a receipt file (the same bytes: the upload's SHA-256).

Two readers ask it: the risk signals (``workflow/risk.py``) turn the answers into warnings
and the related-applications panel (``reads/related.py``) lists them. Those two are
siblings that may not import each other, so the question is asked here, below both, and
both match the same way. Above all, a value that is not there shares nothing: an
application without an IMEI is not related to every other one without an IMEI, and a
redacted application (its account, phone and email replaced by ``redacted-<id>``, its IMEI
blanked, its documents deleted: ``workflow/retention.py``) shares nothing at all.

Each condition is one indexed look-up: ``application_account_idx``,
``application_phone_idx``, ``application_imei_idx``; receipts through
``document_application_idx`` (this application's receipts) then ``document_sha256_idx``
(the same file elsewhere).
"""

from __future__ import annotations

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from support.data.models import Application, Document

ACCOUNT, PHONE, IMEI, RECEIPT = "account", "phone", "imei", "receipt"
# What is compared, by the column that holds it.
FIELDS: dict[str, str] = {ACCOUNT: "account_id", PHONE: "phone", IMEI: "imei"}
RECEIPT_PURPOSE = "receipt"  # Document.purpose of a receipt (rules/kinds.py RECEIPT)
# What retention writes in place of personal fields (workflow/retention.py REDACTED; a
# test holds the two together).
REDACTED_PREFIX = "redacted-"


def shareable(value: str | None) -> bool:
    """A value two applications can truly have in common: not missing, not blank, not a
    redaction's placeholder."""
    return bool(value and value.strip()) and not str(value).startswith(REDACTED_PREFIX)


def same(application: Application, what: str) -> Q | None:
    """The condition "has the same ``what`` (account, phone or IMEI)", or None when this
    application has nothing there to share."""
    if application.redacted_at is not None:
        return None
    column = FIELDS[what]
    value = getattr(application, column)
    if not shareable(value):
        return None
    return Q(**{column: value})


def receipt_twins(application: Application) -> QuerySet[Document] | None:
    """Receipts of other applications with the same bytes as one of this application's
    receipts (its own receipts are a subquery: one statement), or None when a redacted
    application has no receipts left to compare."""
    if application.redacted_at is not None:
        return None
    mine = Document.filter(application_id=application.pk, purpose=RECEIPT_PURPOSE).values(
        "sha256")
    return (
        Document.filter(purpose=RECEIPT_PURPOSE, sha256__in=Subquery(mine))
        .exclude(application_id=application.pk)
        .exclude(sha256="")
    )
