"""Settings read from the environment (prefix ``SUPPORT_``) with embedded defaults.

One frozen object is built at start-up and passed around explicitly, so tests can run
several differently configured apps in one process without touching ``os.environ``.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from limits import parse

PREFIX = "SUPPORT_"


class ConfigError(ValueError):
    """A setting has a value the app cannot work with; raised at start-up, not mid-request."""


class StorageUrlError(ConfigError):
    """SUPPORT_STORAGE_URL cannot be used; the message says why, for the operator."""


@dataclass(frozen=True)
class Bucket:
    """Where documents are kept in S3-compatible storage (``SUPPORT_STORAGE_URL``)."""

    name: str
    prefix: str  # "" or ending in "/"
    endpoint: str | None  # None: AWS's own, by region
    region: str
    access_key: str
    secret_key: str = field(repr=False)

    def key(self, storage_key: str) -> str:
        return self.prefix + storage_key


@functools.lru_cache(maxsize=8)  # read on every document: parsed once
def parse_storage_url(url: str, access_key: str, secret_key: str) -> Bucket:
    """``s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:7480&region=us-east-1``."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.hostname:
        raise StorageUrlError("SUPPORT_STORAGE_URL must look like s3://BUCKET/PREFIX?endpoint="
                              "https://s3.example.com&region=REGION")
    options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"endpoint", "region"}
    if unknown:
        raise StorageUrlError(f"SUPPORT_STORAGE_URL: unknown option {sorted(unknown)[0]!r} "
                              "(endpoint and region are known)")
    endpoint = options.get("endpoint")
    if endpoint is not None and urlsplit(endpoint).scheme not in {"http", "https"}:
        raise StorageUrlError("SUPPORT_STORAGE_URL: endpoint must be an http(s):// address")
    if not access_key or not secret_key:
        raise StorageUrlError("SUPPORT_STORAGE_URL needs SUPPORT_S3_ACCESS_KEY and "
                              "SUPPORT_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY)")
    prefix = parts.path.strip("/")
    return Bucket(name=parts.hostname, prefix=f"{prefix}/" if prefix else "",
                  endpoint=endpoint, region=options.get("region") or "us-east-1",
                  access_key=access_key, secret_key=secret_key)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name} must be a whole number, not {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{PREFIX}{name} must be 1 or 0, not {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, allowed: set[str]) -> str:
    value = env.get(PREFIX + name) or default
    if value not in allowed:
        raise ConfigError(f"{PREFIX}{name} must be one of {sorted(allowed)}, not {value!r}")
    return value


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    """A limit in the ``limits`` library's notation ("10/hour", "3 per day"), checked here
    so a typo stops the start-up instead of every request."""
    value = env.get(PREFIX + name) or default
    try:
        parse(value)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name} must read like 10/hour or 3 per day, "
                          f"not {value!r}") from None
    return value


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    """A retention period: at least one day, so a typo cannot purge what was just decided."""
    value = _int(env, name, default)
    if value < 1:
        raise ConfigError(f"{PREFIX}{name} must be at least 1 (days), not {value}")
    return value


def _at_least_one(env: Mapping[str, str], name: str, default: int) -> int:
    """A count that must allow something: 0 would refuse every unlock for good."""
    value = _int(env, name, default)
    if value < 1:
        raise ConfigError(f"{PREFIX}{name} must be at least 1, not {value}")
    return value


SLA_VARIABLE = re.compile(re.escape(PREFIX) + r"SLA_([A-Z0-9_]+)_HOURS")


def _sla_hours(env: Mapping[str, str]) -> dict[str, int]:
    """``SUPPORT_SLA_<KIND>_HOURS`` for any kind: settings know no kinds (they are below
    the rules), so every such variable is read and the kind's code is its lower case."""
    found = {}
    for name in env:
        match = SLA_VARIABLE.fullmatch(name)
        if match and env[name] != "":
            hours = _int(env, name.removeprefix(PREFIX), 0)
            if hours < 1:
                raise ConfigError(f"{name} must be at least 1 (hours), not {hours}")
            found[match.group(1).lower()] = hours
    return found


