"""Abuse limits (issue 7): each trips at its number and not before, answers a readable 429
in the applicant's language with a right Retry-After, counts only accepted applications,
switches off with SUPPORT_RATE_LIMITS=0, and is shared by web processes through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import coredis
import httpx2
import pytest
from tortoise.contrib.test import truncate_all_models

from support import workflow
from support.accounts.auth import create_reviewer
from support.app import create_app
from support.config import Settings
from support.data.models import Application
from support.platform import i18n
from tests.conftest import BASE, UNLOCK, Applicant, free_port, hidden_fields
from tests.factories import make_application

REDIS = "redis://127.0.0.1:6379/0"


@contextlib.asynccontextmanager
async def served(
    settings: Settings, addresses: tuple[str, ...] = ("203.0.113.7", "198.51.100.9"),
) -> AsyncIterator[dict[str, Applicant]]:
    """The app with these settings, and a browser on each address."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), contextlib.AsyncExitStack() as stack:
        await truncate_all_models()
        browsers = {}
        for ip in addresses:
            transport = httpx2.ASGITransport(app=app, client=(ip, 40000))
            http = await stack.enter_async_context(
                httpx2.AsyncClient(transport=transport, base_url=BASE))
            browsers[ip] = Applicant(http)
        yield browsers


def fields(n: int, **changes: str) -> dict[str, str]:
    """A valid unlock form with its own phone number and account."""
    return {**UNLOCK, "phone": f"98765 432{n:02d}", "account_id": f"61234567{n:02d}", **changes}


def is_limit_page(response: httpx2.Response) -> bool:
    return response.status_code == 429 and "retry-after" in response.headers


