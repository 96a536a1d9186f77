"""What the sender wrote in a reply, and nothing else: not the history quoted back (our own
email), not their signature, not "Sent from my iPhone".

``new_text`` prefers the text/plain part; from HTML it first drops the clients' quote
containers, then makes text with ``html_to_text``. The quote headers and signatures are
found by mail-parser-reply (its English, and its table of languages, to which this module
adds what Gmail, Outlook, Apple Mail and the phones write in Hindi, Marathi and Russian).
HTML is parsed by lxml (libxml2), after two linear passes that keep hostile markup cheap.

Everything here is bounded: input is cut at ``INPUT_MAX``; the reply parser, whose English
"On … wrote:" pattern costs the square of a line's length, sees at most ``_PARSE_MAX``
characters in lines of at most ``_LINE_MAX`` (longer lines are hidden from it, and put back).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lxml import etree
from mailparser_reply import EmailMessage
from mailparser_reply.constants import MAIL_LANGUAGES

# A reply's part beyond 1 MB is cut before anything reads it: a person's answer is a few
# hundred words (the status page's form takes 2,000 characters), Outlook's HTML for one is
# tens of KB; a megabyte is read in well under a second whatever it holds, and more is
# only there to cost us time.
INPUT_MAX = 1_000_000
# What the reply parser sees (after the ">" quoted lines are gone): eight times the form's
# 2,000 characters. Its worst case (every line starting "On ") is then about 0.2 s.
_PARSE_MAX = 16_384
# No quote header or signature line is this long; longer lines (paragraphs typed without a
# break) are hidden from the parser's quadratic patterns and put back after it.
_LINE_MAX = 300
# libxml2 checks each attribute of a tag against all the tag's earlier ones: 100,000 of
# them in one tag take 20 s. No real tag has more than a few dozen.
_ATTRIBUTES_MAX = 256
# Steps of the walk over the tree (an element entered or left, 3 µs each): a long Outlook
# thread has some thousands of elements; a megabyte of "<br>" has 250,000, and text that
# far down says nothing its top did not.
_WALK_MAX = 20_000
# Lines that start like a valediction but go on as a sentence, looked past before the
# search for a signature gives up: each look reads the rest of the text.
_NOT_SIGNATURES_MAX = 20

# --- The reply parser's patterns, extended -------------------------------------------------
# mail-parser-reply keeps its per-language patterns in one table (MAIL_LANGUAGES, keyed by
# code, the way the library itself adds a language) and has no other way in: hence the
# exact pin in pyproject.toml. Each pattern has exactly one capturing group, the whole
# header: the parser takes every non-empty group found as a header to split at.
#
# Sources: Gmail's Russian line is as crisp-oss/email-reply-parser's test mail has it
# ("ср, 30 апр. 2025 г. в 15:19, John Doe <doe@example.com>:"); "Отправлено с iPhone",
# "Отправлено из мобильной Яндекс Почты", "… Почты Mail" are as public parsers strip them;
# Outlook's Russian labels (От/Отправлено/Кому/Тема) are Outlook's own. The Hindi and
# Marathi lines follow issue 23's samples of Gmail (a date, a time, the sender, "ने लिखा:"
# / "ने लिहिले:"): no public corpus had them, so the patterns key on the closing verb, not
# on the date's exact form; Outlook's Hindi and Marathi labels and the phones' Marathi
# line are Microsoft's and Apple's usual words, not seen in a real mail.

# A header line may be wrapped by the client next to the address's "<" (Gmail wraps at 78).
_WRAP = r"(?:[^\n]{1,300}(?:<\n|\n(?=<)))?"


def _ends_with(verb: str) -> str:
    """A quote header in a language that ends it with a verb ("… ने लिखा:"): one line (or
    two, wrapped at the address) with a digit (its date) in the first."""
    return rf"^((?=[^\n]{{0,300}}\d){_WRAP}[^\n]{{1,300}}\s{verb}\s?:)$"


def _outlook_block(labels: str) -> str:
    """Outlook's header block in another language, shaped as the library's English one: two
    or more lines "Label: …" (From, Sent, To, Subject) and perhaps one line more."""
    return (r"((?:(?:^|\n)[* ]*(?:" + labels + r"):[ *]*(?:\s{,2}).*){2,}(?:\n.*){,1})")


def _separator(words: str) -> str:
    return r"(^-{5,} ?(?:" + words + r") ?-{5,}$)"


_ADDED_LANGUAGES: dict[str, dict[str, Any]] = {
    "ru": {
        # Apple Mail "7 дек. 2026 г., в 10:02, Support desk <…> написал(а):",
        # Thunderbird "07.12.2026 10:02, Support desk пишет:" (Gmail's is under "desk").
        "wrote_header": [_ends_with(r"(?:написал\(а\)|написала|написал|пишет)")],
        "from_header": [_outlook_block("От|Отправлено|Кому|Копия|Тема|Дата"),
                        _separator("Исходное сообщение")],
        "signatures": ["С уважением", "С наилучшими пожеланиями", "Всего доброго",
                       "Всего хорошего", "Спасибо,"],
        # The library follows these with the rest of the line ("iPhone", "мобильной …").
        "sent_from": (r"Отправлено с(?= (?:iPhone|iPad|моего|устройства|мобильного))"
                      r"|Отправлено из(?= (?:мобильной|приложения))"
                      r"|Отправлено с помощью|Получено с помощью"),
        "disclaimers": [],
    },
    "hi": {
        "wrote_header": [_ends_with("ने लिखा")],
        "from_header": [_outlook_block("प्रेषक|भेजा गया|प्रति|प्रतिलिपि|विषय|दिनांक"),
                        _separator("मूल संदेश")],
        # Devanagari's vowel signs are not \w, which the library's "sent from" patterns
        # want after the phrase: the phone's line is a whole-line signature here instead.
        "signatures": ["धन्यवाद", "सादर", "शुभकामनाओं सहित", r"मेरे [^\n]{1,40} से भेजा गया$"],
        "sent_from": "",
        "disclaimers": [],
    },
    "mr": {
        "wrote_header": [_ends_with("(?:ने|यांनी) लिहिले")],
        "from_header": [_outlook_block("कडून|पाठवले|पाठविले|प्रति|प्रत|विषय|दिनांक|तारीख"),
                        _separator("मूळ संदेश")],
        "signatures": ["धन्यवाद", "आपला", "आपली", "आपले", "कळावे",
                       r"माझ्या [^\n]{1,40} (?:वरून|मधून) पाठवले$"],
        "sent_from": "",
        "disclaimers": [],
    },
    # Not a language (the library keeps one such entry, "david", for a mail program's
    # headers): lines clients write whatever the language.
    "desk": {
        # Gmail in Russian and most languages, Yandex, Mail.ru: a date with a time, the
        # sender's <address> and a colon ("пн, 7 дек. 2026 г. в 10:02, Support desk <…>:").
        "wrote_header": [r"^((?=[^\n]{0,300}\d:\d\d)[^\n]{0,300}\n?<\n?"
                         r"[^\s<>@]{1,64}@[^\s<>]{1,190}>\s?:)$"],
        "from_header": [_separator("Forwarded message|Пересылаемое сообщение"
                                   "|Пересланное сообщение|अग्रेषित संदेश")],
    },
}
MAIL_LANGUAGES.update(_ADDED_LANGUAGES)
_LANGUAGES = ("en", "ru", "hi", "mr", "desk")


def _patterns(key: str) -> list[str]:
    found: list[str] = []
    for code in _LANGUAGES:
        value = MAIL_LANGUAGES[code].get(key) or []
        found.extend([value] if isinstance(value, str) else value)
    return [pattern for pattern in found if pattern]


# "On … wrote:" and its kin stand above a ">" quote, which is gone by the time the parser
# runs: what follows one is the sender's (bottom-posting). An Outlook block or a separator
# stands above the history itself, unquoted.
_ATTRIBUTION = re.compile("|".join(f"(?:{p})" for p in _patterns("wrote_header")),
                          re.MULTILINE | re.IGNORECASE)
# A valediction opens a signature only alone on its line ("Thanks,"/"Ravi" below), never
# as the start of a sentence ("Thanks, the photo is attached."): the applicant's words
# matter more to a reviewer than a "Thanks, Ravi" left in.
_VALEDICTION = re.compile("|".join(f"(?:{p})" for p in _patterns("signatures")),
                          re.IGNORECASE)
_CLOSING_MARKS = " ,.!;:-–—।"
# A rule left under the sender's words (Outlook's line of underscores over its header
# block, when nothing stands above it to make it the parser's separator).
_RULE = re.compile(r"[-_=*~–—]{3,}")

# --- HTML ------------------------------------------------------------------------------------
_DROPPED = frozenset({"script", "style", "head", "title", "template", "iframe", "object",
                      "embed", "applet", "frameset", "noframes", "svg", "math"})
_LINE = frozenset({"div", "li", "tr", "dt", "dd", "section", "article", "header", "footer",
                   "aside", "nav", "address", "center", "figure", "figcaption", "form",
                   "fieldset", "legend", "main", "details", "summary", "caption"})
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table",
                        "pre", "hr", "blockquote"})
_CELL = frozenset({"td", "th"})
_BREAKS = {**dict.fromkeys(_LINE, 1), **dict.fromkeys(_PARAGRAPH, 2)}
# The containers clients put the quoted history (and their signature) in.
_QUOTE_CLASSES = frozenset({"gmail_quote", "gmail_quote_container", "gmail_attr",
                            "gmail_signature", "yahoo_quoted", "moz-cite-prefix",
                            "moz-signature"})
_QUOTE_IDS = frozenset({"Signature", "ms-outlook-mobile-signature",
                        "mail-editor-reference-message-container"})
# Outlook's markers of where the history starts: everything from one on is history.
_HISTORY_IDS = frozenset({"divRplyFwdMsg", "appendonsend"})

# A tag region (from a "<" just after a ">", or at the start, to the next ">") holding more
# than _ATTRIBUTES_MAX runs of separators. Anchored so no "<" is scanned from twice, and
# possessive so a region that is not crowded fails in one pass: linear on any input.
_CROWDED_TAG = re.compile(r"(?:\A|(?<=>))([^<>]*+)<[^\s/>]*+"
                          rf"(?:[\s/]++[^\s/>]*+){{{_ATTRIBUTES_MAX + 1}}}[^>]*+>?")
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
# Control characters (not tab or newline), zero-width ones, and the private-use pair the
# long-line placeholders are made of.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff\ue000\ue001]")
_PLACEHOLDER = re.compile("\ue000([0-9]+)\ue001")


def _tamed(html: str) -> str:
    """The HTML with its quotes made entities and each tag of too many attributes dropped.
    With no quote left no attribute value can hide a ">", so a tag runs from its "<"
    to the next ">" for libxml2 as for ``_CROWDED_TAG``, which counts what lies between.
    In text the entities read back as the same quotes; an attribute value keeps its first
    word, which is all that is read of one (a class, an id)."""
    html = html.replace('"', "&quot;").replace("'", "&#39;")
    return _CROWDED_TAG.sub(r"\1", html)  # the text before the tag, not the tag


def _parse(html: str) -> Any | None:
    data = _tamed(html[:INPUT_MAX].replace("\x00", "")).encode("utf-8", "replace")
    if not data.strip():
        return None
    # The declared charset is ignored (the text is already decoded); nothing is fetched;
    # libxml2's own limits stay on (256 levels of nesting: deeper content is dropped).
    parser = etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True,
                              no_network=True, recover=True, default_doctype=False,
                              collect_ids=False, huge_tree=False)
    try:
        return etree.fromstring(data, parser)
    except (etree.LxmlError, ValueError):
        return None


def _attribute_words(element: Any, name: str) -> set[str]:
    value = str(element.get(name) or "")
    return set(value.replace('"', " ").replace("'", " ").split())


def _is_history_start(element: Any) -> bool:
    # Outlook prefixes the ids it quotes again with "x_".
    return any(word.removeprefix("x_").removeprefix("x_") in _HISTORY_IDS
               for word in _attribute_words(element, "id"))


def _is_quote(element: Any, tag: str) -> bool:
    return (tag == "blockquote"
            or not _attribute_words(element, "class").isdisjoint(_QUOTE_CLASSES)
            or not _attribute_words(element, "id").isdisjoint(_QUOTE_IDS))


class _Lines:
    """Text as it is written out, with the breaks between blocks: block edges that meet
    make the larger of their breaks (a list item's line, a paragraph's blank line), each
    <br> one more, and whitespace at a block's edge nothing."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.breaks = 0

    def text(self, text: str | None, *, pre: bool) -> None:
        if not text:
            return
        if not pre:
            text = _HTML_SPACE.sub(" ", text)
        if self.breaks:
            if not text.strip():
                return
            self.parts.append("\n" * self.breaks)
            self.breaks = 0
        self.parts.append(text)

    def edge(self, tag: str) -> None:
        self.breaks = max(self.breaks, _BREAKS.get(tag, 0))

    def line_break(self) -> None:
        self.breaks += 1