def _existing_secret(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    return path.read_text().strip() if path.exists() else ""


def load_or_create_secret(data_dir: Path) -> str:
    """Keep a generated key in the data dir so sessions and tokens survive restarts
    without asking a first-time user to invent a secret."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: str
    base_url: str = "http://127.0.0.1:8000"
    email_backend: str = "file"
    sms_backend: str = "log"
    email_from: str = "Support desk <support@localhost>"
    inprocess_worker: bool = True
    worker_interval: float = 1.0
    # In a burst the worker sends one batch a tick while the cores are contended, unless
    # a due message has waited this long (support/clock/pacing.py); 0: never give way.
    worker_yield_seconds: int = 30
    # Promises made to applicants, hours from confirmation to a decision, by kind code:
    # only where they differ from what the kind declares (rules/kinds.py).
    sla_hours: dict[str, int] = field(default_factory=dict)
    max_file_bytes: int = 10 * 1024 * 1024
    max_body_bytes: int = 32 * 1024 * 1024
    # Decompression bombs: an image declaring more pixels is refused from its header. 64 MP
    # admits the 48 and 50 MP full-resolution modes of current phones; 108 and 200 MP modes
    # are opt-in, and their JPEGs are mostly over max_file_bytes anyway. Decoding one costs
    # width x height x 3 bytes (~190 MB at 64 MP, twice that while it is turned upright).
    # Kept under Pillow's own 89 MP warning, so Pillow's process-wide guard never decides.
    max_image_pixels: int = 64_000_000
    # At upload, a photo of paper (a receipt, a box's label) that looks too dark, too
    # bright, blurred or too small to read is sent back with advice and a box to send it
    # anyway (issue 26, documents/quality.py). Off in tests that post placeholder pixels.
    photo_advice: bool = True
    # Logs and metrics (support/platform/logs.py, support/web/metrics.py, docs/deploy.md).
    log_format: str = "auto"  # json | text | auto: text at a terminal, JSON otherwise
    metrics_token: str = ""  # empty: /metrics answers this machine's clients only
    metrics_dir: Path | None = None  # multiprocess counters; default <data_dir>/metrics
    code_ttl_seconds: int = 600
    code_attempts: int = 5
    code_resend_after_seconds: int = 60
    code_max_resends: int = 5
    unverified_ttl_hours: int = 24
    # Retention (support/workflow/retention.py): documents go this many days after an
    # application closes (decided, withdrawn, expired), personal data this many days after.
    document_retention_days: int = 90
    pii_retention_days: int = 365
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_security: str = "none"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout: int = 30
    email_reply_to: str = ""
    sms_http_url: str = ""
    # How long a claimed notification stays with its worker before another may send it.
    delivery_lease_seconds: int = 300
    sms_http_token: str = ""
    sms_http_fields: tuple[str, str, str] = ("to", "text", "id")
    # Abuse limits (support/platform/ratelimit.py), moving windows in the notation of `limits`.
    # In memory per process unless redis_url is set: with N web processes and no Redis,
    # each one counts alone and the real ceiling is N times the figure.
    rate_limits: bool = True
    redis_url: str = ""
    rate_limit_prefix: str = "support"
    # Accepted applications (a form sent back with field errors counts for nothing).
    limit_submit_ip: str = "10/hour"
    limit_submit_phone: str = "3/day"
    limit_submit_account: str = "3/day"
    # Code guesses per address, on top of 5 per code: an applicant types one or two; a
    # family or a shop behind one address (carrier NAT is the rule on Indian mobile
    # networks) confirming several applications stays well below 30. Someone guessing
    # across many applications to dodge the per-code limit gets 30 an hour, not thousands.
    limit_verify_ip: str = "30/hour"
    # Each new code is an SMS and an email (money, and a phone buzzing): one or two per
    # application is normal, and 10 an hour matches the 10 applications an address may send.
    limit_resend_ip: str = "10/hour"
    # A look-up that matches sends a link by SMS or email, and every look-up probes a
    # reference: a person needs one or two, a shop helping customers a handful.
    limit_lookup_ip: str = "10/hour"
    # Failed reviewer sign-ins per address, on top of locking an account after 5: this is
    # two accounts' worth of lock-outs, against someone trying one password on many
    # accounts. Successful sign-ins are not counted, so a team behind one office address
    # signing in every morning never meets it.
    limit_login_ip: str = "10/15 minutes"
    # Per account and address: 5 wrong passwords wait out 15 minutes, 20 a day (the delay
    # grows); the account itself is never locked by passwords (issue 19).
    limit_login_account_ip: str = "5/15 minutes"
    limit_login_account_ip_day: str = "20/day"
    # Each API key's calls (a fixed window: a moving one keeps a timestamp a call). A
    # maker's unlock service asks once per unlock attempt; a hundred a second on average
    # is a busy launch day, and the maker asks for more by configuration, not by retrying.
    limit_api_key: str = "6000/minute"
    # A second factor (TOTP) for every reviewer, not only leads and admins, who always need
    # one (support/accounts/second_factor.py).
    require_2fa: bool = False
    # Unlocks an account may redeem in a moving window of this many days (issue 22): the
    # check answers ``quota_reached`` with the day it frees, and the reviewer sees it
    # before approving (support/workflow/permissions.py, support/reads/permissions.py).
    unlock_quota: int = 1
    unlock_quota_days: int = 365
    # Mail coming in (issue 23, support/mailin): the LMTP listener of ``support mail-in``
    # and the mailbox ``support mail-fetch`` reads. A message larger than this is refused
    # whole (LMTP 552; over IMAP it is recorded and left in the mailbox): a phone's photos
    # as attachments, base64 adding a third, fit well under it.
    mail_max_bytes: int = 30 * 1024 * 1024
    # The desk reads replies (it runs ``support mail-in`` or ``mail-fetch``): applicants'
    # emails then say they may answer by email, not that replies are not read.
    email_replies: bool = False
    lmtp_host: str = "127.0.0.1"
    lmtp_port: int = 2424
    imap_host: str = ""
    imap_port: int = 993
    imap_security: str = "tls"  # tls (implicit, port 993) | starttls (port 143)
    imap_username: str = ""
    imap_password: str = ""
    imap_mailbox: str = "INBOX"
    imap_ca_file: str = ""  # a private CA for the mailbox's certificate; default: the system's
    # Between looks at a mailbox that does not offer IDLE (or, with IDLE, the longest wait
    # before the connection is renewed).
    imap_poll_seconds: int = 60
    # Where documents are kept (issue 24): empty for the data dir's documents/ folder, or
    # s3://BUCKET/PREFIX?endpoint=https://…&region=… for S3-compatible object storage, so
    # web processes and workers on several machines share them without a shared disk
    # (support/documents/store.py). Credentials from SUPPORT_S3_ACCESS_KEY/SECRET_KEY, else
    # the usual AWS variables.
    storage_url: str = ""
    s3_access_key: str = field(default="", repr=False)
    s3_secret_key: str = field(default="", repr=False)
    erasure_log_path: Path | None = None  # default <data_dir>/erasures.log

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def spool_dir(self) -> Path:
        """Uploads waiting for the worker to file them (``spool``)."""
        return self.data_dir / "spool"

    @property
    def upload_tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def erasure_log(self) -> Path:
        """Where each erasure asked for is written down, outside the database, so that a
        restored backup can carry it out again (``workflow.erasure_log``)."""
        return self.erasure_log_path or self.data_dir / "erasures.log"

    @property
    def sms_log(self) -> Path:
        return self.data_dir / "sms.log"

    @property
    def metrics_path(self) -> Path:
        return self.metrics_dir or self.data_dir / "metrics"

    @property
    def storage(self) -> Bucket | None:
        """The bucket documents are kept in, or None for the data dir's ``documents/``."""
        if not self.storage_url:
            return None
        return parse_storage_url(self.storage_url, self.s3_access_key, self.s3_secret_key)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *,
                 make_secret: bool = True) -> Settings:
        """``make_secret=False`` leaves the data dir untouched (``support restore`` needs
        it empty): no key is generated, and the secret is "" unless set or kept there."""
        env = os.environ if env is None else env
        data_dir = Path(env.get(PREFIX + "DATA_DIR") or "var").resolve()
        default_db = f"sqlite://{data_dir / 'support.sqlite3'}"
        database_url = env.get(PREFIX + "DATABASE_URL") or default_db
        secret_key = env.get(PREFIX + "SECRET_KEY") or (
            load_or_create_secret(data_dir) if make_secret else _existing_secret(data_dir))
        port = env.get("PORT") or "8000"
        metrics_token = env.get(PREFIX + "METRICS_TOKEN") or ""
        if metrics_token and len(metrics_token) < 16:
            raise ConfigError(f"{PREFIX}METRICS_TOKEN must be at least 16 characters")
        if env.get(PREFIX + "SMS_BACKEND") == "http" and not env.get(PREFIX + "SMS_HTTP_URL"):
            raise ConfigError(f"{PREFIX}SMS_BACKEND=http needs {PREFIX}SMS_HTTP_URL")
        settings = cls(
            data_dir=data_dir,
            database_url=database_url,
            secret_key=secret_key,
            base_url=(env.get(PREFIX + "BASE_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
            email_backend=_choice(env, "EMAIL_BACKEND", "file", {"file", "smtp"}),
            smtp_host=env.get(PREFIX + "SMTP_HOST") or "127.0.0.1",
            smtp_port=_int(env, "SMTP_PORT", 25),
            smtp_security=_choice(env, "SMTP_SECURITY", "none", {"none", "starttls", "tls"}),
            smtp_username=env.get(PREFIX + "SMTP_USERNAME") or "",
            smtp_password=env.get(PREFIX + "SMTP_PASSWORD") or "",
            smtp_timeout=_int(env, "SMTP_TIMEOUT", 30),
            email_reply_to=env.get(PREFIX + "EMAIL_REPLY_TO") or "",
            delivery_lease_seconds=_int(env, "DELIVERY_LEASE_SECONDS", 300),
            worker_interval=float(_int(env, "WORKER_INTERVAL_MS", 1000)) / 1000,
            worker_yield_seconds=_int(env, "WORKER_YIELD_SECONDS", 30),
            sms_backend=_choice(env, "SMS_BACKEND", "log", {"log", "http"}),
            sms_http_url=env.get(PREFIX + "SMS_HTTP_URL") or "",
            sms_http_token=env.get(PREFIX + "SMS_HTTP_TOKEN") or "",
            sms_http_fields=(
                env.get(PREFIX + "SMS_HTTP_TO_FIELD") or "to",
                env.get(PREFIX + "SMS_HTTP_TEXT_FIELD") or "text",
                env.get(PREFIX + "SMS_HTTP_ID_FIELD") or "id",
            ),
            email_from=env.get(PREFIX + "EMAIL_FROM") or cls.email_from,
            inprocess_worker=_bool(env, "INPROCESS_WORKER", True),
            sla_hours=_sla_hours(env),
            document_retention_days=_days(env, "DOCUMENT_RETENTION_DAYS", 90),
            pii_retention_days=_days(env, "PII_RETENTION_DAYS", 365),
            max_file_bytes=_int(env, "MAX_FILE_BYTES", 10 * 1024 * 1024),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 32 * 1024 * 1024),
            max_image_pixels=_int(env, "MAX_IMAGE_PIXELS", 64_000_000),
            photo_advice=_bool(env, "PHOTO_ADVICE", True),
            log_format=_choice(env, "LOG_FORMAT", "auto", {"auto", "json", "text"}),
            metrics_token=metrics_token,
            metrics_dir=Path(env[PREFIX + "METRICS_DIR"]).resolve()
            if env.get(PREFIX + "METRICS_DIR") else None,
            rate_limits=_bool(env, "RATE_LIMITS", True),
            redis_url=env.get(PREFIX + "REDIS_URL") or "",
            rate_limit_prefix=env.get(PREFIX + "RATE_LIMIT_PREFIX") or cls.rate_limit_prefix,
            limit_submit_ip=_rate(env, "LIMIT_SUBMIT_IP", cls.limit_submit_ip),
            limit_submit_phone=_rate(env, "LIMIT_SUBMIT_PHONE", cls.limit_submit_phone),
            limit_submit_account=_rate(env, "LIMIT_SUBMIT_ACCOUNT", cls.limit_submit_account),
            limit_verify_ip=_rate(env, "LIMIT_VERIFY_IP", cls.limit_verify_ip),
            limit_resend_ip=_rate(env, "LIMIT_RESEND_IP", cls.limit_resend_ip),
            limit_lookup_ip=_rate(env, "LIMIT_LOOKUP_IP", cls.limit_lookup_ip),
            limit_login_ip=_rate(env, "LIMIT_LOGIN_IP", cls.limit_login_ip),
            limit_login_account_ip=_rate(env, "LIMIT_LOGIN_ACCOUNT_IP",
                                         cls.limit_login_account_ip),
            limit_login_account_ip_day=_rate(env, "LIMIT_LOGIN_ACCOUNT_IP_DAY",
                                             cls.limit_login_account_ip_day),
            limit_api_key=_rate(env, "LIMIT_API_KEY", cls.limit_api_key),
            require_2fa=_bool(env, "REQUIRE_2FA", False),
            unlock_quota=_at_least_one(env, "UNLOCK_QUOTA", 1),
            unlock_quota_days=_days(env, "UNLOCK_QUOTA_DAYS", 365),
            email_replies=_bool(env, "EMAIL_REPLIES", False),
            mail_max_bytes=_at_least_one(env, "MAIL_MAX_BYTES", cls.mail_max_bytes),
            lmtp_host=env.get(PREFIX + "LMTP_HOST") or cls.lmtp_host,
            lmtp_port=_int(env, "LMTP_PORT", cls.lmtp_port),
            imap_host=env.get(PREFIX + "IMAP_HOST") or "",
            imap_port=_int(env, "IMAP_PORT", cls.imap_port),
            imap_security=_choice(env, "IMAP_SECURITY", "tls", {"tls", "starttls"}),
            imap_username=env.get(PREFIX + "IMAP_USERNAME") or "",
            imap_password=env.get(PREFIX + "IMAP_PASSWORD") or "",
            imap_mailbox=env.get(PREFIX + "IMAP_MAILBOX") or cls.imap_mailbox,
            imap_ca_file=env.get(PREFIX + "IMAP_CA_FILE") or "",
            imap_poll_seconds=_at_least_one(env, "IMAP_POLL_SECONDS", cls.imap_poll_seconds),
            storage_url=env.get(PREFIX + "STORAGE_URL") or "",
            s3_access_key=env.get(PREFIX + "S3_ACCESS_KEY") or env.get("AWS_ACCESS_KEY_ID") or "",
            s3_secret_key=env.get(PREFIX + "S3_SECRET_KEY")
            or env.get("AWS_SECRET_ACCESS_KEY") or "",
            erasure_log_path=Path(env[PREFIX + "ERASURE_LOG"]).resolve()
            if env.get(PREFIX + "ERASURE_LOG") else None,
        )
        settings.storage  # noqa: B018 - a wrong SUPPORT_STORAGE_URL stops the start-up
        return settings
