"""PDFs: whether one parses, and whether it carries anything that runs or hides a file.

A receipt or a bill is pages to look at. Anything a PDF viewer would *do* (JavaScript,
launching a program, an action that fires when the file opens or a page is shown) and
any file carried inside (embedded files, file attachment annotations, rich media) is
refused, as is a PDF that cannot be parsed: what our parser cannot read, a viewer that
repairs harder might, and we would not have checked what it finds there.

An action that runs by itself (``/OpenAction``, each entry of an ``/AA``) may chain others
through ``/Next`` (one action, or an array of them, each with its own ``/Next``), and the
viewer runs them all: ``/GoTo`` first, then ``/URI`` to call home. So the whole chain is
walked, and only ``/GoTo`` (a move inside the file) may run by itself. The walk is bounded:
an honest file has one such action or none, and a chain that loops back would otherwise
be followed for ever.

Two nets, because they miss different things:

- The parser (pypdf) reads every object the cross-reference table lists, those inside
  compressed object streams included, and its names are normalised, so
  ``/J#61vaScript`` is ``/JavaScript`` here, whatever the bytes say.
- A scan of the raw bytes for the longer of those names, ``#xx`` escapes decoded, finds
  objects the table does not list (a viewer rebuilding a "damaged" table would), at the
  price of missing what is compressed, which is the parser's half.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

from pypdf import PasswordType, PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    PdfObject,
)

from support.documents.refusals import Reason, Refused

# Action types (/S) that run code, start a program, or open something carried inside.
ACTIVE_ACTIONS = frozenset({
    "/JavaScript", "/Launch", "/GoToE", "/ImportData", "/Rendition", "/RichMediaExecute",
})
SCRIPT_KEYS = frozenset({"/JS", "/JavaScript", "/AA", "/XFA"})
ATTACHMENT_KEYS = frozenset({"/EmbeddedFiles", "/EF"})
ATTACHMENT_TYPES = frozenset({"/EmbeddedFile"})
ATTACHMENT_SUBTYPES = frozenset({"/FileAttachment"})
SCRIPT_SUBTYPES = frozenset({"/RichMedia"})
# The only action that may run by itself: it moves to a place in the file, nothing more.
HARMLESS_BY_ITSELF = "/GoTo"
# Actions one trigger sets off (a loop back counts each time round), and all the triggers
# of a document together, so neither a long chain nor many short ones make a long walk.
MAX_CHAIN = 16
MAX_ACTIONS = 64

# pypdf narrates what it repairs, quoting the file's bytes (on a bill: a name, an address).
# That has no place in our log (no personal data in logs); the refusal says enough.
_PYPDF_LOG = logging.getLogger("pypdf")
_PYPDF_LOG.addHandler(logging.NullHandler())
_PYPDF_LOG.propagate = False

_DELIMITER = rb"(?=[\x00\t\n\f\r ()<>\[\]{}/%]|\Z)"


def _escapable(name: str) -> bytes:
    """A regex for ``/name`` with any of its characters written as a ``#xx`` escape."""
    parts = [b"(?:" + re.escape(ch.encode()) + b"|#(?i:" + f"{ord(ch):02x}".encode() + b"))"
             for ch in name]
    return b"/" + b"".join(parts) + _DELIMITER


_RAW_NAMES = {
    "JavaScript": Reason.SCRIPTS, "Launch": Reason.SCRIPTS, "RichMedia": Reason.SCRIPTS,
    "EmbeddedFile": Reason.ATTACHMENTS, "EmbeddedFiles": Reason.ATTACHMENTS,
    "FileAttachment": Reason.ATTACHMENTS,
}
_RAW_PATTERNS = [(re.compile(_escapable(name)), name, reason)
                 for name, reason in _RAW_NAMES.items()]


def check_pdf(data: bytes) -> None:
    """Raise ``Refused`` unless ``data`` is a PDF we can parse and that only shows pages."""
    for pattern, name, reason in _RAW_PATTERNS:
        if pattern.search(data):
            raise Refused(reason, f"/{name} in the raw bytes")
    try:
        # The reader and its objects point to each other, so they wait for the cycle
        # collector, holding the file through the stream: closing both lets the file go
        # when the check ends (B4: 50 checked 10 MB PDFs had left 300 MB behind).
        with io.BytesIO(data) as stream, PdfReader(stream, strict=False) as reader:
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise Refused(Reason.PASSWORD)
            root = reader.trailer["/Root"].get_object()
            if not isinstance(root, DictionaryObject) or len(reader.pages) == 0:
                raise Refused(Reason.DAMAGED, "no pages")
            walked = _Walked()
            for found in _objects(reader):
                _check_object(found, walked)
    except Refused:
        raise
    except Exception as error:  # noqa: BLE001 - whatever the parser trips on, it is unreadable
        raise Refused(Reason.DAMAGED, f"unparseable: {type(error).__name__}") from None