def _render(root: Any, *, without_history: bool) -> str:
    """The text of the tree, walked without recursion (the depth is libxml2's to limit, not
    Python's) and each element's children one at a time (a body of 250,000 <br> is read
    only as far as ``_WALK_MAX``), HTML's whitespace collapsed outside <pre>."""
    lines = _Lines()
    pre = 0
    stack: list[tuple[Any, Iterator[Any]]] = [(root, iter(root))]
    lines.text(root.text, pre=False)
    for _ in range(_WALK_MAX):
        if not stack:
            break
        element, children = stack[-1]
        child = next(children, None)
        if child is None:  # the element ends here
            stack.pop()
            tag = _tag(element)
            pre -= tag == "pre"
            lines.edge(tag)
            if tag in _CELL:
                lines.text(" ", pre=False)
            if stack:  # the root's tail is outside the document
                lines.text(element.tail, pre=pre > 0)
            continue
        tag = _tag(child)
        if without_history and _is_history_start(child):
            break
        if tag in _DROPPED or (without_history and _is_quote(child, tag)):
            lines.text(child.tail, pre=pre > 0)
            continue
        if tag == "br":
            lines.line_break()
        lines.edge(tag)
        pre += tag == "pre"
        lines.text(child.text, pre=pre > 0)
        stack.append((child, iter(child)))
    return _tidy("".join(lines.parts))


