"""Words for the codes the data holds, as a reviewer reads them: states, timeline events,
roles, refusal reasons, kinds, risk flags, messages and their delivery. No page and no
export header shows an internal code (``needs_info``, ``request_info``,
``reason_insufficient``…): a reviewer on their three-hundredth application reads words.

One dictionary per family of codes, so a test can hold each one against where the codes
come from (``Status``, ``TRANSITIONS``, every ``Event.type`` the code writes, ``ROLES``,
``REJECTION_REASONS``, the message templates) and fail when a new code has no words.
Registered as template filters in ``web/templating.py``: ``state_word``, ``event_words``,
``role_word``, ``reason_word``, ``kind_word``, ``flag_word``, ``message_word``,
``delivery_word``, ``channel_word``, ``purpose_word``, ``firmware_word``.

A code no dictionary knows (a row written by a newer release, a retired reason) is shown
as words made from it (``some_code`` → "Some code"), never as the bare code: the page
stays readable and the test on the dictionaries is what catches the gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from support.accounts import roles
from support.data.models import Channel, DeliveryStatus, Reviewer, Status
from support.rules.flags import FLAG_WORDS
from support.rules.kinds import EMAILED, EMAILED_LABEL, INFO_ITEMS, KINDS, REJECTION_REASONS

# Where an application stands. Short enough for a badge, clear in a sentence.
STATE_WORDS: dict[str, str] = {
    Status.SUBMITTED: "Not confirmed yet",
    Status.QUEUED: "Waiting for a reviewer",
    Status.IN_REVIEW: "In review",
    Status.NEEDS_INFO: "Waiting for the applicant",
    Status.APPROVED: "Approved",
    Status.REJECTED: "Refused",
    Status.EXPIRED: "Expired",
    Status.WITHDRAWN: "Withdrawn",
}

# Who may do what on the desk.
ROLE_WORDS: Mapping[str, str] = roles.WORDS  # kept beside the roles: the audit says them too

# Timeline events: each as said without its actor (the audit's "What" column, beside a
# "Who" column) and with it (the application's history: "Taken by Asha"). ``{who}`` is the
# reviewer's name. Events of the applicant or of the desk itself say so in the words.
EVENT_WORDS: dict[str, tuple[str, str]] = {
    # The state machine's actions (workflow/machine.py TRANSITIONS).
    "verify": ("Confirmed by the applicant: waiting for a reviewer",) * 2,
    "expire": ("Expired",) * 2,
    "withdraw": ("Withdrawn by the applicant",) * 2,
    "claim": ("Taken", "Taken by {who}"),
    "release": ("Released to the queue", "Released to the queue by {who}"),
    "reassign": ("Reassigned", "Reassigned by {who}"),
    "approve": ("Approved", "Approved by {who}"),
    "reject": ("Refused", "Refused by {who}"),
    "request_info": ("Asked the applicant for information",
                     "{who} asked the applicant for information"),
    "reply": ("The applicant replied: waiting for a reviewer",) * 2,
    "email_received": ("The applicant wrote by email",) * 2,
    "delivery_returned": ("An email came back undelivered",) * 2,
    # Events that change no state.
    "submitted": ("Submitted by the applicant",) * 2,
    "code_resent": ("The applicant asked for a new confirmation code",) * 2,
    "status_link_sent": ("The applicant asked for their status link again",) * 2,
    "appealed": ("The applicant appealed the refusal",) * 2,
    "note": ("Wrote a note", "Note by {who}"),
    "document_viewed": ("Document viewed", "Document viewed by {who}"),
    "document_unsafe": ("A document could not be made safe",) * 2,
    "delivery_failed": ("A message could not be delivered",) * 2,
    "erasure_requested": ("The applicant asked for their personal data to be erased",) * 2,
    "documents_purged": ("Documents deleted under the retention policy",) * 2,
    "redacted": ("Personal data erased",) * 2,
    "permission_reminded": ("The applicant was reminded that their unused permission ends "
                            "within two days",) * 2,
    "email_corrected": ("Email corrected by the applicant",) * 2,
    "email_correction_started": ("Corrected email given, waiting for its code",) * 2,
    # The permission's life after approval (workflow/permissions.py).
    "permission_redeemed": ("Unlock permission used: the maker's unlock service issued "
                            "the grant for a device",) * 2,
    "permission_revoked": ("Unlock permission revoked", "Unlock permission revoked by {who}"),
}

# An expiry says what ran out, by the state it ended.
EXPIRED_FROM: dict[str, str] = {
    Status.SUBMITTED: "Expired: the confirmation code was never entered",
    Status.NEEDS_INFO: "Expired: the applicant did not answer in time",
}

# Who an event's actor is when it is not a reviewer.
APPLICANT_ACTOR = "applicant"
SYSTEM_ACTOR = "system"
ACTOR_WORDS: dict[str, str] = {APPLICANT_ACTOR: "The applicant", SYSTEM_ACTOR: "The desk"}
SOMEONE = "a reviewer"  # a reviewer's event whose name the page was not given

# The messages the outbox sends, by template (templates/email, templates/sms).
MESSAGE_WORDS: dict[str, str] = {
    "verification_code": "Confirmation code",
    "status_link": "Status link",
    "received": "Application received",
    "approved": "Approval",
    "rejected": "Refusal",
    "info_requested": "Request for information",
    "reply_received": "Reply received",
    "expired_no_reply": "Expired without a reply",
    "withdrawn": "Withdrawal confirmed",
    "erased": "Personal data erased",
    "permission_reminder": "Reminder: the unlock permission ends soon, unused",
    "email_code": "Code to confirm a corrected email",
    "reviewer_invitation": "Reviewer's sign-in link",
    "permission_revoked": "Unlock permission revoked",
    "email_taken": "Their email taken in",
    "mail_unmatched": "Answer to mail no application was found for",
    # Events posted to the maker's endpoints (notify/webhooks.py EVENTS): the template of
    # an outbox row of the webhook channel is the event's name.
    "application.decided": "Event: application decided",
    "permission.granted": "Event: permission granted",
    "permission.redeemed": "Event: permission redeemed",
    "permission.revoked": "Event: permission revoked",
}

DELIVERY_WORDS: dict[str, str] = {
    DeliveryStatus.PENDING: "Pending",  # the deliveries page's tabs say the same
    DeliveryStatus.SENT: "Sent",
    DeliveryStatus.DEAD: "Dead",  # given up: refused, or failed after every retry
}

CHANNEL_WORDS: dict[str, str] = {Channel.EMAIL: "Email", Channel.SMS: "SMS",
                                 Channel.WEBHOOK: "Webhook"}

# Firmware channels (rules/validation.py reads them from the version's shape).
FIRMWARE_WORDS: dict[str, str] = {"developer": "developer build", "stable": "stable build"}


def _code(value: Any) -> str:
    """An enum member or a plain string, as the string the column holds."""
    return str(getattr(value, "value", value) if value is not None else "")


def _made_from(code: str) -> str:
    """Words for a code no dictionary knows: never the bare code with its underscores."""
    return code.replace("_", " ").strip().capitalize()


def _lookup(words: Mapping[str, str], value: Any) -> str:
    code = _code(value)
    return words.get(code) or _made_from(code)


def state_word(status: Any) -> str:
    """``needs_info`` → "Waiting for the applicant"."""
    return _lookup(STATE_WORDS, status)


def role_word(role: Any) -> str:
    """``lead`` → "Lead reviewer"."""
    return _lookup(ROLE_WORDS, role)


def reason_word(code: Any) -> str:
    """A refusal's reason code → its words (``reason_insufficient`` → "The reason does not
    explain why unlocking is needed"). None or empty: empty."""
    return _lookup(REJECTION_REASONS, code) if _code(code) else ""


