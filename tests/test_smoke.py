

async def test_home(client):
    r = await client.get("/")
    assert r.status_code == 200
    assert "/apply/unlock" in r.text


async def test_happy(applicant, outbox, client):
    path = await applicant.apply_and_verify(outbox)
    r = await client.get(path)
    assert r.status_code == 200, r.text
    assert "Waiting for a reviewer" in r.text
