"""Mail servers for the fault tests: one that accepts connections and then says nothing
(optionally after its greeting), and a real one (aiosmtpd) to take its place."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP


@dataclass
class SilentSmtp:
    """Listens on loopback, accepts every connection and never answers a command: a
    relay that hangs. With a ``greeting`` it first sends that line ("220 ..." gets the
    client as far as EHLO before the silence; "554 ..." turns the session down)."""

    greeting: str = ""
    port: int = 0
    connections: int = 0
    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        if self.greeting:
            writer.write(self.greeting.encode() + b"\r\n")
            await writer.drain()
        try:
            while await reader.read(4096):
                pass  # hear every command, answer none
        except ConnectionError:
            pass

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


@dataclass
class Recorder:
    """aiosmtpd handler that accepts everything and keeps what it received."""

    received: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = getattr(envelope, "original_content", None) or getattr(envelope, "content")
        self.received.append(content)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=policy.default)  # type: ignore[misc]
                for raw in self.received]


async def real_smtp(port: int) -> tuple[asyncio.Server, Recorder]:
    """A real SMTP server on ``port`` (the silent one's, once it is gone)."""
    recorder = Recorder()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(recorder, hostname="mail.test"), "127.0.0.1", port)
    return server, recorder