def _tag(element: Any) -> str:
    return element.tag if isinstance(element.tag, str) else ""


def html_to_text(html: str) -> str:
    """HTML mail as plain text: scripts, styles, the head and comments gone, entities read,
    no tag left, links as their visible text, blocks on their own lines, whitespace tidied.
    Input beyond ``INPUT_MAX`` characters is not read."""
    root = _parse(html)
    return "" if root is None else _render(root, without_history=False)


# --- Text ------------------------------------------------------------------------------------
def _tidy(text: str) -> str:
    """Lines stripped and their inner whitespace made single spaces (which also keeps the
    parser's ``\\s*`` patterns from ever meeting a long run), at most one blank line in a
    row, no invisible characters."""
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines: list[str] = []
    for line in text.split("\n"):
        line = " ".join(line.split())
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip()


def _without_quoted_lines(text: str) -> str:
    """Lines quoted with ">" dropped, each quote leaving a paragraph break behind."""
    return _tidy("\n".join("" if line.startswith(">") else line for line in text.split("\n")))


def _hide_long_lines(text: str) -> tuple[str, list[str]]:
    hidden: list[str] = []
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if len(line) > _LINE_MAX:
            lines[index] = f"\ue000{len(hidden)}\ue001"
            hidden.append(line)
    return "\n".join(lines), hidden


