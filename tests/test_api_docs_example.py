"""docs/api.md cannot rot: its Python example verifies a real grant with the published keys
(and refuses a forged, a misbound and an expired one), its webhook check accepts what the
desk signs, and its code tables name every code the API can answer."""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path
from typing import Any

import httpx2
import pytest

from support.notify import webhooks
from support.platform import grants
from support.rules import permissions
from support.web.api import errors
from support.web.api.registry import ENDPOINTS
from support.workflow import signing
from tests.api_contract import check

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _namespace(marker: str) -> dict[str, Any]:
    """Run the Python block that defines ``marker`` as an integrator would paste it."""
    [block] = [b for b in _python_blocks() if f"def {marker}(" in b]
    namespace: dict[str, Any] = {}
    exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own document
    return namespace


def test_the_grant_example_is_ten_lines_or_so():
    text = DOC.read_text(encoding="utf-8")
    assert "<!-- grant-example" in text
    [block] = [b for b in _python_blocks() if "def verify_grant(" in b]
    assert len(block.strip().splitlines()) <= 14


async def test_the_documented_example_verifies_a_grant_with_the_published_key(
        app, client: httpx2.AsyncClient):
    verify_grant = _namespace("verify_grant")["verify_grant"]
    key = await signing.current()
    now = int(time.time())
    claims = {"iss": "support", "sub": "6123456789", "model": "Redmi Note 10 Pro",
              "device": "a1b2c3d4e5f6", "jti": "1.abc", "iat": now, "exp": now + 900}
    token = grants.sign(key.private_jwk, claims)
    answer = await client.get("/api/v1/keys")
    check(answer)
    jwks = answer.json()
    with warnings.catch_warnings():
        # joserfc may warn that "EdDSA" has a newer name (the doc says so); not a failure.
        warnings.simplefilter("ignore")
        got = verify_grant(token, jwks, "6123456789", "Redmi Note 10 Pro", "a1b2c3d4e5f6")
        assert got["device"] == "a1b2c3d4e5f6" and got["sub"] == "6123456789"

        for account, model, device in [("6000000000", "Redmi Note 10 Pro", "a1b2c3d4e5f6"),
                                       ("6123456789", "Redmi Note 9", "a1b2c3d4e5f6"),
                                       ("6123456789", "Redmi Note 10 Pro", "other-device")]:
            with pytest.raises(Exception, match="claim"):
                verify_grant(token, jwks, account, model, device)
        expired = grants.sign(key.private_jwk, {**claims, "exp": now - 60})
        with pytest.raises(Exception, match="expired"):
            verify_grant(expired, jwks, "6123456789", "Redmi Note 10 Pro", "a1b2c3d4e5f6")
        forger_private, _ = grants.new_key(kid=key.kid)  # same name, another key
        forged = grants.sign(forger_private, claims)
        with pytest.raises(Exception, match="signature"):
            verify_grant(forged, jwks, "6123456789", "Redmi Note 10 Pro", "a1b2c3d4e5f6")
        head, body, sig = token.split(".")
        tampered = grants.sign(key.private_jwk, {**claims, "device": "mine-now-1"})
        with pytest.raises(Exception, match="signature"):
            verify_grant(f"{head}.{tampered.split('.')[1]}.{sig}", jwks, "6123456789",
                         "Redmi Note 10 Pro", "mine-now-1")


def test_the_documented_webhook_check_accepts_what_the_desk_signs():
    verify_webhook = _namespace("verify_webhook")["verify_webhook"]
    body = webhooks.body_of({"id": "evt_1", "type": "permission.redeemed",
                             "created_at": "2026-12-06T10:00:00+00:00", "data": {"a": "é"}})
    now = int(time.time())
    header = f"t={now},v1={webhooks.signature('whsec_x', now, body)}"
    assert verify_webhook("whsec_x", body, header)
    assert not verify_webhook("whsec_y", body, header)
    assert not verify_webhook("whsec_x", body + b" ", header)
    old = now - 3600
    assert not verify_webhook("whsec_x", body, f"t={old},v1={webhooks.signature('whsec_x', old, body)}")


def _table_codes(heading: str) -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"`([a-z][a-z0-9_]*)`", section))


def test_the_code_tables_name_every_code():
    assert set(permissions.CODES) <= _table_codes("### Permission codes")
    api_codes = {code for code, _ in errors._HTTP_CODES.values()} | {
        "rate_limited", "internal", "unavailable", "conflict", "invalid", "too_large",
        "bad_request"}
    assert api_codes <= _table_codes("### API codes")
    source = Path(__file__).resolve().parent.parent / "support"
    field_codes = {code for path in source.rglob("*.py")
                   for code in re.findall(r'error_code="([a-z_]+)"',
                                          path.read_text(encoding="utf-8"))}
    missing = field_codes - _table_codes("### Application field codes")
    assert not missing, f"docs/api.md lacks the field codes {sorted(missing)}"


def test_every_code_an_operation_declares_is_in_a_table():
    tables = "".join(DOC.read_text(encoding="utf-8").split("## The operations")[0])
    named = set(re.findall(r"`([a-z][a-z0-9_]*)`", tables))
    declared = {code for e in ENDPOINTS for answer in e.answers.values() for code in answer.codes}
    assert declared - named == set(), "codes the API declares but docs/api.md does not explain"


def test_every_operation_has_its_curl_example():
    text = DOC.read_text(encoding="utf-8")
    for e in ENDPOINTS:
        heading = re.search(rf"^### [^`\n]*: `{e.method} /api{re.escape(e.path)}[`?]", text, re.M)
        assert heading, f"no section for {e.method} /api{e.path}"
        section = text[heading.end():].split("\n### ", 1)[0]
        assert "curl " in section, f"no curl example for {e.method} /api{e.path}"
