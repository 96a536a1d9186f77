"""An applicant's reply as the reviewer reads it: only what they wrote now, from whole
bodies as Gmail, Outlook, Apple Mail and phones send them in en, hi, mr and ru, never the
desk's own email quoted back (tests/mail_samples/), and HTML made text safely and quickly
whatever it holds. Pure: no database, no server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from support.notify.inbox.reply_text import INPUT_MAX, html_to_text, new_text

SAMPLES = Path(__file__).parent / "mail_samples"

# Words of the desk's request that every sample quotes back in some form.
OURS = ("Please send a clearer photo of the receipt", "We are reviewing your application",
        "support@example.com", "Support desk", "RC-7Q2M")

# An HTML reply of nothing but Gmail's quote, and the hostile inputs below, must each
# finish well within this (every one took 6 to 200 s before its limit was put in).
QUICK = 3.0


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def assert_nothing_of_ours(text: str) -> None:
    for words in OURS:
        assert words not in text


@pytest.mark.parametrize(("name", "expected"), [
    ("gmail_en.txt",
     "Hello,\n\nI have attached a new photo of the receipt, taken in daylight. The shop is\n"
     "Reliance Digital, FC Road, Pune, and the date is 14 November 2026.\n\nRavi"),
    ("gmail_signature.txt",  # "-- " and the name, town and phone under it
     "Hi,\n\nHere is the receipt again. I scanned it this time instead of using the phone."),
    ("outlook_plain.txt",  # "-----Original Message-----" and From/Sent/To/Subject
     "Good morning,\n\nThe receipt is attached again, scanned at 600 dpi. The stamp at the "
     "bottom is\nfrom the shop."),
    ("apple_mail.txt",  # "Sent from my iPhone", the quote header itself quoted
     "Here it is. I went back to the shop and they printed the receipt again."),
    ("gmail_hi.txt",  # "… को 10:02 am बजे … ने लिखा:", signed "धन्यवाद,"
     "नमस्ते,\n\nरसीद की साफ़ फ़ोटो इस ईमेल के साथ भेज रहा हूँ। दुकान का नाम और तारीख अब "
     "पढ़ी जा सकती है।"),
    ("gmail_mr.txt",  # Devanagari digits, "… ने लिहिले:"
     "नमस्कार,\n\nपावतीचा स्पष्ट फोटो सोबत जोडला आहे. दुकानाचे नाव आणि तारीख आता वाचता येते."),
    ("gmail_ru.txt",  # "пн, 7 дек. 2026 г. в 10:02, … <…>:", signed "С уважением,"
     "Добрый день!\n\nОтправляю фото чека ещё раз, сфотографировал при дневном свете. "
     "Магазин\n«М.Видео» на Тверской, дата покупки 14 ноября 2026 г."),
    ("outlook_ru.txt",  # "Отправлено с iPhone", then От/Отправлено/Кому/Тема
     "Здравствуйте!\n\nЧек во вложении, отсканирован. Печать магазина внизу.\n\nОльга"),
    ("bottom_posted.txt",  # written under the quote, answers between its lines, then "-- "
     "Here it is. I photographed it on a white sheet so the print is readable.\n\n"
     "356938035643809"),
])
def test_a_plain_text_reply_is_only_what_the_applicant_wrote(name: str, expected: str) -> None:
    body = sample(name)
    text = new_text(body, None)
    assert text == expected
    assert_nothing_of_ours(text)


def test_outlook_line_endings_change_nothing() -> None:
    body = sample("outlook_plain.txt").replace("\n", "\r\n")
    assert new_text(body, None) == new_text(sample("outlook_plain.txt"), None)
    assert new_text(body, None).startswith("Good morning,\n\nThe receipt is attached again")


@pytest.mark.parametrize(("name", "expected"), [
    ("outlook_web.html",  # #appendonsend, #divRplyFwdMsg and all after; #Signature
     "Hello,\n\nI attached the receipt as a PDF from the shop’s website & a photo of the box."),
    ("outlook_desktop.html",  # Word's HTML: no marker, the From/Sent/To/Subject block as text
     "Good morning,\n\nThe receipt is attached again, scanned at 600 dpi. The stamp at the "
     "bottom is from the shop."),
    ("apple_mail.html",  # blockquote type=cite, "Sent from my iPhone" as a line
     "Here it is. I went back to the shop and they printed the receipt again."),
    ("gmail_script.html",  # div.gmail_quote; scripts, handlers and a comment among the words
     "The photo is attached & the box too <both of them>.\n\nSee my status page for the "
     "rest.\n\nRavi"),
])
def test_an_html_only_reply_is_only_what_the_applicant_wrote(name: str, expected: str) -> None:
    text = new_text(None, sample(name))
    assert text == expected
    assert_nothing_of_ours(text)
    assert "alert" not in text and "evil" not in text and "markup" not in text


OUTLOOK_BLOCK = ("From: Support desk <support@example.com>\n"
                 "Sent: Monday, December 7, 2026 10:02 AM\nTo: ravi@example.com\n"
                 "Subject: RC-7Q2M\n\nPlease send a clearer photo of the receipt.\n\nSupport desk")


@pytest.mark.parametrize("plain, html", [
    (sample("gmail_only_quote.txt"), None),
    (None, sample("gmail_only_quote.html")),
    ("Sent from my iPhone\n\n" + sample("gmail_only_quote.txt"), None),  # a phone's nothing
    # Outlook's history unquoted under its block, nothing typed above it
    (OUTLOOK_BLOCK, None),
    ("________________________________\n" + OUTLOOK_BLOCK, None),
    ("-----Original Message-----\n" + OUTLOOK_BLOCK, None),
    (None, None),
    ("  \n", "<html><body><br></body></html>"),
])
def test_a_message_that_is_only_a_quote_has_no_new_text(plain: str | None,
                                                        html: str | None) -> None:
    assert new_text(plain, html) == ""


def test_a_word_written_above_the_quote_is_never_lost() -> None:
    quote = sample("gmail_only_quote.txt").lstrip()
    assert new_text("Thanks,\n\n" + quote, None) == "Thanks,"
    assert new_text("ок\n\n" + quote, None) == "ок"


def test_a_sentence_that_opens_like_a_valediction_is_not_a_signature() -> None:
    body = ("Hello,\nThanks, the photo is attached now.\nThank you, I hope it is readable\n"
            "Ravi\n\n" + sample("gmail_only_quote.txt"))
    assert new_text(body, None) == ("Hello,\nThanks, the photo is attached now.\n"
                                    "Thank you, I hope it is readable\nRavi")
    # …while one alone on its line starts the signature, in each language.
    assert new_text("Фото во вложении.\nС уважением,\nИван", None) == "Фото во вложении."
    assert new_text("फ़ोटो भेज दी है।\nधन्यवाद\nरवि", None) == "फ़ोटो भेज दी है।"
    assert new_text("फ़ोटो भेज दी है।\n\nमेरे iPhone से भेजा गया", None) == "फ़ोटो भेज दी है।"


def test_a_list_in_the_reply_is_kept() -> None:
    body = "What I sent:\n- the receipt\n- the box\n\n" + sample("gmail_only_quote.txt")
    assert new_text(body, None) == "What I sent:\n- the receipt\n- the box"


def test_a_long_paragraph_typed_without_a_break_comes_back_whole() -> None:
    paragraph = "I bought the phone at the shop near the station " * 20  # 960 characters
    body = f"Hello,\n\n{paragraph.strip()}\n\n" + sample("gmail_only_quote.txt")
    assert new_text(body, None) == f"Hello,\n\n{paragraph.strip()}"
    # The characters that stand in for such a line while the parser runs can't be forged.
    assert new_text("a\ue0000\ue001b\n" + paragraph, None) == "a0b\n" + paragraph.strip()


def test_the_text_part_is_preferred_and_an_empty_one_is_passed_over() -> None:
    assert new_text("Written as text.", "<p>Written as HTML.</p>") == "Written as text."
    assert new_text(" \r\n ", "<p>Written as HTML.</p>") == "Written as HTML."


def test_html_becomes_plain_text_with_its_structure_as_lines() -> None:
    html = ("<html><head><title>Re: RC-7Q2M</title><meta charset='koi8-r'><style>p{}</style>"
            "</head><body><h1>Hello</h1><p>See <a href='https://x.example/'>my page</a>, "
            "and&nbsp;the&nbsp;box.</p><ul><li>one</li><li>two</li></ul>"
            "<table><tr><td>IMEI</td><td>356938035643809</td></tr></table>"
            "<pre>line 1\nline 2</pre><p>a&amp;lt;b&amp;gt; &#1044;&#x430; &copy;</p>"
            "<!-- hidden --><?php echo 1 ?></body></html>")
    assert html_to_text(html) == ("Hello\n\nSee my page, and the box.\n\none\ntwo\n\n"
                                  "IMEI 356938035643809\n\nline 1\nline 2\n\n"
                                  "a&lt;b&gt; Да ©")


def test_html_with_its_tags_left_open_still_reads() -> None:
    assert html_to_text("<div><p>First <b>bold<i>both</div>Second<p>Third") == (
        "First boldboth\n\nSecond\n\nThird")
    assert html_to_text("") == "" and html_to_text("<!-- nothing -->") == ""


def test_html_past_the_limits_is_not_read() -> None:
    html = "<p>start</p><p>" + "a " * (INPUT_MAX // 2) + "</p><p>after the limit</p>"
    text = html_to_text(html)
    assert text.startswith("start\n\na a a") and "after the limit" not in text
    # Nor past some 10,000 elements, far fewer than a megabyte of "<br>" holds.
    assert html_to_text("<p>start</p>" + "<br>" * 30_000 + "<p>far down</p>") == "start"


def timed(call: Callable[..., str], *args: object) -> tuple[str, float]:
    started = time.perf_counter()
    result = call(*args)
    return result, time.perf_counter() - started


MB = 1_000_000


@pytest.mark.parametrize("html, kept", [
    ("<div>" * (2 * MB) + "deep", None),  # 10 MB of nesting
    ("<p>kept</p>" + "<blockquote><div>" * (MB // 17), "kept"),
    ('<p>kept</p><img src="data:image/png;base64,' + "A" * (2 * MB) + '">', "kept"),
    # 100,000 attributes in one tag (closed: within the limit), 18 s for libxml2 unguarded
    ("<p>kept</p><div " + " ".join(f"a{i}=1" for i in range(MB // 10)) + ">", "kept"),
    ("<p>kept</p><div " + "/".join(f"a{i}" for i in range(MB // 9)) + ">", "kept"),
    ('<p>kept</p><div ' + " ".join(f'a{i}=">"' for i in range(MB // 12)) + ">", "kept"),
    ("<p>kept</p>" + "<a " * (MB // 3), "kept"),  # quadratic in Python 3.11.7's html.parser
    ("<p>kept</p>" + "<![" * (MB // 3), "kept"),  # html.parser's AssertionError
    ("<p>kept</p>" + "<!--" * (MB // 4), "kept"),
    ("<p>kept</p>" + "<br>" * (MB // 4), "kept"),
    ("<p>kept</p><table><tr><td>" * (MB // 26), "kept"),
    ("<p>kept</p><script>" + "</scr" * (MB // 5), "kept"),
    ("<p>kept</p>" + "&#" * (MB // 2), "kept"),
])
def test_hostile_html_is_read_quickly_and_never_crashes(html: str, kept: str | None) -> None:
    for call in (html_to_text, lambda markup: new_text(None, markup)):
        text, took = timed(call, html)
        assert took < QUICK
        assert "<div" not in text and "<script" not in text and "<br" not in text
        if kept is not None:
            assert text.startswith(kept)


@pytest.mark.parametrize("body", [
    ("On " + "x " * 148 + "\n") * (MB // 300),  # the parser's "On … wrote:" is quadratic
    "On " + "x " * (MB // 2),
    "Hello\n" + "\n" * MB + "world",
    "Hello" + " " * MB + "world",
    "Thanks, x\n" * (MB // 10),
    ("पहला 1 " + "ने " * 90 + "\n") * (MB // 280),
    ("пн, 7 дек. 2026 г. в 10:02, " + "<" * 260 + "\n") * (MB // 290),
])
def test_hostile_text_is_read_quickly(body: str) -> None:
    text, took = timed(new_text, body, None)
    assert took < QUICK
    assert len(text) <= len(body)