def _objects(reader: PdfReader) -> Iterator[PdfObject | None]:
    """The trailer and every object the cross-reference table lists, reachable or not."""
    yield reader.trailer
    numbers = {(number, generation) for generation, table in reader.xref.items()
               for number in table}
    numbers |= {(number, 0) for number in reader.xref_objStm}
    for number, generation in sorted(numbers):
        yield reader.get_object(IndirectObject(number, generation, reader))


class _Walked:
    """How many automatic actions have been walked in one document (``MAX_ACTIONS``)."""

    def __init__(self) -> None:
        self.actions = 0


def _check_object(top: PdfObject | None, walked: _Walked) -> None:
    """Every dictionary inside ``top``; references are not followed (each referenced
    object is listed by the table and checked on its own)."""
    stack = [top]
    while stack:
        item = stack.pop()
        if isinstance(item, DictionaryObject):  # stream objects too
            for trigger in _triggers(item):
                _check_automatic(trigger, walked)
            _check_dictionary(item)
            stack.extend(item.values())
        elif isinstance(item, ArrayObject):
            stack.extend(item)


def _resolved(value: PdfObject | None) -> PdfObject | None:
    return value.get_object() if isinstance(value, IndirectObject) else value


def _name(item: DictionaryObject, key: str) -> str | None:
    """The name under ``key``, if it is one (a hostile file puts anything anywhere)."""
    value = _resolved(item.get(key))
    return str(value) if isinstance(value, NameObject) else None


def _check_dictionary(item: DictionaryObject) -> None:
    keys = set(item.keys())
    if keys & SCRIPT_KEYS:
        raise Refused(Reason.SCRIPTS, " ".join(sorted(keys & SCRIPT_KEYS)))
    action_type = _name(item, "/S")
    if action_type in ACTIVE_ACTIONS:
        raise Refused(Reason.SCRIPTS, f"{action_type} action")
    if keys & ATTACHMENT_KEYS or _name(item, "/Type") in ATTACHMENT_TYPES:
        raise Refused(Reason.ATTACHMENTS, "embedded file")
    subtype = _name(item, "/Subtype")
    if subtype in ATTACHMENT_SUBTYPES:
        raise Refused(Reason.ATTACHMENTS, "file attachment annotation")
    if subtype in SCRIPT_SUBTYPES:
        raise Refused(Reason.SCRIPTS, "rich media")


def _triggers(item: DictionaryObject) -> Iterator[PdfObject | None]:
    """What ``item`` sets off by itself: its ``/OpenAction`` and every entry of its ``/AA``
    (a page shown, a field touched, the file closed...). Looked for in every dictionary of
    the file, not only where a viewer reads them: a catalogue, page, annotation or form
    field (``/Kids`` too) is among them wherever it hangs, and so is one nothing reaches."""
    if "/OpenAction" in item:
        yield item["/OpenAction"]
    additional = _resolved(item.get("/AA"))
    if isinstance(additional, DictionaryObject):
        yield from additional.values()


def _check_automatic(trigger: PdfObject | None, walked: _Walked) -> None:
    """Refuse unless every action ``trigger`` runs, ``/Next`` after ``/Next``, is a
    ``/GoTo``: any other (even a link: it tells someone the file was opened, and where;
    a form sent, another file opened) runs without the reviewer asking for it."""
    first = _resolved(trigger)
    if not isinstance(first, DictionaryObject):
        return  # a destination (an array: open at page 1, fit the width) runs nothing
    pending: list[PdfObject | None] = [first]
    chained = 0
    while pending:
        action = _resolved(pending.pop())
        if not isinstance(action, DictionaryObject):
            continue  # not an action: a viewer runs nothing for it
        chained += 1
        walked.actions += 1
        if chained > MAX_CHAIN or walked.actions > MAX_ACTIONS:
            raise Refused(Reason.SCRIPTS, "too many actions that run by themselves")
        kind = _name(action, "/S")
        if kind != HARMLESS_BY_ITSELF:
            raise Refused(Reason.SCRIPTS, f"{kind or 'untyped'} action runs by itself")
        following = _resolved(action.get("/Next"))
        # One action or an array of them, run in order (the stack takes them reversed).
        pending.extend(reversed(following) if isinstance(following, ArrayObject)
                       else [following])
