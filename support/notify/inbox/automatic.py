"""Mail that no person wrote: out-of-office answers, other desks' acknowledgements,
lists, bounces. It is recorded and never answered (RFC 3834): two desks answering each
other's answers is the oldest loop in email."""

from __future__ import annotations

from email.message import Message

from support.notify.inbox.headers import header_text

# Subjects of out-of-office answers from clients that send no RFC 3834 header (older
# Exchange, some phone apps), in the four languages' common forms. Lower case, prefixes.
OUT_OF_OFFICE = (
    "out of office", "automatic reply", "auto reply", "autoreply", "auto:",
    "away from the office", "on vacation",
    "автоответ", "автоматический ответ", "нет на месте", "вне офиса", "в отпуске",
    "स्वचालित उत्तर", "स्वयंचलित उत्तर", "कार्यालय से बाहर", "कार्यालयाबाहेर",
)


def why(message: Message, sender: str, own: tuple[str, ...], is_report: bool) -> str | None:
    """Why this message is automatic, in a few words for the record; None for a person."""
    if is_report:
        return "delivery report"
    if sender and sender in own:
        return "our own address"  # our own mail come back: never answer ourselves
    local = sender.partition("@")[0]
    if local in {"mailer-daemon", "postmaster"} or not sender:
        return "mail system"
    submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted.split(';')[0][:40]}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if message.get(name) is not None:
            return name
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in {"bulk", "junk", "list", "auto_reply"}:
        return f"Precedence: {precedence}"
    if message.get("List-Id") is not None or message.get("List-Unsubscribe") is not None:
        return "mailing list"
    if str(message.get("X-Auto-Response-Suppress", "")).strip().lower() in {"oof", "all"}:
        return "X-Auto-Response-Suppress"
    subject = header_text(message.get("Subject")).lower()
    if subject.startswith(OUT_OF_OFFICE):
        return "out-of-office subject"
    return None
