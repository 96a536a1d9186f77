"""The document bucket asked once before a long-running command starts (issue 24)."""

from __future__ import annotations

import asyncio
import sys

from support.config import Settings
from support.documents.store import BucketStore, DocumentStore, close_clients


def storage_ready(settings: Settings, command: str) -> bool:
    """With a bucket (``SUPPORT_STORAGE_URL``), ask it once before starting: keys it
    refuses or a bucket that does not exist stop the start with one line; a gateway out of
    reach is only said (the desk tells applicants to try again until it answers)."""
    store = DocumentStore.of(settings)
    if not isinstance(store, BucketStore):
        return True

    async def ask() -> str | None:
        try:
            return await store.check()
        finally:
            await close_clients()

    try:
        wrong = asyncio.run(ask())
    except OSError as error:
        print(f"support {command}: warning: {error}; documents cannot be stored or shown "
              "until it answers", file=sys.stderr)
        return True
    if wrong is not None:
        print(f"support {command}: SUPPORT_STORAGE_URL: {wrong}", file=sys.stderr)
        return False
    return True
