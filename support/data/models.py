"""ORM models only. Rules about how rows change live in ``workflow.py``.

No semicolons in model docstrings: Tortoise writes them into SQL comments and its SQLite
schema editor splits statements on them (test_migrations catches it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Status(StrEnum):
    SUBMITTED = "submitted"
    QUEUED = "queued"
    IN_REVIEW = "in_review"
    NEEDS_INFO = "needs_info"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    # An event posted to a maker's endpoint (``recipient`` is ``webhook:<endpoint id>``),
    # retried and dead-lettered like any message.
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class Application(Model):
    id = fields.IntField(primary_key=True)
    reference = fields.CharField(max_length=16, unique=True)
    kind = fields.CharField(max_length=16)
    status = fields.CharEnumField(Status, max_length=16, default=Status.SUBMITTED)
    account_id = fields.CharField(max_length=20)
    country = fields.CharField(max_length=2)
    phone = fields.CharField(max_length=20)
    email = fields.CharField(max_length=254)
    model = fields.CharField(max_length=64)
    firmware = fields.CharField(max_length=64)
    firmware_channel = fields.CharField(max_length=16)
    imei = fields.CharField(max_length=15, null=True)
    reason = fields.TextField()
    locale = fields.CharField(max_length=8, default="en")
    priority = fields.IntField(default=0)
    # The one-time token of the form that created this row: a second press of "submit"
    # hits the unique constraint instead of creating a twin.
    submission_key = fields.CharField(max_length=64, unique=True)
    due_at = fields.DatetimeField(null=True)
    verified_at = fields.DatetimeField(null=True)
    decided_at = fields.DatetimeField(null=True)
    # Review: who holds the claim (a lease renewed by activity), and who it is held for
    # after the applicant answers a request for information.
    assignee: fields.ForeignKeyNullableRelation[Reviewer] = fields.ForeignKeyField(
        "models.Reviewer", related_name="claimed", null=True, on_delete=fields.SET_NULL
    )
    claimed_at = fields.DatetimeField(null=True)
    last_activity_at = fields.DatetimeField(null=True)
    held_for: fields.ForeignKeyNullableRelation[Reviewer] = fields.ForeignKeyField(
        "models.Reviewer", related_name="held", null=True, on_delete=fields.SET_NULL
    )
    held_until = fields.DatetimeField(null=True)
    # Who last asked the applicant for information: "My work" shows what waits on them.
    asked_by: fields.ForeignKeyNullableRelation[Reviewer] = fields.ForeignKeyField(
        "models.Reviewer", related_name="asked", null=True, on_delete=fields.SET_NULL
    )
    # The phone written backwards, so "its last digits" is a prefix: an index range on
    # either database, where ``phone LIKE '%1234'`` reads every row.
    phone_reversed = fields.CharField(max_length=20, default="", db_default="")
    # The decision, as the applicant was told it.
    decided_by: fields.ForeignKeyNullableRelation[Reviewer] = fields.ForeignKeyField(
        "models.Reviewer", related_name="decided", null=True, on_delete=fields.SET_NULL
    )
    decision_code = fields.CharField(max_length=32, null=True)
    decision_text = fields.TextField(null=True)
    permission_expires_at = fields.DatetimeField(null=True)
    # When the maker's unlock service used the permission (issue 22 sets it): an unused
    # one near its end gets one reminder, sent at ``permission_reminded_at``.
    permission_used_at = fields.DatetimeField(null=True)
    permission_reminded_at = fields.DatetimeField(null=True)
    # The applicant's IANA zone: their own choice where the country has several, else the
    # country's one. Every date they see (pages, emails, SMS) is on this clock. Null on
    # rows from before it was asked (rules.zones falls back to the country's).
    time_zone = fields.CharField(max_length=64, null=True)
    # An applicant may give a corrected email once (after a bounce or a typo), confirmed
    # by a code sent to it.
    email_corrected_at = fields.DatetimeField(null=True)
    info_request: dict[str, Any] | None = fields.JSONField(null=True)
    info_requested_at = fields.DatetimeField(null=True)
    appeal_of: fields.ForeignKeyNullableRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="appeals", null=True, on_delete=fields.SET_NULL
    )
    # Retention and erasure: when the applicant asked to be forgotten, when the documents
    # were deleted, and when the personal fields were redacted (decisions stay for statistics).
    erasure_requested_at = fields.DatetimeField(null=True)
    documents_purged_at = fields.DatetimeField(null=True)
    redacted_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    documents: fields.ReverseRelation[Document]

    class Meta:
        table = "application"
        indexes = [
            # The queue's order exactly (priority DESC, due_at, id): a page is a range read
            # that stops after 51 rows, never a sort of the whole tab.
            Index(fields=("status", "priority DESC", "due_at", "id"),
                  name="application_queue_idx"),
            # "Recently decided", newest first (only decided rows have decided_at), with the
            # columns a reviewer's scope and the filters read, so a page's ids come from
            # the index alone.
            Index(fields=("decided_at", "id", "status", "kind", "country"),
                  name="application_decided_idx"),
            # One kind in one country, in the queue's order: a filtered page is a range too,
            # and each tab's count in a reviewer's queues (their kinds and countries) and
            # its ids, to join with risk flags, come from the index alone.
            Index(fields=("status", "kind", "country", "priority DESC", "due_at", "id"),
                  name="application_scope_idx"),
            Index(fields=("status", "created_at"), name="application_status_created_idx"),
            Index(fields=("phone",), name="application_phone_idx"),
            Index(fields=("phone_reversed",), name="application_phone_reversed_idx"),
            Index(fields=("asked_by_id", "status"), name="application_asked_by_idx"),
            Index(fields=("held_for_id", "status"), name="application_held_for_idx"),
            Index(fields=("email",), name="application_email_idx"),
            Index(fields=("imei",), name="application_imei_idx"),
            Index(fields=("account_id",), name="application_account_idx"),
            Index(fields=("assignee_id", "status"), name="application_assignee_idx"),
            # The worker's per-minute look for permissions that lapse within two days.
            Index(fields=("permission_expires_at",), name="application_permission_expiry_idx"),
            # The worker's per-minute look for erasures waiting on a decision.
            Index(fields=("erasure_requested_at", "redacted_at"), name="application_erasure_idx"),
        ]


class Document(Model):
    id = fields.IntField(primary_key=True)
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="documents", on_delete=fields.CASCADE
    )
    purpose = fields.CharField(max_length=16)
    content_type = fields.CharField(max_length=32)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    storage_key = fields.CharField(max_length=64, unique=True)
    # Where an upload waits in the spool (``spool.Place``) until the worker writes its
    # file under ``storage_key``; null once written (``sanitised_at`` set) or for a large
    # upload, moved there at once.
    spooled = fields.CharField(max_length=64, null=True)
    original_name = fields.CharField(max_length=255)
    uploaded_by = fields.CharField(max_length=32, default="applicant")
    # Set once the file on disk is the re-encoded copy (images: metadata stripped) or a
    # checked PDF. Reviewers are only ever served documents with this set.
    sanitised_at = fields.DatetimeField(null=True)
    # A PDF's pages as PDFium counts them, learned when it is filed, so the application
    # page never starts PDFium to say it (0: it cannot be drawn). Null: not counted yet
    # (not a PDF, not filed yet, or filed before the count was kept).
    page_count = fields.IntField(null=True)
    # What the worker read in it (issue 26, ``workflow.readings``): barcodes and printed
    # facts, ``[{"fact", "value", "source", "where"}]``. Personal data kept only here, so
    # it goes with the document. Null ``read_at``: not read yet.
    read_at = fields.DatetimeField(null=True)
    findings: list[dict[str, str]] | None = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "document"
        indexes = [
            Index(fields=("sha256",), name="document_sha256_idx"),
            Index(fields=("application_id", "purpose"), name="document_application_idx"),
            # The worker's per-tick look for documents still to be made safe.
            Index(fields=("sanitised_at", "id"), name="document_sanitised_idx"),
            # ... and for the documents still to be read (clock.reading).
            Index(fields=("read_at", "id"), name="document_read_idx"),
        ]


class Event(Model):
    """The timeline: one row per change or note. Rows are never deleted and only the
    retention policy updates them (it blanks applicant-written text when it redacts)."""

    id = fields.IntField(primary_key=True)
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="events", on_delete=fields.CASCADE
    )
    at = fields.DatetimeField(auto_now_add=True)
    actor = fields.CharField(max_length=64)
    type = fields.CharField(max_length=32)
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16, null=True)
    message = fields.TextField(default="")
    internal = fields.BooleanField(default=False)
    # How the applicant's words came when not through their page: "email" (issue 23).
    via = fields.CharField(max_length=8, default="", db_default="")

    class Meta:
        table = "event"
        indexes = [
            Index(fields=("application_id", "at"), name="event_application_at_idx"),
            # The audit page (support/reads/audit.py), newest first: every reviewer's actions read
            # backwards along this one (the actor is checked on the index entry, so a page
            # ids come from the index alone), one reviewer's along the next.
            Index(fields=("at", "id", "actor"), name="event_at_idx"),
            Index(fields=("actor", "at", "id"), name="event_actor_at_idx"),
        ]


class Verification(Model):
    """The current one-time code of an application. Codes are stored only as HMACs."""

    id = fields.IntField(primary_key=True)
    application: fields.OneToOneRelation[Application] = fields.OneToOneField(
        "models.Application", related_name="verification", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64)
    expires_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    sends = fields.IntField(default=1)
    last_sent_at = fields.DatetimeField()
    # What the code proves: the first contact ("contact"), or a corrected email address
    # ("email", held in ``new_email`` until the code comes back).
    purpose = fields.CharField(max_length=16, default="contact", db_default="contact")
    new_email = fields.CharField(max_length=254, null=True)

    class Meta:
        table = "verification"


class AccessToken(Model):
    """A private status link. Several may be live (the first, and any sent by a look-up)."""

    id = fields.IntField(primary_key=True)
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="access_tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "access_token"
        indexes = [Index(fields=("application_id",), name="access_token_application_idx")]


class Notification(Model):
    """The outbox. Written in the same transaction as the change it announces."""

    id = fields.IntField(primary_key=True)
    application: fields.ForeignKeyNullableRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    channel = fields.CharEnumField(Channel, max_length=8)
    recipient = fields.CharField(max_length=254)
    template = fields.CharField(max_length=64)
    context: dict[str, Any] = fields.JSONField(default=dict)
    locale = fields.CharField(max_length=8, default="en")
    status = fields.CharEnumField(DeliveryStatus, max_length=8, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_error = fields.TextField(default="")
    # One entry per failed attempt: {"at": ISO time, "error": text}, for the delivery log.
    attempt_log: list[dict[str, str]] = fields.JSONField(default=list, db_default="[]")
    idempotency_key = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    # A code or a status link: the applicant is waiting on the page for it, so it is sent
    # before any other message and never held back in a burst (clock.worker).
    urgent = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "notification"
        indexes = [
            Index(fields=("status", "next_attempt_at"), name="notification_due_idx"),
            Index(fields=("status", "urgent", "next_attempt_at"), name="notification_urgent_idx"),
            # Redaction and erasure find an application's outbox rows by it.
            Index(fields=("application_id",), name="notification_application_idx"),
            # The reports page counts dead messages by channel from this index alone.
            Index(fields=("status", "channel"), name="notification_status_channel_idx"),
        ]


class Reviewer(Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=128)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharField(max_length=16, default="reviewer")
    active = fields.BooleanField(default=True)
    # The queues a reviewer works: kinds, and optionally only some countries (empty = all).
    kinds: list[str] = fields.JSONField(default=list, db_default="[]")
    countries: list[str] = fields.JSONField(default=list, db_default="[]")
    failed_logins = fields.IntField(default=0, db_default=0)
    locked_until = fields.DatetimeField(null=True)
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # The second factor (accounts/second_factor.py): the TOTP secret once its first code
    # was typed, the one being set up until then, and the last time-step a code was
    # accepted for (a code works once).
    totp_secret = fields.CharField(max_length=64, null=True)
    totp_pending_secret = fields.CharField(max_length=64, null=True)
    totp_enabled_at = fields.DatetimeField(null=True)
    totp_last_step = fields.BigIntField(null=True)

    class Meta:
        table = "reviewer"


class ReviewerSession(Model):
    """Server-side sessions, so deactivating a reviewer ends every session at once.
    The cookie holds a random id and only its SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    reviewer: fields.ForeignKeyRelation[Reviewer] = fields.ForeignKeyField(
        "models.Reviewer", related_name="sessions", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    # Half signed in: the password was right, the second step (a code, or setting one up)
    # is still to come. Such a session opens nothing but that step and signing out.
    pending = fields.BooleanField(default=False, db_default=False)
    # The browser's User-Agent, cut short, so a reviewer can tell their sessions apart.
    user_agent = fields.CharField(max_length=200, default="", db_default="")

    class Meta:
        table = "reviewer_session"


class RecoveryCode(Model):
    """A single-use code for a reviewer without their authenticator: 80 random bits, so
    only its SHA-256 is kept."""

    id = fields.IntField(primary_key=True)
    reviewer: fields.ForeignKeyRelation[Reviewer] = fields.ForeignKeyField(
        "models.Reviewer", related_name="recovery_codes", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64)
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "recovery_code"
        indexes = [Index(fields=("reviewer_id", "code_hash"), name="recovery_code_reviewer_idx")]


class ReviewerLink(Model):
    """A link sent by email to set a password (an invitation, or after an admin's reset).
    Single use, valid 24 hours, and only the SHA-256 of its token is kept."""

    id = fields.IntField(primary_key=True)
    reviewer: fields.ForeignKeyRelation[Reviewer] = fields.ForeignKeyField(
        "models.Reviewer", related_name="links", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    purpose = fields.CharField(max_length=16)  # invitation | reset
    created_by: fields.ForeignKeyNullableRelation[Reviewer] = fields.ForeignKeyField(
        "models.Reviewer", related_name="links_sent", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "reviewer_link"


class AccountEvent(Model):
    """What happened to a reviewer account and who did it (an admin, the reviewer, the CLI
    or the system), for the audit page. Rows are never changed or deleted."""

    id = fields.IntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True)
    actor = fields.CharField(max_length=64)
    reviewer: fields.ForeignKeyRelation[Reviewer] = fields.ForeignKeyField(
        "models.Reviewer", related_name="account_events", on_delete=fields.CASCADE
    )
    type = fields.CharField(max_length=32)
    message = fields.TextField(default="")

    class Meta:
        table = "account_event"
        indexes = [Index(fields=("at", "id"), name="account_event_at_idx")]


class RiskFlag(Model):
    """A warning computed from other applications, with the reason a reviewer reads."""

    id = fields.IntField(primary_key=True)
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="flags", on_delete=fields.CASCADE
    )
    code = fields.CharField(max_length=32)
    reason = fields.TextField()
    related: list[str] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "risk_flag"
        unique_together = (("application", "code"),)
        indexes = [Index(fields=("code", "application_id"), name="risk_flag_code_idx")]


class CannedResponse(Model):
    """A starting text for a decision. Reviewers edit it before sending."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=16)
    action = fields.CharField(max_length=16)  # approve | reject | request_info
    reason_code = fields.CharField(max_length=32, null=True)
    title = fields.CharField(max_length=128)
    body = fields.TextField()  # in English, the desk's language
    # The same text in the applicants' other languages ({"hi": ..., "mr": ..., "ru": ...}):
    # a decision goes out in the applicant's language from heading to body.
    translations: dict[str, str] = fields.JSONField(default=dict, db_default="{}")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "canned_response"


class ApplicationViewer(Model):
    """Who has an application open, as of their page's last sign of life: the page says who
    else is looking, so two reviewers do not work one application unknowingly."""

    id = fields.IntField(primary_key=True)
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="viewers", on_delete=fields.CASCADE
    )
    reviewer: fields.ForeignKeyRelation[Reviewer] = fields.ForeignKeyField(
        "models.Reviewer", related_name="viewing", on_delete=fields.CASCADE
    )
    seen_at = fields.DatetimeField()

    class Meta:
        table = "application_viewer"
        unique_together = (("application", "reviewer"),)


class ReportDay(Model):
    """The figures of one UTC day for the reports page, kept by the worker (reports/rollup.py).

    One row per day and per value of a dimension (kind, country or model): the decisions
    taken that day, and for kinds the applications open at the end of it and how many of
    those were past their due date. The page reads thirty days of these rows instead of a
    million applications."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField()
    dimension = fields.CharField(max_length=8)
    key = fields.CharField(max_length=64)
    approved = fields.IntField(default=0)
    rejected = fields.IntField(default=0)
    backlog = fields.IntField(null=True)
    overdue = fields.IntField(null=True)
    # When the worker last wrote the day: past days written after they settled are final.
    computed_at = fields.DatetimeField()

    class Meta:
        table = "report_day"
        unique_together = (("day", "dimension", "key"),)


class ReportDuration(Model):
    """How long the decisions of one UTC day took from confirmation, by kind, as a histogram of
    logarithmic buckets (about 2 percent wide) with the shortest and longest time in each.
    Percentiles come from summed buckets, on either database, in bounded memory."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField()
    kind = fields.CharField(max_length=16)
    bucket = fields.IntField()
    count = fields.IntField()
    min_seconds = fields.BigIntField()
    max_seconds = fields.BigIntField()

    class Meta:
        table = "report_duration"
        unique_together = (("day", "kind", "bucket"),)


class ApiKey(Model):
    """A key of one of the maker's services for ``/api/v1``. Only its SHA-256 is kept: the
    key itself is shown once, when it is made. ``prefix`` (its first characters) names it
    in lists and logs without giving it away."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    prefix = fields.CharField(max_length=16)
    key_hash = fields.CharField(max_length=64, unique=True)
    scopes: list[str] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    created_by = fields.CharField(max_length=64, default="")
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"


class Permission(Model):
    """What an approved unlock grants: one account, one model, until ``expires_at``, to be
    redeemed once by one device (the signed grant is kept, so a retry from that device gets
    the same one), or revoked by a lead with a reason."""

    id = fields.IntField(primary_key=True)
    application: fields.OneToOneRelation[Application] = fields.OneToOneField(
        "models.Application", related_name="permission", on_delete=fields.CASCADE
    )
    account_id = fields.CharField(max_length=20)
    model = fields.CharField(max_length=64)
    granted_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    redeemed_at = fields.DatetimeField(null=True)
    device_id = fields.CharField(max_length=64, null=True)
    grant = fields.TextField(null=True)
    grant_expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    revoked_by = fields.CharField(max_length=64, null=True)
    revoked_reason = fields.TextField(null=True)

    class Meta:
        table = "permission"
        indexes = [
            # The check: an account's permissions, newest first (and its quota: what it
            # redeemed in the last year).
            Index(fields=("account_id", "granted_at"), name="permission_account_idx"),
            Index(fields=("account_id", "redeemed_at"), name="permission_redeemed_idx"),
        ]


class SigningKey(Model):
    """An Ed25519 key the desk signs unlock grants with. The newest unretired one signs, and
    a retired one is still published (``GET /api/v1/keys``) until the grants it signed
    have expired. ``private_jwk`` is secret: it never leaves the server."""

    id = fields.IntField(primary_key=True)
    kid = fields.CharField(max_length=64, unique=True)
    private_jwk: dict[str, Any] = fields.JSONField()
    public_jwk: dict[str, Any] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)
    retired_at = fields.DatetimeField(null=True)

    class Meta:
        table = "signing_key"