def _without_signature(text: str, signature: re.Pattern[str]) -> str:
    """The text above its signature: from a "-- " line, a "Sent from my …" line, or a
    valediction alone on its line, down. The pattern is the library's."""
    position = 0
    for _ in range(_NOT_SIGNATURES_MAX):
        found = signature.search(text, position)
        if found is None:
            break
        start = found.start() + len(found.group()) - len(found.group().lstrip())
        end = text.find("\n", start)
        line = text[start:] if end < 0 else text[start:end]
        valediction = _VALEDICTION.match(line)
        if valediction is None or not line[valediction.end():].strip(_CLOSING_MARKS):
            return text[:found.start()].rstrip()
        if end < 0:
            break
        position = end + 1
    return text


def _own_words(text: str) -> str:
    """The sender's words in a plain text reply (see ``new_text``)."""
    text = _without_quoted_lines(text[:INPUT_MAX])[:_PARSE_MAX]
    text, hidden = _hide_long_lines(text)
    message = EmailMessage(text=text, languages=list(_LANGUAGES), keep_hyphen_lists=True)
    first = message.read().replies[0]
    if first.headers and not _ATTRIBUTION.search(str(first.headers)):
        return ""  # the text opens with Outlook's block or a separator: all of it is history
    lines = _without_signature(str(first.full_body), message.SIGNATURE_REGEX).split("\n")
    while lines and (not lines[-1].strip() or _RULE.fullmatch(lines[-1].strip())):
        lines.pop()
    words = "\n".join(lines)
    return _tidy(_PLACEHOLDER.sub(lambda found: hidden[int(found.group(1))], words))


def new_text(plain: str | None, html: str | None) -> str:
    """What the sender wrote in this message, from its text/plain part, or from its HTML
    without the quote containers (Gmail's, Outlook's and what follows its reply header,
    Apple's, any blockquote); then without the quoted history and the signature, in en,
    hi, mr and ru. "" when the message holds nothing of the sender's own (only a quote)."""
    if plain is not None and plain.strip():
        return _own_words(plain)
    if html is None:
        return ""
    root = _parse(html)
    return "" if root is None else _own_words(_render(root, without_history=True))
