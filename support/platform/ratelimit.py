"""Abuse limits: how often one address, phone number or account may do the costly things.

Built on the ``limits`` library's async API with moving windows ("10 in any hour", not
"10 per clock hour", so nobody gets 20 across the turn of an hour). The counts live in
process memory, or in Redis when ``SUPPORT_REDIS_URL`` is set, which every web process of a
deployment then shares. Identifiers are keyed with HMAC-SHA256 under the secret key
before they reach the store, so Redis never holds a phone number, account or address.

Two ways to count, because not everything should cost an allowance:

- ``hit``: count this attempt, refuse when over (code guesses, resends, look-ups).
- ``check`` before, ``count`` after: refuse when the allowance is spent, but count only
  what succeeded (an accepted application, a failed sign-in). Concurrent requests can
  pass the check together, so a burst may overshoot by the number in flight once per
  window; the price of never charging an applicant for a form sent back with errors.

When the store cannot be reached the limits stand aside (logged): the desk keeps
working, and the per-code, per-application and per-account limits kept in the database
still hold.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.errors import StorageError

from support.config import Settings

log = logging.getLogger("support.ratelimit")

# A Redis that hangs must not hang every request with it.
REDIS_TIMEOUT_SECONDS = 1.0


class Rule(StrEnum):
    SUBMIT_IP = "submit-ip"
    SUBMIT_PHONE = "submit-phone"
    SUBMIT_ACCOUNT = "submit-account"
    VERIFY_IP = "verify-ip"
    RESEND_IP = "resend-ip"
    LOOKUP_IP = "lookup-ip"
    LOGIN_IP = "login-ip"
    # Wrong passwords for one account from one address: whoever guesses loses their own
    # address's tries, never the owner's (a lock on the account handed it to strangers).
    LOGIN_ACCOUNT_IP = "login-account-ip"
    LOGIN_ACCOUNT_IP_DAY = "login-account-ip-day"
    API_KEY = "api-key"


def rules_from(settings: Settings) -> dict[Rule, RateLimitItem]:
    return {
        Rule.SUBMIT_IP: parse(settings.limit_submit_ip),
        Rule.SUBMIT_PHONE: parse(settings.limit_submit_phone),
        Rule.SUBMIT_ACCOUNT: parse(settings.limit_submit_account),
        Rule.VERIFY_IP: parse(settings.limit_verify_ip),
        Rule.RESEND_IP: parse(settings.limit_resend_ip),
        Rule.LOOKUP_IP: parse(settings.limit_lookup_ip),
        Rule.LOGIN_IP: parse(settings.limit_login_ip),
        Rule.LOGIN_ACCOUNT_IP: parse(settings.limit_login_account_ip),
        Rule.LOGIN_ACCOUNT_IP_DAY: parse(settings.limit_login_account_ip_day),
        Rule.API_KEY: parse(settings.limit_api_key),
    }


# One accepted submission is counted once, however often its form was sent (a double
# click, a retry after a time-out): its nonce is remembered as long as a form token lives.
_ONCE = parse("1/day")


class RateLimited(Exception):
    """An allowance is spent; ``retry_after`` is whole seconds until one attempt frees."""

    def __init__(self, rule: Rule, retry_after: int) -> None:
        super().__init__(rule.value)
        self.rule = rule
        self.retry_after = retry_after

    @property
    def until(self) -> datetime:
        """When to try again, rounded up to the minute the page shows (an applicant told
        "14:05" who comes back at 14:05:10 must get through)."""
        moment = datetime.now(UTC) + timedelta(seconds=self.retry_after)
        if moment.second or moment.microsecond:
            moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return moment

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


def storage_for(settings: Settings) -> Storage:
    if not settings.redis_url:
        return MemoryStorage()
    uri = settings.redis_url
    if not uri.startswith("async+"):
        uri = "async+" + uri
    return RedisStorage(
        uri, wrap_exceptions=True, key_prefix=settings.rate_limit_prefix,
        connect_timeout=REDIS_TIMEOUT_SECONDS, stream_timeout=REDIS_TIMEOUT_SECONDS,
    )


class Limiter:
    """The app's limits (``app.state.limiter``); every method is a no-op when
    ``SUPPORT_RATE_LIMITS=0``."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits
        self.rules = rules_from(settings)
        self._key = settings.secret_key.encode()
        self.storage = storage_for(settings)
        self.window = MovingWindowRateLimiter(self.storage)
        # The API's per-key allowance: thousands a minute, where a moving window would
        # keep a timestamp for each.
        self.fixed = FixedWindowRateLimiter(self.storage)

    def _ids(self, rule: Rule, identifiers: tuple[str, ...]) -> tuple[str, ...]:
        joined = "\x1f".join((rule.value, *identifiers)).encode()
        return rule.value, hmac.new(self._key, joined, hashlib.sha256).hexdigest()[:32]

    async def hit(self, rule: Rule, *identifiers: str) -> None:
        """Count one attempt; raise RateLimited when it is one too many."""
        if not self.enabled:
            return
        ids = self._ids(rule, identifiers)
        try:
            allowed = await self.window.hit(self.rules[rule], *ids)
            if not allowed:
                raise await self._refusal(rule, ids)
        except StorageError:
            log.warning("rate-limit store unreachable: %s not enforced", rule.value)

    async def hit_api_key(self, key_id: int) -> None:
        """Count one call of an API key; raise RateLimited when its allowance is spent."""
        if not self.enabled:
            return
        ids = (Rule.API_KEY.value, str(key_id))
        try:
            if not await self.fixed.hit(self.rules[Rule.API_KEY], *ids):
                reset, _ = await self.fixed.get_window_stats(self.rules[Rule.API_KEY], *ids)
                raise RateLimited(Rule.API_KEY, max(1, math.ceil(reset - time.time())))
        except StorageError:
            log.warning("rate-limit store unreachable: %s not enforced", Rule.API_KEY.value)

    async def check(self, rule: Rule, *identifiers: str) -> None:
        """Raise RateLimited when the allowance is spent, without counting anything."""
        if not self.enabled:
            return
        ids = self._ids(rule, identifiers)
        try:
            if not await self.window.test(self.rules[rule], *ids):
                raise await self._refusal(rule, ids)
        except StorageError:
            log.warning("rate-limit store unreachable: %s not enforced", rule.value)

    async def count(self, rule: Rule, *identifiers: str) -> None:
        """Count something that already happened (and was allowed by ``check``)."""
        if not self.enabled:
            return
        try:
            await self.window.hit(self.rules[rule], *self._ids(rule, identifiers))
        except StorageError:
            log.warning("rate-limit store unreachable: %s not counted", rule.value)

    async def check_submission(self, phone: str, account_id: str, nonce: str) -> None:
        """Before filing a checked form: the phone's and the account's allowances. A form
        already counted (sent again after a lost answer) is let through to find its
        application rather than be told the allowance it used up is spent."""
        if not self.enabled or await self._counted(nonce):
            return
        await self.check(Rule.SUBMIT_PHONE, phone)
        await self.check(Rule.SUBMIT_ACCOUNT, account_id)

    async def count_submission(self, ip: str, phone: str, account_id: str, nonce: str) -> None:
        """After an application was filed: one for the address, the phone and the account,
        once per form however often it was sent (a double click finds the same one)."""
        if not self.enabled:
            return
        try:
            first = await self.window.hit(_ONCE, *self._nonce_ids(nonce))
        except StorageError:
            first = True
        if first:
            await self.count(Rule.SUBMIT_IP, ip)
            await self.count(Rule.SUBMIT_PHONE, phone)
            await self.count(Rule.SUBMIT_ACCOUNT, account_id)

    def _nonce_ids(self, nonce: str) -> tuple[str, ...]:
        return self._ids(Rule.SUBMIT_IP, ("form", nonce))

    async def _counted(self, nonce: str) -> bool:
        try:
            return not await self.window.test(_ONCE, *self._nonce_ids(nonce))
        except StorageError:
            return False

    async def _refusal(self, rule: Rule, ids: tuple[str, ...]) -> RateLimited:
        stats = await self.window.get_window_stats(self.rules[rule], *ids)
        return RateLimited(rule, max(1, math.ceil(stats.reset_time - time.time())))

    async def close(self) -> None:
        """Hand the Redis connections back; memory needs nothing."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            pool.disconnect()
