"""The workflow layer: every change of an application's state goes through here.

``machine`` holds the state machine as data; ``applicant``, ``review`` (with ``bulk`` for a
lead's many at once) and ``housekeeping`` hold the actions of each kind of actor;
``presence`` who has an application open; ``responses`` the canned texts; ``risk`` the
signals stored beside an application; ``retention``, ``erasure`` and ``purge`` what we stop
keeping, by policy and on request; ``reviewers`` the admins' actions on accounts that send
an email (an invitation, a new sign-in link). Endpoints and the clock call these functions
and never change rows themselves.

May import: ``rules``, ``documents``, ``notify`` (to write the outbox), ``accounts``,
``data``, ``platform``, ``config``. Never ``web``, ``reads`` or ``clock``.
"""

from support.workflow.appeals import appeal, appeal_facts, appeal_key, appealable
from support.workflow.applicant import (
    ApplicationInput,
    Upload,
    ensure_unconfirmed,
    reply,
    resend_code,
    set_language,
    submit,
    verify,
    withdraw,
)
from support.workflow.contact import (
    EmailRefused,
    TooSoon,
    can_correct_email,
    confirm_email_correction,
    email_correction_refusal,
    resend_email_code,
    start_email_correction,
    waiting_email,
)
from support.workflow.erasure import Erasure, carry_out_requested, erasure_state, request_erasure
from support.workflow.housekeeping import (
    expire_unanswered,
    expire_unverified,
    release_stale_claims,
)
from support.workflow.machine import (
    ACTIONS,
    TRANSITIONS,
    Actor,
    CodeRejected,
    DomainError,
    allowed,
    reviewer_actor,
)
from support.workflow.purging import purge, run_daily
from support.workflow.retention import PurgeReport
from support.workflow.review import Decision, add_note, claim, claim_next, decide, reassign, release
from support.workflow.status_links import (
    application_for_token,
    new_status_link,
    request_status_link,
)

__all__ = [
    "set_language",
    "ACTIONS", "TRANSITIONS", "Actor", "ApplicationInput", "CodeRejected", "Decision",
    "DomainError", "Upload", "add_note", "allowed", "appeal", "appeal_facts",
    "appeal_key", "appealable",
    "application_for_token", "claim",
    "claim_next", "decide", "expire_unanswered", "expire_unverified",
    "ensure_unconfirmed", "new_status_link", "reassign", "release", "release_stale_claims", "reply",
    "request_status_link", "resend_code", "reviewer_actor", "submit", "verify",
    "withdraw",
    "Erasure", "PurgeReport", "carry_out_requested", "erasure_state", "purge",
    "request_erasure", "run_daily",
    "EmailRefused", "TooSoon", "can_correct_email", "confirm_email_correction",
    "email_correction_refusal", "resend_email_code", "start_email_correction",
    "waiting_email",
]
