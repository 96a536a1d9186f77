"""The contract is the code (issue 22): the served OpenAPI document is valid and complete
(every operation summarised, described, its error codes named; every API route in it and
nothing more), and schemathesis calls every operation of a live ``support serve`` with
generated input (valid and invalid) and finds no 5xx and no answer off the document.

The schemathesis run is deterministic (hypothesis derandomised: the same inputs every run)
and bounded (``EXAMPLES`` per operation and mode), and runs once per database like the rest
of the suite (``SUPPORT_TEST_DB``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from support.web.api import openapi
from support.web.api.registry import ENDPOINTS, SCOPES
from tests.api_contract import check
from tests.conftest import DB_KIND, PG_ADMIN_URL, UNLOCK, free_port, jpeg_bytes

# The API's own pages: the document itself and the page that reads it for people.
META_ROUTES = {("GET", "/api/v1/openapi.json"), ("GET", "/api/docs")}
# Common answers the OpenAPI writer adds to every scoped operation, with their codes.
COMMON = {401: "unauthorized", 403: "forbidden", 429: "rate_limited", 500: "internal",
          503: "unavailable"}
EXAMPLES = int(os.environ.get("SUPPORT_SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def test_the_served_document_is_the_code_s_and_valid():
    document = openapi.document()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert {(m, p) for m, p, _ in _operations(document)} == {
        (e.method, "/api" + re.sub(r"{(\w+)(?::\w+)?}", r"{\1}", e.path)) for e in ENDPOINTS}


async def test_the_app_serves_the_same_document(client: httpx2.AsyncClient):
    answer = await client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.json() == openapi.document()


def test_every_operation_is_summarised_described_and_names_its_error_codes():
    problems = []
    for method, path, operation in _operations(openapi.document()):
        name = f"{method} {path}"
        if not operation.get("summary", "").strip():
            problems.append(f"{name}: no summary")
        if len(operation.get("description", "").strip()) < 20:
            problems.append(f"{name}: no description (the handler's docstring)")
        for status, response in operation["responses"].items():
            if int(status) >= 400 and int(status) not in COMMON \
                    and "Codes:" not in response["description"]:
                problems.append(f"{name} → {status}: its error codes are not declared")
        if operation["security"]:
            for status in (401, 403):
                assert str(status) in operation["responses"], f"{name}: {status} missing"
    for e in ENDPOINTS:
        for status, answer in e.answers.items():
            if status >= 400 and status not in COMMON and not answer.codes:
                problems.append(f"{e.method} {e.path} → {status}: Answer(codes=()) is empty")
            if status >= 400 and answer.model is None:
                problems.append(f"{e.method} {e.path} → {status}: an error without a body")
        if e.scope is not None:
            assert e.scope in SCOPES
    assert not problems, "\n".join(problems)


def _api_routes(app: Starlette) -> set[tuple[str, str]]:
    mounted = [r for r in app.routes if isinstance(r, Mount) and r.path == "/api"]
    assert len(mounted) == 1, "the API is not mounted once at /api"
    api = mounted[0].app
    served = set()
    for route in api.routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route), f"an API route of another kind: {route!r}"
        for method in route.methods or ():
            if method != "HEAD":
                served.add((method, "/api" + route.path))
    return served


async def test_every_api_route_is_in_the_document_and_every_operation_is_served(app):
    served = _api_routes(app) - META_ROUTES
    documented = {(m, p) for m, p, _ in _operations(openapi.document())}
    assert served - documented == set(), "served but not in the document"
    assert documented - served == set(), "in the document but not served"
    # The anonymous meta routes are the only ones left out, and they are served.
    assert _api_routes(app) >= META_ROUTES


async def test_the_checker_catches_an_answer_off_the_contract(client: httpx2.AsyncClient):
    """tests/api_contract.py itself: a fault it must see, for each kind of fault."""
    good = await client.get("/api/v1/keys")
    check(good)
    for wrong in (
        httpx2.Response(200, json={"keys": [{"kty": "OKP"}]}, request=good.request),
        httpx2.Response(418, json={"error": {"code": "x", "message": "y"}},
                        request=good.request),
        httpx2.Response(200, text="<!doctype html><p>hi", request=good.request),
        httpx2.Response(200, content=b"{", headers={"content-type": "application/json"},
                        request=good.request),
    ):
        with pytest.raises(AssertionError, match="signing_keys"):
            check(wrong)
    nowhere = await client.get("/api/v1/nothing-here")
    check(nowhere)
    with pytest.raises(AssertionError, match="404 and 405"):
        check(httpx2.Response(200, json={}, request=nowhere.request))


async def test_a_path_segment_with_a_newline_is_still_the_api_s(client: httpx2.AsyncClient):
    """Schemathesis found it: Starlette's Mount matches ``/api/(?P<path>.*)$``, and ``.``
    stops at a newline, so ``/api/v1/applications/a%0Ab`` fell through to the desk's HTML
    404 page instead of the API's JSON."""
    for path in ("/api/v1/applications/a%0Ab", "/api/v1/accounts/1%0A2/permission?model=x",
                 "/api/v1/applications/a%0Ab/confirm"):
        answer = await client.request("POST" if path.endswith("confirm") else "GET", path)
        check(answer)
        assert answer.status_code == 401, (path, answer.status_code)


