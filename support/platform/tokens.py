"""Random identifiers and the hashes we store instead of them.

Nothing an applicant could use to act on an application (status-link tokens, one-time
codes) is stored in the clear: a database dump must not let anyone in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

# No 0/O, 1/I/L or U/V look-alikes: references are read aloud and typed from SMS.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"


def new_reference(prefix: str) -> str:
    """Eight characters from one draw of the system's CSPRNG (``secrets.choice`` per
    character cost eight system calls on the submission path), uniform over all
    29⁸ references."""
    number = secrets.randbelow(len(REFERENCE_ALPHABET) ** 8)
    chars = []
    for _ in range(8):
        number, digit = divmod(number, len(REFERENCE_ALPHABET))
        chars.append(REFERENCE_ALPHABET[digit])
    return f"{prefix}-{''.join(chars[:4])}-{''.join(chars[4:])}"


REFERENCE_SHAPE = re.compile(r"[A-Z]{2}-[0-9A-Z]{4}-[0-9A-Z]{4}")


def parse_reference(text: str) -> str | None:
    """The reference as we write it, from what people type (lower case, spaces, missing or
    extra dashes); None when the text cannot be one of ours. Such text is never looked up:
    one longer than the column failed its length check (a 500 page, found by
    tests/test_fuzz_http.py), and PostgreSQL refuses a NUL: text with control characters
    was not copied from one of our messages."""
    if not text.isprintable():
        return None
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    reference = f"{cleaned[:2]}-{cleaned[2:6]}-{cleaned[6:]}"
    return reference if REFERENCE_SHAPE.fullmatch(reference) else None


def reference_in(text: str) -> str | None:
    """The first reference written in ``text`` (an email's subject: "Re: We received your
    answer for UL-NAB4-R44K"), as we write them."""
    found = re.search(r"\b([A-Z]{2}-[0-9A-Z]{4}-[0-9A-Z]{4})\b", text.upper())
    return found.group(1) if found else None


def new_status_token() -> str:
    """256 bits, URL-safe: the private status link."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Plain SHA-256 is enough for 256-bit random tokens: there is nothing to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(secret_key: str, reference: str, code: str) -> str:
    """Keyed, and bound to the application: a 6-digit code has only a million values, so
    an unkeyed hash would be reversed instantly from a leaked database. Bound by the
    reference, not the row id, so the hash can be written in the same statement as the
    application (``rows.insert_with_children``)."""
    message = f"{reference}:{code}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def hmac_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def sign(secret_key: str, purpose: str, value: str) -> str:
    return hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def new_submission_token(secret_key: str, now: float | None = None) -> str:
    """A signed one-time form token: stateless until used, so GET never writes a row."""
    nonce = secrets.token_urlsafe(18)
    issued = str(int(now if now is not None else time.time()))
    return f"{nonce}.{issued}.{sign(secret_key, 'submission', nonce + '.' + issued)[:32]}"


def check_submission_token(
    secret_key: str, token: str, max_age: int, now: float | None = None
) -> str | None:
    """Return the nonce when the token is ours and fresh, else None."""
    try:
        nonce, issued, mac = token.split(".")
        issued_at = int(issued)
    except ValueError:
        return None
    expected = sign(secret_key, "submission", nonce + "." + issued)[:32]
    # As bytes: compare_digest refuses a str with non-ASCII in it (a 500 on a mangled form).
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        return None
    current = now if now is not None else time.time()
    if not 0 <= current - issued_at <= max_age:
        return None
    return nonce


# The reply address of an applicant's email (issue 23): ``support+TOKEN@domain``, where
# TOKEN names the application and is signed, so a message sent to it is known to answer
# that application's email and nobody can write one for another application. Lower case:
# some mail servers fold the local part. 80 bits of the signature: guessing is hopeless.
_REPLY_TOKEN = re.compile(r"([a-z]{2}[0-9a-z]{8})-([0-9a-f]{20})")


def reply_token(secret_key: str, reference: str) -> str:
    compact = reference.replace("-", "").lower()
    return f"{compact}-{sign(secret_key, 'reply', reference)[:20]}"


def reference_of_reply_token(secret_key: str, token: str) -> str | None:
    """The reference a reply token was made for, or None when it is not one of ours."""
    found = _REPLY_TOKEN.fullmatch(token.lower())
    if found is None:
        return None
    compact = found.group(1).upper()
    reference = f"{compact[:2]}-{compact[2:6]}-{compact[6:]}"
    return reference if hmac_equal(reply_token(secret_key, reference), token.lower()) else None


def plus_address(address: str, token: str) -> str:
    """``support@example.com`` + token → ``support+token@example.com`` (a sub-address,
    which Postfix, Dovecot, Gmail and Microsoft 365 deliver to the plain address)."""
    local, _, domain = address.rpartition("@")
    return f"{local.split('+', 1)[0]}+{token}@{domain}" if local else address
