"""A minimal HTTP endpoint for Prometheus to scrape a worker process.

Answers every ``GET`` with the text the ``render`` callable returns; nothing
else. Runs as a task in the worker command's task group, so it stops with
the worker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import anyio
from anyio.abc import SocketStream

MAX_REQUEST = 8192


def response(status: str, body: str, content_type: str = "text/plain; version=0.0.4; charset=utf-8") -> bytes:
    """An HTTP/1.0 response with ``body``."""
    data = body.encode()
    head = (
        f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + data


async def serve_metrics(host: str, port: int, render: Callable[[], str]) -> None:
    """Serve ``render()`` over HTTP on ``host:port`` until cancelled."""

    async def handle(stream: SocketStream) -> None:
        async with stream:
            request = b""
            with anyio.move_on_after(5):
                while b"\r\n\r\n" not in request and len(request) < MAX_REQUEST:
                    try:
                        request += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        break
            if request.startswith(b"GET "):
                reply = response("200 OK", render())
            else:
                reply = response("405 Method Not Allowed", "GET only\n")
            # A scraper that hung up early just misses this reply.
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await stream.send(reply)

    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    await listener.serve(handle)