# --- schemathesis against a live server -------------------------------------------------

def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "support", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _database(tmp: Path) -> tuple[str, str | None]:
    """A fresh database for the live server (its URL, and the PostgreSQL name to drop)."""
    if DB_KIND != "postgres":
        return f"sqlite://{tmp / 'contract.sqlite3'}", None
    import asyncio  # only here: a synchronous fixture making a PostgreSQL database

    import asyncpg

    name = f"support_contract_{os.getpid()}_{int(time.time())}"

    async def run(sql: str) -> None:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    return f"postgres://postgres@127.0.0.1:5432/{name}", name


def _drop(name: str) -> None:
    import asyncio  # only here: see _database

    import asyncpg

    async def run() -> None:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(run())


class LiveApi:
    def __init__(self, base: str, secret: str, reference: str) -> None:
        self.base = base
        self.secret = secret
        self.session = requests.Session()
        # What exists on the server, for a share of the generated calls to name (see
        # ``_known``): the account of a confirmed application, its reference, its model.
        self.known = {"account_id": UNLOCK["account_id"], "reference": reference,
                      "model": UNLOCK["model"]}


def _sms_code(sms_log: Path) -> str:
    for _ in range(150):
        if sms_log.exists():
            for line in sms_log.read_text(encoding="utf-8").splitlines():
                match = re.search(r"(?<!\d)(\d{6})(?!\d)", json.loads(line)["text"])
                if match:
                    return match.group(1)
        time.sleep(0.1)
    raise AssertionError("the server's worker never wrote the code SMS")


def _seed(base: str, secret: str, sms_log: Path) -> str:
    """An application sent and confirmed through the API (each answer checked against the
    contract), so the generated calls can also meet a real account and reference."""
    auth = {"authorization": f"Bearer {secret}"}
    with httpx2.Client(base_url=base, headers=auth, timeout=30) as http:
        sent = http.post("/api/v1/applications", data={"kind": "unlock", **UNLOCK},
                         files={"receipt": ("receipt.jpg", jpeg_bytes(), "image/jpeg")})
        check(sent)
        assert sent.status_code == 201, sent.text
        reference = str(sent.json()["reference"])
        confirmed = http.post(f"/api/v1/applications/{reference}/confirm",
                              json={"code": _sms_code(sms_log)})
        check(confirmed)
        assert confirmed.status_code == 200, confirmed.text
        standing = http.get(f"/api/v1/accounts/{UNLOCK['account_id']}/permission",
                            params={"model": UNLOCK["model"]})
        check(standing)
        assert standing.json()["code"] == "under_review"
    return reference


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """``support serve`` on a loopback port over a migrated database, and a service key
    holding every scope (made with the CLI, as an operator would)."""
    tmp = tmp_path_factory.mktemp("contract")
    url, pg_name = _database(tmp)
    port = free_port()
    env = {**os.environ, "SUPPORT_DATA_DIR": str(tmp / "data"), "SUPPORT_DATABASE_URL": url,
           "PORT": str(port), "SUPPORT_SECRET_KEY": "contract-" + "k" * 40}
    try:
        migrated = _cli(env, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        scopes = [arg for scope in SCOPES for arg in ("--scope", scope)]
        made = _cli(env, "api-key", "create", "schemathesis", *scopes)
        assert made.returncode == 0, made.stderr
        secret = made.stdout.strip().splitlines()[-1]
        assert secret.startswith("sk_")
        log = tmp / "serve.log"  # a file, not a pipe: a full pipe would stop the server
        with log.open("w") as sink:
            server = subprocess.Popen([sys.executable, "-m", "support", "serve"], env=env,
                                      stdout=sink, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if requests.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                time.sleep(0.1)
            else:
                raise AssertionError("support serve did not start")
            live = LiveApi(base, secret, _seed(base, secret, tmp / "data" / "sms.log"))
            yield live
            live.session.close()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            output = log.read_text(encoding="utf-8", errors="replace")
            assert "Traceback" not in output, output[-4000:]
    finally:
        if pg_name:
            _drop(pg_name)


SCHEMA = schemathesis.openapi.from_dict(openapi.document())
_TURN = itertools.count()


def _known(case: Any, live: LiveApi) -> None:
    """Every third call names what exists (the seeded account, reference and model) in
    place of what was generated, so the answers of a real record are checked too: random
    strings alone meet only 404s and 422s. Deterministic: a counter, not a draw."""
    if next(_TURN) % 3:
        return
    for name in list(case.path_parameters or {}):
        if name in live.known:
            case.path_parameters[name] = live.known[name]
    for part in (case.query, case.body):
        if isinstance(part, dict) and "model" in part:
            part["model"] = live.known["model"]


@pytest.mark.slow
@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_5xx_and_no_answer_off_the_contract(case, live_api: LiveApi):
    _known(case, live_api)
    answer = case.call(base_url=live_api.base, session=live_api.session, timeout=15,
                       headers={"authorization": f"Bearer {live_api.secret}"})
    case.validate_response(answer, checks=CHECKS,
                           headers={"authorization": f"Bearer {live_api.secret}"})