def info_word(code: Any) -> str:
    """What a reviewer asked the applicant for (``box_photo`` → "A photo of the phone's
    box with the IMEI label")."""
    return _lookup(INFO_ITEMS, code)


def kind_word(code: Any) -> str:
    """``unlock`` → "Bootloader unlock permission"."""
    kind = KINDS.get(_code(code))
    return str(kind.title) if kind else _made_from(_code(code))


def flag_word(code: Any) -> str:
    return _lookup(FLAG_WORDS, code)


def message_word(template: Any) -> str:
    """An outbox row's template → what the message is (``info_requested`` → "Request for
    information")."""
    return _lookup(MESSAGE_WORDS, template)


def delivery_word(status: Any) -> str:
    return _lookup(DELIVERY_WORDS, status)


def channel_word(channel: Any) -> str:
    return _lookup(CHANNEL_WORDS, channel)


def firmware_word(channel: Any) -> str:
    """A firmware channel as said after the version: "developer build"."""
    return FIRMWARE_WORDS.get(_code(channel)) or _made_from(_code(channel)).lower()


def purpose_word(purpose: Any) -> str:
    """A document's purpose (its upload slot) → the slot's label (``box_photo`` →
    "Photo of the phone's box (optional)" without the "(optional)")."""
    code = _code(purpose)
    if code == EMAILED:
        return EMAILED_LABEL
    for kind in KINDS.values():
        for slot in kind.documents:
            if slot.name == code:
                return str(slot.label).removesuffix(" (optional)")
    return _made_from(code)