class WebhookEndpoint(Model):
    """A maker's URL told of events (``events``: names like ``permission.granted``). The
    secret signs each delivery (HMAC-SHA256), so it is kept as it is, shown once."""

    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=500)
    secret = fields.CharField(max_length=128)
    events: list[str] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    created_by = fields.CharField(max_length=64, default="")
    disabled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_endpoint"


class InboundMail(Model):
    """Each message that came in, once: its receipt (``key``: the mailbox's UID, or the
    LMTP message's digest) is written in the transaction that acts on it, so a receiver
    that dies between the two takes it again from scratch and one that dies after finds
    it taken. ``outcome`` says what became of it (support/workflow/mail.py OUTCOMES).
    ``sender``, ``subject`` and ``excerpt`` are personal data: erased with the application,
    and purged with the retention policy when no application is known."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=255, unique=True)
    received_at = fields.DatetimeField(auto_now_add=True)
    outcome = fields.CharField(max_length=16)
    application: fields.ForeignKeyNullableRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="mail", null=True, on_delete=fields.CASCADE
    )
    # The email a delivery report was about.
    notification: fields.ForeignKeyNullableRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="reports", null=True, on_delete=fields.SET_NULL
    )
    sender = fields.CharField(max_length=254, default="")
    subject = fields.CharField(max_length=500, default="")
    # The words of a message no application was found for, so a reviewer can read it.
    excerpt = fields.TextField(default="")
    detail = fields.CharField(max_length=300, default="")  # why, in a few words
    answered = fields.BooleanField(default=False)  # an automatic answer was written
    size = fields.IntField(default=0)
    documents = fields.IntField(default=0)  # attachments filed as documents

    class Meta:
        table = "inbound_mail"
        indexes = [
            # The reviewers' list of mail no application was found for, newest first.
            Index(fields=("outcome", "received_at"), name="inbound_mail_outcome_idx"),
            # At most one automatic answer an hour to one address.
            Index(fields=("sender", "received_at"), name="inbound_mail_sender_idx"),
        ]
