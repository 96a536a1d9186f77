"""The desk's ``Taker``: reads a message (``support.notify.inbox``) and acts on it
(``support.workflow.mail``). Both receivers use it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from support.config import Settings
from support.documents.store import DocumentStore
from support.notify.delivery import desk_address
from support.notify.inbox import parse
from support.notify.inbox.parse import Incoming
from support.platform import metrics
from support.workflow import mail

# Reading a message is about a millisecond a 100 KB; a large one is read in a thread so
# the listener keeps answering other deliveries meanwhile.
READ_IN_THREAD_BYTES = 1024 * 1024


class DeskTaker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = DocumentStore.of(settings)
        self.own = (desk_address(settings),)

    def _read(self, raw: bytes) -> Incoming:
        return parse.read(raw, max_attachment_bytes=self.settings.max_file_bytes,
                          own_addresses=self.own)

    async def known(self, keys: Sequence[str]) -> set[str]:
        return await mail.known(keys)

    async def take(self, raw: bytes, key: str, recipients: Sequence[str] = ()) -> None:
        incoming = (await asyncio.to_thread(self._read, raw)
                    if len(raw) > READ_IN_THREAD_BYTES else self._read(raw))
        taken = await mail.take(self.settings, self.store, incoming, key,
                                [address.lower() for address in recipients])
        metrics.mail_taken(taken.outcome)

    async def take_oversize(self, key: str, header: bytes, size: int) -> None:
        incoming = parse.read(header, max_attachment_bytes=0, own_addresses=self.own)
        taken = await mail.take_oversize(self.settings, replace(incoming, size=size), key)
        metrics.mail_taken(taken.outcome)
