"""Who else has an application open (issue 20, collisions): the page names the other
reviewers there, its poll keeps that fresh and says when the application changed since the
page was drawn, and a page going away stops naming its reviewer."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from support.accounts import auth
from support.clock import jobs
from support.data.models import ApplicationViewer
from support.workflow import presence, purging
from tests.factories import make_application


def _path(application) -> str:
    return f"/review/applications/{application.reference}"


def _version(page_text: str) -> int:
    match = re.search(r'data-version="(\d+)"', page_text)
    assert match, "the page carries no version for its poll"
    return int(match.group(1))


def _presence_text(page_text: str) -> str:
    """The words of the page's "who else" region, tags and spacing removed."""
    match = re.search(r'id="presence-others" role="status">(.*?)</div>', page_text, re.S)
    assert match, "the page has no presence region"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


async def _poll(signed, application, since: int | None = None) -> dict:
    query = "" if since is None else f"?since={since}"
    response = await signed.get(_path(application) + "/presence" + query)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


async def test_two_reviewers_on_one_application_see_each_other(desk):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    bob = await desk.reviewer("Bob")

    first = await ann.get(_path(application))
    assert first.status_code == 200
    assert _presence_text(first.text) == ""  # nobody else yet

    bobs = await bob.get(_path(application))
    assert _presence_text(bobs.text) == "Also open by Ann."
    anns = await ann.get(_path(application))
    assert _presence_text(anns.text) == "Also open by Bob."

    assert (await _poll(ann, application))["others"] == [{"name": "Bob", "holds": False}]
    assert (await _poll(bob, application))["others"] == [{"name": "Ann", "holds": False}]


async def test_the_poll_alone_makes_a_reviewer_seen_and_says_who_holds_it(desk):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    bob = await desk.reviewer("Bob")
    cy = await desk.reviewer("Cy")
    await ann.get(_path(application))
    await cy.get(_path(application))
    claimed = await bob.post(_path(application) + "/claim")
    assert claimed.status_code == 303
    await _poll(bob, application)

    assert (await _poll(ann, application))["others"] == [
        {"name": "Bob", "holds": True}, {"name": "Cy", "holds": False}]
    page = await ann.get(_path(application))
    assert _presence_text(page.text) == "Also open by Bob (has claimed it) and Cy."


async def test_a_reviewer_outside_the_queue_gets_404_from_the_poll_and_the_leave(desk):
    application = await make_application(kind="unlock")
    ann = await desk.reviewer("Ann")
    await ann.get(_path(application))
    outsider = await desk.reviewer("Oz", kinds=["recovery"])

    poll = await outsider.get(_path(application) + "/presence?since=0")
    assert poll.status_code == 404
    missing = await outsider.get("/review/applications/UL-AAAA-AAAA/presence")
    assert missing.status_code == 404
    assert poll.text == missing.text  # as for no application at all: nothing to probe
    assert "<h1" in poll.text and "Ann" not in poll.text
    left = await outsider.post(_path(application) + "/presence/leave",
                               {"mark": datetime.now(UTC).isoformat()})
    assert left.status_code == 404
    # The outsider was never recorded, and Ann sees nobody.
    assert await ApplicationViewer.filter(reviewer_id=outsider.reviewer.id).count() == 0
    assert (await _poll(ann, application))["others"] == []


async def test_signed_out_the_poll_goes_to_sign_in_and_the_leave_is_refused(app, desk):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    await ann.client.get("/review/queue")  # the CSRF cookie
    ann.client.cookies.delete("support_session")
    poll = await ann.get(_path(application) + "/presence")
    assert poll.status_code == 303
    assert poll.headers["location"].startswith("/review/login")
    left = await ann.post(_path(application) + "/presence/leave",
                          {"mark": datetime.now(UTC).isoformat()})
    assert left.status_code == 401


async def test_someone_not_seen_within_the_window_is_no_longer_named(desk):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    bob = await desk.reviewer("Bob")
    await bob.get(_path(application))
    assert [o["name"] for o in (await _poll(ann, application))["others"]] == ["Bob"]

    await ApplicationViewer.filter(reviewer_id=bob.reviewer.id).update(
        seen_at=datetime.now(UTC) - presence.WINDOW - timedelta(seconds=1))
    assert (await _poll(ann, application))["others"] == []
    assert _presence_text((await ann.get(_path(application))).text) == ""

    # Bob's tab polls again: he is back.
    await _poll(bob, application)
    assert [o["name"] for o in (await _poll(ann, application))["others"]] == ["Bob"]


async def test_a_deactivated_reviewer_is_not_named(desk):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    bob = await desk.reviewer("Bob")
    await bob.get(_path(application))
    assert [o["name"] for o in (await _poll(ann, application))["others"]] == ["Bob"]

    await auth.deactivate(bob.reviewer.email)
    assert (await _poll(ann, application))["others"] == []
    assert _presence_text((await ann.get(_path(application))).text) == ""