def text(response: httpx2.Response) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", response.text)))


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of its own, so parallel runs never share counts; removed after."""
    prefix = f"support-test-{secrets.token_hex(6)}"
    yield prefix
    client = coredis.Redis.from_url(REDIS)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(keys)


# --- applications -------------------------------------------------------------------


async def test_ten_applications_an_hour_from_one_address(settings: Settings) -> None:
    async with served(settings) as browsers:
        me, neighbour = browsers.values()
        for n in range(10):
            response = await me.submit("unlock", fields(n))
            assert response.status_code == 303, (n, response.text)
        eleventh = await me.submit("unlock", fields(10))
        assert is_limit_page(eleventh)
        assert 3590 <= int(eleventh.headers["retry-after"]) <= 3600
        page = text(eleventh)
        assert "Too many applications have been sent from your network in the last hour." in page
        assert "You can try again in 60 minutes, after" in page
        assert "Your answers and files were not saved" in page
        assert 'href="/apply/unlock"' in eleventh.text  # the way back to the form
        assert await Application.all().count() == 10
        # Another address is not held back.
        assert (await neighbour.submit("unlock", fields(11))).status_code == 303


async def test_three_a_day_per_phone_and_forms_with_errors_do_not_count(
    settings: Settings,
) -> None:
    async with served(settings) as browsers:
        me = browsers["203.0.113.7"]
        same_phone = {"phone": "98765 43210"}
        for _ in range(4):  # a bad email: sent back with the answers, costs nothing
            rejected = await me.submit("unlock", fields(0, email="asha@", **same_phone))
            assert rejected.status_code == 422
            assert 'value="98765 43210"' in rejected.text
            assert "I develop a custom kernel" in rejected.text
        for n in range(3):
            accepted = await me.submit("unlock", fields(n, **same_phone))
            assert accepted.status_code == 303, accepted.text
        fourth = await me.submit("unlock", fields(3, **same_phone))
        assert is_limit_page(fourth)
        assert "for this phone number today" in text(fourth)
        assert 86390 <= int(fourth.headers["retry-after"]) <= 86400
        assert "You can try again after" in text(fourth)  # a day away: a time, not minutes
        assert await Application.all().count() == 3


async def test_three_a_day_per_account_and_refusals_do_not_count(settings: Settings) -> None:
    async with served(settings) as browsers:
        me = browsers["203.0.113.7"]
        account = {"account_id": "6123456789"}
        open_one = await make_application(account_id="6123456789")
        for n in range(4):  # refused while one is open: answers kept, nothing counted
            refused = await me.submit("unlock", fields(n, **account))
            assert refused.status_code == 422
            assert 'value="6123456789"' in refused.text
            assert "I develop a custom kernel" in refused.text
        await workflow.withdraw(open_one)
        for n in range(3):
            accepted = await me.submit("unlock", fields(n, **account))
            assert accepted.status_code == 303, accepted.text
        fourth = await me.submit("unlock", fields(3, **account))
        assert is_limit_page(fourth)
        assert "for this account today" in text(fourth)
        assert await Application.filter(account_id="6123456789").count() == 4


async def test_a_form_sent_twice_counts_once(settings: Settings) -> None:
    async with served(settings) as browsers:
        me = browsers["203.0.113.7"]
        same_phone = {"phone": "98765 43210"}
        tokens = await me.form_tokens("unlock")
        for _ in range(3):  # a double click, then a retry after a lost answer
            again = await me.submit("unlock", fields(0, **same_phone), tokens=tokens)
            assert again.status_code == 303
        assert await Application.all().count() == 1
        for n in (1, 2):
            assert (await me.submit("unlock", fields(n, **same_phone))).status_code == 303
        # Sent once more after its allowance is spent, the first form still finds its page.
        assert (await me.submit("unlock", fields(0, **same_phone), tokens=tokens)
                ).status_code == 303
        assert is_limit_page(await me.submit("unlock", fields(3, **same_phone)))


# --- codes, look-ups, sign-in ---------------------------------------------------------


async def test_thirty_code_guesses_an_hour_from_one_address(settings: Settings) -> None:
    async with served(settings) as browsers:
        me, neighbour = browsers.values()
        submitted = await me.submit("unlock", fields(0))
        verify = submitted.headers["location"]
        for n in range(30):
            guess = await me.post_form(verify, {"code": f"{n:06d}"})
            assert guess.status_code == 422, n  # wrong (and after 5, a dead code): not a 429
        thirty_first = await me.post_form(verify, {"code": "000031"})
        assert is_limit_page(thirty_first)
        assert "Too many codes have been tried from your network." in text(thirty_first)
        assert "What you sent was not saved." in text(thirty_first)
        assert f'href="{verify}"' in thirty_first.text
        assert (await neighbour.post_form(verify, {"code": "000032"})).status_code == 422


async def test_ten_new_codes_an_hour_from_one_address(settings: Settings) -> None:
    settings = settings.with_(code_resend_after_seconds=0, code_max_resends=50)
    async with served(settings) as browsers:
        me = browsers["203.0.113.7"]
        submitted = await me.submit("unlock", fields(0))
        resend = submitted.headers["location"] + "/resend"
        for n in range(10):
            sent = await me.post_form(resend, {})
            assert sent.status_code == 200, n
            assert "We have sent you a new code." in sent.text
        eleventh = await me.post_form(resend, {})
        assert is_limit_page(eleventh)
        assert "Too many new codes have been asked for from your network." in text(eleventh)


async def test_ten_status_lookups_an_hour_from_one_address(settings: Settings) -> None:
    async with served(settings) as browsers:
        me = browsers["203.0.113.7"]
        for _ in range(3):  # empty forms cost nothing and are not counted
            assert (await me.post_form("/status", {"reference": "", "contact": ""})
                    ).status_code == 422
        lookup = {"reference": "UL-7KQ2-9XHD", "contact": "asha@example.com"}
        for n in range(10):
            assert (await me.post_form("/status", lookup)).status_code == 200, n
        eleventh = await me.post_form("/status", lookup)
        assert is_limit_page(eleventh)
        assert "Too many look-ups have been made from your network." in text(eleventh)


async def test_references_that_name_nothing_count_as_status_lookups(settings: Settings) -> None:
    """``GET /applications/{reference}/verify`` answered 404 or the page, to anyone and
    without limit: a way to probe which references exist (issue 19). A reference that
    names nothing now counts against the look-up allowance, on every route that looks one
    up by its path; once it is spent every such request is refused, the real reference's
    too, so the refusal says nothing. The applicant's own page costs nothing."""
    async with served(settings) as browsers:
        me, other = browsers["203.0.113.7"], browsers["198.51.100.9"]
        sent = await me.submit("unlock", fields(1))
        assert sent.status_code == 303, sent.text
        mine = sent.headers["location"]
        for query in ["?lang=hi", "?lang=en"] + [""] * 10:  # reloaded, in another language
            assert (await me.client.get(mine + query)).status_code == 200  # never counted
        probes = [f"/applications/UL-7KQ2-9X{n:02d}/verify" for n in range(8)]
        for path in probes:
            assert (await me.client.get(path)).status_code == 404, path
        assert (await me.post_form(probes[0], {"code": "123456"})).status_code == 404
        assert (await me.post_form(probes[1] + "/resend", {})).status_code == 404
        for path in (mine, probes[0]):
            refused = await me.client.get(path)
            assert is_limit_page(refused), path
            assert "Too many look-ups have been made from your network." in text(refused)
        assert is_limit_page(await me.post_form(mine, {"code": "123456"}))
        lookup = {"reference": "UL-7KQ2-9XHD", "contact": "asha@example.com"}
        assert is_limit_page(await me.post_form("/status", lookup))  # one allowance
        assert (await other.client.get(mine)).status_code == 200  # per address


