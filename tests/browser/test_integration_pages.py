"""The pages an admin and a maker's integrator use for issue 22, in Chromium with axe-core:
an admin makes a service key (shown once) and revokes it, adds a webhook endpoint (its
secret shown once) with a refused address first, and the API's reference page reads."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from support.data.models import ApiKey, WebhookEndpoint
from tests.browser.test_journeys import sign_in

pytestmark = pytest.mark.browser


async def test_an_admin_makes_and_revokes_a_key_and_adds_an_endpoint(new_context, live, recorder):
    admin = await sign_in(new_context, live, recorder, "Ada", role="admin")
    await admin.get_by_role("link", name="API keys").click()
    await expect(admin.get_by_role("heading", level=1)).to_have_text("API keys")
    await recorder.step(admin, "keys-empty")
    await admin.get_by_label("Name").fill("unlock-service")
    await admin.get_by_label(re.compile("permissions:read")).check()
    await admin.get_by_label(re.compile("permissions:redeem")).check()
    await admin.get_by_role("button", name="Make the key").click()
    secret = await admin.locator("#made-secret").input_value()
    assert secret.startswith("sk_")
    await expect(admin.locator("main")).to_contain_text("not shown again")
    await recorder.step(admin, "key-made")
    await admin.goto(f"{live}/review/admin/api-keys")
    assert secret not in await admin.content()  # once only
    await admin.get_by_role("link", name=re.compile("Revoke")).first.click()
    await admin.get_by_role("button", name=re.compile("Revoke")).click()
    await admin.wait_for_url(re.compile(r"notice=revoked"))
    await recorder.step(admin, "key-revoked")
    assert (await ApiKey.get(name="unlock-service")).revoked_at is not None

    await admin.get_by_role("link", name="Webhooks").first.click()
    await admin.get_by_label("Address").fill("ftp://unlock.maker.example/hooks")
    await admin.get_by_label(re.compile("permission.granted")).check()
    await admin.get_by_role("button", name="Add endpoint").click()
    await expect(admin.get_by_label("Address")).to_have_value("ftp://unlock.maker.example/hooks")
    await recorder.step(admin, "endpoint-refused")
    await admin.get_by_label("Address").fill("https://unlock.maker.example/hooks")
    await admin.get_by_role("button", name="Add endpoint").click()
    await expect(admin.locator("#secret-h")).to_be_visible()
    await expect(admin.locator("main")).to_contain_text("whsec_")
    await recorder.step(admin, "endpoint-added")
    assert await WebhookEndpoint.filter(url="https://unlock.maker.example/hooks").count() == 1


async def test_the_api_reference_reads_without_a_script(new_context, live, recorder):
    page = await (await new_context()).new_page()
    await page.goto(f"{live}/api/docs")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Support desk API")
    await expect(page.locator("main")).to_contain_text(
        "GET /api/v1/accounts/{account_id}/permission")
    await recorder.step(page, "api-docs")