async def test_the_change_signal_moves_when_another_reviewer_claims_or_notes(desk):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    bob = await desk.reviewer("Bob")
    page = await ann.get(_path(application))
    version = _version(page.text)
    assert (await _poll(ann, application, since=version))["changed"] is None

    assert (await bob.post(_path(application) + "/claim")).status_code == 303
    changed = (await _poll(ann, application, since=version))["changed"]
    assert changed is not None
    assert changed["count"] == 1
    assert changed["latest"] == "Taken by Bob"  # as the history line says it
    assert changed["version"] > version

    # Drawn again, the page is up to date; Bob's note moves it once more.
    version = _version((await ann.get(_path(application))).text)
    assert (await _poll(ann, application, since=version))["changed"] is None
    noted = await bob.post(_path(application) + "/notes", {"note": "The receipt looks edited."})
    assert noted.status_code == 303
    changed = (await _poll(ann, application, since=version))["changed"]
    assert changed is not None and changed["latest"].endswith("by Bob")

    # Opening a document, or one's own note (from another tab), is no change to reload for.
    version = _version((await ann.get(_path(application))).text)
    assert (await ann.post(_path(application) + "/notes", {"note": "Mine."})).status_code == 303
    assert (await _poll(ann, application, since=version))["changed"] is None


async def test_a_page_that_leaves_stops_naming_its_reviewer_unless_a_later_page_marked_them(desk):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    bob = await desk.reviewer("Bob")
    await bob.get(_path(application))
    mark = (await _poll(bob, application))["mark"]

    # Bob's page is replaced by another of his (a form sent, a reload) before the old one's
    # beacon arrives: he is still there.
    await asyncio.sleep(0.01)
    await bob.get(_path(application))
    kept = await bob.post(_path(application) + "/presence/leave", {"mark": mark})
    assert kept.status_code == 204
    assert [o["name"] for o in (await _poll(ann, application))["others"]] == ["Bob"]

    # His last page goes away: Ann's next poll no longer names him.
    mark = (await _poll(bob, application))["mark"]
    left = await bob.post(_path(application) + "/presence/leave", {"mark": mark})
    assert left.status_code == 204
    assert (await _poll(ann, application))["others"] == []


async def test_the_leave_needs_the_csrf_field_and_a_mark(desk):
    application = await make_application()
    bob = await desk.reviewer("Bob")
    await bob.get(_path(application))
    mark = (await _poll(bob, application))["mark"]
    forged = await bob.client.post(_path(application) + "/presence/leave", data={"mark": mark})
    assert forged.status_code == 403
    for bad in ("", "yesterday", "2026-12-06T05:00:00", "9" * 50, "\x00"):
        refused = await bob.post(_path(application) + "/presence/leave", {"mark": bad})
        assert refused.status_code == 400, bad
    assert await ApplicationViewer.filter(reviewer_id=bob.reviewer.id).count() == 1


async def test_a_since_that_is_no_event_id_is_a_400(desk):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    for bad in ("abc", "-1", "²", "99999999999", "1.5", ""):
        response = await ann.client.get(_path(application) + "/presence", params={"since": bad})
        assert response.status_code == 400, bad


async def test_polls_write_the_row_only_when_it_is_stale(desk):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    first = (await _poll(ann, application))["mark"]
    second = (await _poll(ann, application))["mark"]
    assert second == first  # within REFRESH: read, not written
    row = await ApplicationViewer.get(reviewer_id=ann.reviewer.id)
    assert row.seen_at == datetime.fromisoformat(first)

    stale = datetime.now(UTC) - presence.REFRESH - timedelta(seconds=1)
    await ApplicationViewer.filter(id=row.id).update(seen_at=stale)
    third = datetime.fromisoformat((await _poll(ann, application))["mark"])
    assert third > stale + timedelta(seconds=1)
    assert (await ApplicationViewer.get(id=row.id)).seen_at == third


async def test_concurrent_marks_of_one_reviewer_make_one_row_and_never_go_back(desk):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    now = datetime.now(UTC)
    moments = [now - timedelta(seconds=n) for n in range(20)]
    await asyncio.gather(*(presence.seen(application, ann.reviewer, moment) for moment in moments))
    rows = await ApplicationViewer.filter(application_id=application.id)
    assert len(rows) == 1
    assert rows[0].seen_at == now
    await presence.seen(application, ann.reviewer, now - timedelta(minutes=1))  # a late one
    assert (await ApplicationViewer.get(id=rows[0].id)).seen_at == now


@pytest.fixture
def _fresh_daily():
    """run_all purges once a day per process: the purge runs here as in a fresh worker."""
    purging.DAILY.last_run = None
    yield
    purging.DAILY.last_run = None


async def test_the_worker_forgets_rows_older_than_a_day(desk, settings, _fresh_daily):
    application = await make_application()
    ann = await desk.reviewer("Ann")
    bob = await desk.reviewer("Bob")
    await ann.get(_path(application))
    await bob.get(_path(application))
    await ApplicationViewer.filter(reviewer_id=bob.reviewer.id).update(
        seen_at=datetime.now(UTC) - presence.KEEP - timedelta(minutes=1))

    await jobs.run_all(settings)  # the worker's minute
    assert [row.reviewer_id for row in await ApplicationViewer.all()] == [ann.reviewer.id]
