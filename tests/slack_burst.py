"""Signed Slack requests fired as Slack fires them: each on its own connection, timed.

For the fault tests, ``bench/durability.py`` and ``bench/slack_ack.py``: raw sockets,
connected and signed beforehand, so the client adds microseconds, not the milliseconds
an HTTP client in one Python thread would add under a burst.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.slack_fake import signed_headers

__all__ = ["Ack", "burst"]


@dataclass(frozen=True)
class Ack:
    """One request's outcome: its index, HTTP status (0: no response), and the ms from
    writing the request to reading the whole response."""

    index: int
    status: int
    ms: float


def burst(
    url: str,
    bodies: list[str],
    *,
    form: bool,
    retry_num: int | None = None,
    kill_after: int | None = None,
    kill: Callable[[], None] | None = None,
    per_second: float = 0.0,
) -> list[Ack]:
    """POST every body, each signed on its own connection, as Slack does: all at once,
    or ``per_second`` (> 0) evenly spaced. With ``kill_after``, ``kill()`` runs as soon
    as that many 200s are read; responses that had fully arrived by then still count
    (the server sent them). ``retry_num`` marks every request as Slack's redelivery.
    """
    host, rest = url.split("//", 1)[1].split("/", 1)
    hostname, port = host.split(":")
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    requests = []
    for body in bodies:
        data = body.encode()
        headers = signed_headers(body, content_type=content_type, retry_num=retry_num)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        requests.append(
            f"POST /{rest} HTTP/1.1\r\nHost: {host}\r\n{head}"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
    sockets = [socket.create_connection((hostname, int(port))) for _ in requests]
    selector = selectors.DefaultSelector()
    for i, sock in enumerate(sockets):
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, i)
    sent = [0.0] * len(requests)
    received = [b""] * len(requests)
    acks: dict[int, Ack] = {}
    gap = 1 / per_second if per_second > 0 else 0.0
    start, next_up = time.perf_counter(), 0
    ok, killed = 0, False
    while len(acks) < len(requests):
        while next_up < len(requests) and not killed:
            due = start + next_up * gap
            if time.perf_counter() < due:
                break
            sent[next_up] = time.perf_counter()
            try:
                sockets[next_up].sendall(requests[next_up])
            except OSError:  # the server is gone
                pass
            next_up += 1
        if killed and next_up < len(requests):
            for i in range(next_up, len(requests)):  # never sent: never acknowledged
                acks[i] = Ack(i, 0, 0.0)
                selector.unregister(sockets[i])
            next_up = len(requests)
        wait = 60.0
        if next_up < len(requests):
            wait = max(0.0, start + next_up * gap - time.perf_counter())
        ready = selector.select(timeout=wait)
        if not ready and next_up >= len(requests):
            break
        for key, _ in ready:
            i = key.data
            try:
                chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
            except ConnectionError:
                chunk = b""
            received[i] += chunk
            if chunk and not _complete(received[i]):
                continue
            selector.unregister(key.fileobj)
            status = _status(received[i]) if _complete(received[i]) else 0
            acks[i] = Ack(i, status, (time.perf_counter() - sent[i]) * 1000)
            ok += status == 200
            if kill_after is not None and ok >= kill_after and not killed and kill:
                kill()
                killed = True
    for sock in sockets:
        sock.close()
    return [acks.get(i, Ack(i, 0, 0.0)) for i in range(len(requests))]


def _complete(response: bytes) -> bool:
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return True


def _status(response: bytes) -> int:
    try:
        return int(response.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0
