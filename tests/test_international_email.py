"""International email addresses (issue 19, finding 7): a domain in another script is kept
and sent as IDNA; a local part outside a to z is refused at the form, in the applicant's
language, since most relays would never deliver to it and the code would retry unseen."""

from __future__ import annotations

import pytest

from support.data.models import Application, Notification
from support.rules.validation import FieldError, check_email
from tests.conftest import UNLOCK


def test_a_domain_in_another_script_is_kept_as_idna_and_accepted_again():
    kept = check_email("Asha@Exämple.com")
    assert kept == "Asha@xn--exmple-cua.com"
    assert check_email(kept) == kept


def test_a_local_part_outside_a_to_z_is_refused_in_words():
    with pytest.raises(FieldError) as refused:
        check_email("tést@exämple.com")
    assert "before the @ sign" in refused.value.message


async def test_the_code_email_goes_to_the_idna_address_in_a_header_that_parses(applicant,
                                                                             outbox):
    response = await applicant.submit("unlock", {**UNLOCK, "email": "asha@exämple.com"})
    assert response.status_code == 303, response.text
    assert (await Application.get()).email == "asha@xn--exmple-cua.com"
    assert await outbox.deliver() == 2
    [message] = outbox.emails()
    assert message["To"] == "asha@xn--exmple-cua.com"
    assert str(message["To"]).isascii()
    assert not await Notification.filter(last_error__not="").exists()


async def test_a_local_part_outside_a_to_z_is_refused_on_the_form_in_hindi(applicant):
    await applicant.client.get("/?lang=hi")  # the language switcher's cookie
    refused = await applicant.submit("unlock", {**UNLOCK, "email": "आशा@example.com"})
    assert refused.status_code == 422
    assert "@ चिह्न से पहले" in refused.text
    assert "आशा@example.com" in refused.text  # what was typed is kept for correcting
    assert await Application.all().count() == 0


async def test_the_lost_link_look_up_finds_an_address_typed_in_its_own_script(applicant,
                                                                            outbox):
    response = await applicant.submit("unlock", {**UNLOCK, "email": "asha@exämple.com"})
    code = await outbox.last_code()
    await applicant.post_form(response.headers["location"], {"code": code})
    application = await Application.get()
    before = await Notification.filter(template="status_link").count()
    found = await applicant.post_form(
        "/status", {"reference": application.reference, "contact": "Asha@EXÄMPLE.com"})
    assert found.status_code == 200
    assert await Notification.filter(template="status_link").count() == before + 1
