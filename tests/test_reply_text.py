"""The reviewer sees what the applicant wrote now: not our quoted request, not their
signature, not "Sent from my iPhone", in the forms Gmail, Outlook and phones write in
English, Russian, Hindi and Marathi."""

from __future__ import annotations

import time

import pytest

from support.inbox.reply_text import html_to_text, new_text

OURS = "Please send a clearer photo of the receipt."

PLAIN = [
    ("Here is the receipt again.\n\nOn Mon, 7 Dec 2026 at 10:02, Support desk "
     f"<support@localhost> wrote:\n\n> {OURS}\n", "Here is the receipt again."),
    ("Вот чек.\n\nС уважением,\nИван\n\nпн, 7 дек. 2026 г. в 10:02, Support desk "
     f"<support@localhost>:\n\n> {OURS}", "Вот чек."),
    ("Вот чек.\n\n7 декабря 2026 г., в 10:02, пользователь Support desk <support@localhost> "
     f"написал:\n> {OURS}", "Вот чек."),
    ("Прикладываю фото.\n\nОт: Support desk <support@localhost>\nОтправлено: 7 декабря 2026 г. "
     f"10:02\nКому: ivan@example.com\nТема: Нужна информация\n\n{OURS}", "Прикладываю фото."),
    ("रसीद की साफ़ फ़ोटो संलग्न है।\n\nसोम, 7 दिस॰ 2026 को 10:02 am बजे Support desk "
     f"<support@localhost> ने लिखा:\n\n> {OURS}\n", "रसीद की साफ़ फ़ोटो संलग्न है।"),
    ("पावती जोडली आहे.\n\nसोम, ७ डिसें, २०२६ रोजी १०:०२ AM रोजी Support desk "
     f"<support@localhost> ने लिहिले:\n\n> {OURS}", "पावती जोडली आहे."),
    ("Attached.\n\nSent from my iPhone\n\n> On 7 Dec 2026, at 10:02, Support desk "
     f"<support@localhost> wrote:\n> {OURS}", "Attached."),
    ("Вот.\n\nОтправлено с iPhone", "Вот."),
    ("रसीद भेज दी है।\n\nमेरे iPhone से भेजा गया", "रसीद भेज दी है।"),
    ("Here it is.\n\n-- \nIvan Petrov\n+7 900 000 00 00", "Here it is."),
    ("See the photo.\n\n-----Original Message-----\nFrom: Support desk\nSent: Monday\nTo: x\n"
     f"Subject: y\n\n{OURS}", "See the photo."),
    (f"> {OURS}\n\nHere it is, taken in daylight.", "Here it is, taken in daylight."),
    (f"On Mon, 7 Dec 2026 at 10:02, Support desk <support@localhost> wrote:\n> {OURS}", ""),
]


@pytest.mark.parametrize(("body", "theirs"), PLAIN)
def test_the_new_words_of_a_plain_reply(body, theirs):
    assert new_text(body, None) == theirs
    assert OURS not in new_text(body, None)


def test_an_outlook_html_reply_loses_everything_from_its_marker_on():
    html = ("<html><body><div>Here is the receipt.</div><hr style='display:inline-block'>"
            "<div id='divRplyFwdMsg' dir='ltr'><b>From:</b> Support desk<br><b>Sent:</b> "
            f"Monday</div><div>{OURS}</div></body></html>")
    assert new_text(None, html) == "Here is the receipt."


def test_a_gmail_html_reply_loses_its_gmail_quote():
    html = ('<div dir="ltr">Photo attached</div><br><div class="gmail_quote"><div '
            f'class="gmail_attr">On Mon … wrote:</div><blockquote>{OURS}</blockquote></div>')
    assert new_text(None, html) == "Photo attached"


def test_the_plain_part_is_preferred_and_an_empty_message_is_empty():
    assert new_text("Plain words.", "<p>HTML words.</p>") == "Plain words."
    assert new_text(None, None) == "" and new_text("  \n", None) == ""


def test_html_is_made_text_safely():
    text = html_to_text("<head><title>t</title></head><script>alert(1)</script>"
                        "<style>p{color:red}</style><!-- hidden --><p>Here is the "
                        "<b>receipt</b> &amp; the <a href='javascript:x'>box</a>.</p>"
                        "<p>Second &lt;line&gt;</p>")
    assert text == "Here is the receipt & the box.\n\nSecond <line>" or \
        text == "Here is the receipt & the box.\nSecond <line>"
    assert "alert" not in text and "color" not in text and "hidden" not in text


def test_hostile_html_is_bounded_in_time():
    started = time.monotonic()
    html_to_text("<div>" * 200_000 + "x")
    html_to_text("<p title='" + "a" * 5_000_000 + "'>x</p>")
    assert time.monotonic() - started < 10