async def actor_names(events: Iterable[Any]) -> dict[str, str]:
    """The names ``event_words`` needs for these events' reviewers (actor → name), in one
    statement."""
    ids = {int(actor.split(":", 1)[1]) for actor in (str(e.actor) for e in events)
           if actor.startswith("reviewer:") and actor.split(":", 1)[1].isdigit()}
    if not ids:
        return {}
    return {f"reviewer:{who.id}": who.name for who in await Reviewer.filter(id__in=ids)}


def event_words(event: Any, names: Mapping[str, str] | None = None) -> str:
    """What an event says happened, in words. With ``names`` (actor → a reviewer's name)
    the actor is part of the words ("Taken by Asha"); without, the words stand beside a
    "Who" column ("Taken")."""
    kind = _code(getattr(event, "type", event))
    if kind == "expire":
        return EXPIRED_FROM.get(_code(getattr(event, "from_status", None)), "Expired")
    if kind == "reply" and getattr(event, "via", "") == "email":
        return "The applicant replied by email: waiting for a reviewer"
    pair = EVENT_WORDS.get(kind)
    if pair is None:
        return _made_from(kind)
    plain, with_who = pair
    actor = _code(getattr(event, "actor", ""))
    if names is None or "{who}" not in with_who:
        return plain
    who = ACTOR_WORDS.get(actor, "").lower() or names.get(actor) or SOMEONE
    said = with_who.format(who=who)
    return said[:1].upper() + said[1:]


def event_plain(kind: str) -> str:
    """An event type's words without its actor, for a table with a "Who" column."""
    pair = EVENT_WORDS.get(kind)
    return pair[0] if pair else _made_from(kind)


# What the code writes as the message of these events says only what their words say
# ("Taken by Asha." under "Taken by Asha"): the history shows the words alone.
SAID_BY_THE_WORDS: dict[str, tuple[str, ...]] = {
    "claim": ("Taken by ",),
    "verify": ("Contact confirmed; waiting for review.",),
    "release": ("Returned to the queue.",),
}


def event_detail(event: Any) -> str:
    """An event's message where it adds to its words (a decision's text, a reply, a note,
    why the desk did something); "" where it would repeat them."""
    message = str(event.message or "")
    repeats = SAID_BY_THE_WORDS.get(str(event.type), ())
    if any(message == said or (said.endswith(" ") and message.startswith(said)
                               and message.count(".") == 1) for said in repeats):
        return ""
    return message

