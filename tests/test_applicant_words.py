"""What an applicant reads, small things first (issue 21): a reference never breaks inside
on a phone, units in the applicant's language, a phone refusal that agrees with its hint."""

from __future__ import annotations

import re

from support.data.models import Application


async def test_a_reference_in_a_sentence_is_kept_whole(applicant, outbox, client):
    status_path = await applicant.apply_and_verify(outbox)
    reference = (await Application.get()).reference
    for path in (status_path + "/withdraw", status_path + "/erase"):
        page = await client.get(path)
        assert page.status_code == 200
        heading = re.search(r"<h1>(.*?)</h1>", page.text, re.S).group(1)
        # In its own nowrap span (site.css .reference), escaped as any text is.
        assert f'<span class="reference">{reference}</span>' in heading, heading


async def test_russian_pages_write_megabytes_in_russian(client):
    page = await client.get("/apply/unlock?lang=ru")
    assert "10 МБ" in page.text and "10 MB" not in page.text