async def test_ten_failed_sign_ins_per_address_in_english(settings: Settings) -> None:
    async with served(settings) as browsers:
        me = browsers["203.0.113.7"]
        await create_reviewer("lead@example.com", "Lead", "lead", "right horse battery staple")
        me.client.headers["accept-language"] = "hi"
        right = {"email": "lead@example.com", "password": "right horse battery staple"}
        for _ in range(3):  # sign-ins that work are not counted
            signed_in = await me.post_form("/review/login", right)
            assert signed_in.status_code == 303
        for n in range(10):  # many accounts, so the per-account lock-out never fires
            wrong = await me.post_form("/review/login", {
                "email": f"r{n}@example.com", "password": "guess",
            })
            assert wrong.status_code == 422, n
        refused = await me.post_form("/review/login", right)
        assert is_limit_page(refused)
        assert 890 <= int(refused.headers["retry-after"]) <= 900
        assert '<html lang="en">' in refused.text
        assert "Too many failed sign-ins from this network" in text(refused)
        assert "Try again in 15 minutes, after" in text(refused)
        assert "support_session" not in refused.headers.get("set-cookie", "")
        assert 'value="lead@example.com"' in refused.text


# --- the page, the header, the switch -------------------------------------------------


async def test_the_limit_page_speaks_hindi_to_a_hindi_request(settings: Settings) -> None:
    settings = settings.with_(limit_lookup_ip="1/hour")
    async with served(settings) as browsers:
        me = browsers["203.0.113.7"]
        me.client.cookies.set("support_lang", "hi")
        lookup = {"reference": "UL-7KQ2-9XHD", "contact": "asha@example.com"}
        assert (await me.post_form("/status", lookup)).status_code == 200
        refused = await me.post_form("/status", lookup)
        assert is_limit_page(refused)
        assert refused.headers["content-language"] == "hi"
        assert '<html lang="hi">' in refused.text
        hindi = i18n.translations("hi").gettext
        page = text(refused)
        for msgid in ("Please wait before trying again", "Go to the start page",
                      "Too many look-ups have been made from your network."):
            assert hindi(msgid) in page
        assert "होम पेज पर जाएँ" in page  # the start-page button, from the catalogue
        # The moment is a Hindi date, stated in UTC like everywhere else on the site.
        assert re.search(r"(जनवरी|फ़रवरी|मार्च|अप्रैल|मई|जून|जुलाई|अगस्त|सितंबर|अक्तूबर|नवंबर|दिसंबर)"
                         r" \d{4}, \d\d:\d\d UTC", page), page


async def test_retry_after_is_when_the_oldest_attempt_leaves_the_window(
    settings: Settings,
) -> None:
    settings = settings.with_(limit_lookup_ip="2/2 seconds")
    async with served(settings) as browsers:
        me = browsers["203.0.113.7"]
        lookup = {"reference": "UL-7KQ2-9XHD", "contact": "asha@example.com"}
        for _ in range(2):
            assert (await me.post_form("/status", lookup)).status_code == 200
        refused = await me.post_form("/status", lookup)
        assert is_limit_page(refused)
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 2
        assert "in 1 minute" in text(refused)
        await asyncio.sleep(wait)
        assert (await me.post_form("/status", lookup)).status_code == 200


async def test_an_ipv6_client_counts_as_its_64(settings: Settings) -> None:
    """Whoever holds a /64 can take a new address for every request: they share one count."""
    settings = settings.with_(limit_lookup_ip="2/hour")
    addresses = ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1")
    async with served(settings, addresses) as browsers:
        first, same_64, next_64 = browsers.values()
        lookup = {"reference": "UL-7KQ2-9XHD", "contact": "asha@example.com"}
        assert (await first.post_form("/status", lookup)).status_code == 200
        assert (await same_64.post_form("/status", lookup)).status_code == 200
        assert is_limit_page(await same_64.post_form("/status", lookup))
        assert is_limit_page(await first.post_form("/status", lookup))
        assert (await next_64.post_form("/status", lookup)).status_code == 200


async def test_limits_off_really_switches_them_off(settings: Settings) -> None:
    assert Settings.from_env({"SUPPORT_RATE_LIMITS": "0", "SUPPORT_SECRET_KEY": "x" * 40,
                              "SUPPORT_DATA_DIR": str(settings.data_dir)}).rate_limits is False
    async with served(settings.with_(rate_limits=False)) as browsers:
        me = browsers["203.0.113.7"]
        for n in range(12):
            assert (await me.submit("unlock", fields(n, phone="98765 43210"))
                    ).status_code == 303, n
        lookup = {"reference": "UL-7KQ2-9XHD", "contact": "asha@example.com"}
        for n in range(12):
            assert (await me.post_form("/status", lookup)).status_code == 200, n


