"""A tiny SMTP server on loopback for the outbox tests: it records what it receives and answers
each message's end of DATA with the next scripted reply (250 when the script is empty)."""

import asyncio
from dataclasses import dataclass, field


@dataclass
class SmtpStub:
    replies: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    attempts: int = 0
    sessions: int = 0
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> "SmtpStub":
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        self.sessions += 1
        await say("220 stub ready")
        try:
            while line := (await reader.readline()).decode().strip():
                verb = line.split(" ", 1)[0].upper()
                if verb in {"EHLO", "HELO"}:
                    await say("250 stub")
                elif verb in {"MAIL", "RCPT", "RSET", "NOOP"}:
                    await say("250 ok")
                elif verb == "DATA":
                    await say("354 go on")
                    lines = []
                    while (data := (await reader.readline()).decode()) not in {".\r\n", ""}:
                        lines.append(data)
                    self.attempts += 1
                    reply = self.replies.pop(0) if self.replies else "250 queued"
                    if reply.startswith("250"):
                        self.received.append("".join(lines))
                    await say(reply)
                elif verb == "QUIT":
                    await say("221 bye")
                    break
                else:
                    await say("502 not here")
        finally:
            writer.close()