def test_the_benchmark_runs_without_limits_and_production_keeps_them(tmp_path: Path) -> None:
    from bench.b1_submit import server_env

    env = server_env("sqlite:///tmp/x.sqlite3", tmp_path, 8000, "inprocess")
    assert Settings.from_env(env).rate_limits is False
    production = {"SUPPORT_SECRET_KEY": "x" * 40, "SUPPORT_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(production).rate_limits is True


def test_a_malformed_limit_stops_the_start() -> None:
    from support.config import ConfigError

    with pytest.raises(ConfigError, match="SUPPORT_LIMIT_SUBMIT_IP"):
        Settings.from_env({"SUPPORT_SECRET_KEY": "x" * 40, "SUPPORT_LIMIT_SUBMIT_IP": "lots"})


# --- Redis ----------------------------------------------------------------------------


async def test_redis_holds_the_counts_and_an_unreachable_redis_does_not_stop_the_desk(
    settings: Settings, redis_prefix: str,
) -> None:
    lookup = {"reference": "UL-7KQ2-9XHD", "contact": "asha@example.com"}
    shared = settings.with_(redis_url=REDIS, rate_limit_prefix=redis_prefix,
                            limit_lookup_ip="3/hour")
    async with served(shared) as browsers:
        me = browsers["203.0.113.7"]
        for _ in range(3):
            assert (await me.post_form("/status", lookup)).status_code == 200
    async with served(shared) as browsers:  # a new process's memory would start at 0
        me = browsers["203.0.113.7"]
        assert is_limit_page(await me.post_form("/status", lookup))
    keys = [key async for key in coredis.Redis.from_url(REDIS).scan_iter(match=f"{redis_prefix}*")]
    assert keys and not any(b"203.0.113.7" in key for key in keys)  # addresses are keyed
    gone = settings.with_(redis_url="redis://127.0.0.1:1/0", limit_lookup_ip="1/hour")
    async with served(gone) as browsers:
        me = browsers["203.0.113.7"]
        for _ in range(3):
            assert (await me.post_form("/status", lookup)).status_code == 200


@pytest.mark.slow
async def test_two_processes_share_one_limit_through_redis(
    tmp_path: Path, database_url: str, redis_prefix: str,
) -> None:
    ports = [free_port(), free_port()]
    env = {**os.environ, "SUPPORT_DATA_DIR": str(tmp_path / "data"),
           "SUPPORT_DATABASE_URL": database_url, "SUPPORT_SECRET_KEY": "s" * 48,
           "SUPPORT_INPROCESS_WORKER": "0", "SUPPORT_REDIS_URL": REDIS,
           "SUPPORT_RATE_LIMIT_PREFIX": redis_prefix}
    for name in [name for name in env if name.startswith("SUPPORT_LIMIT_")]:
        env.pop(name)
    env.pop("SUPPORT_RATE_LIMITS", None)
    servers = [
        subprocess.Popen(  # noqa: ASYNC220 - servers that must outlive this call
            [sys.executable, "-m", "support", "serve", "--port", str(port)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for port in ports
    ]
    try:
        async with httpx2.AsyncClient(timeout=10) as http:
            for port, server in zip(ports, servers, strict=True):
                for _ in range(300):
                    try:
                        await http.get(f"http://127.0.0.1:{port}/healthz")
                        break
                    except httpx2.TransportError:
                        if server.poll() is not None:
                            raise AssertionError(server.communicate()[0]) from None
                        await asyncio.sleep(0.1)
                else:
                    raise AssertionError("server did not start")
            form = await http.get(f"http://127.0.0.1:{ports[0]}/status")
            lookup = {**hidden_fields(form.text), "reference": "UL-7KQ2-9XHD",
                      "contact": "asha@example.com"}
            answers = []
            for n in range(11):  # one process, then the other: 10 between them
                port = ports[n % 2]
                response = await http.post(f"http://127.0.0.1:{port}/status", data=lookup)
                answers.append(response.status_code)
            assert answers == [200] * 10 + [429], answers
            for port in ports:  # both processes now refuse
                refused = await http.post(f"http://127.0.0.1:{port}/status", data=lookup)
                assert is_limit_page(refused)
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        outputs = [server.communicate(timeout=20)[0] for server in servers]
    assert all("Application startup complete" in output for output in outputs), outputs
    assert not any("asha@example.com" in output for output in outputs)
