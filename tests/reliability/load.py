"""A bounded HTTP load driver and the checks that compare what was acknowledged with what
was stored.

Every command carries its own Idempotency-Key, so a retry after a 409, a 503 or a lost
response can never write twice; every loop is bounded by attempts and by a deadline.
"""

from __future__ import annotations

import random
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ledger.application import LedgerApplication

PROBLEM_JSON = "application/problem+json"
RETRY_STATUSES = frozenset({409, 503})


@dataclass(frozen=True)
class Command:
    label: str
    path: str
    body: dict[str, Any] | None
    token: str
    key: str | None = field(default_factory=lambda: uuid.uuid4().hex)

    def headers(self) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token}"}
        if self.key is not None:
            h["Idempotency-Key"] = self.key
        return h


@dataclass
class Outcome:
    command: Command
    status: int | None = None
    body: Any = None
    content_type: str = ""
    attempts: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def resource_id(self) -> str | None:
        if self.acknowledged and isinstance(self.body, dict):
            return (self.body.get("resource") or {}).get("id")
        return None


@dataclass
class LoadResult:
    outcomes: list[Outcome]
    elapsed: float
    attempts: Counter = field(default_factory=Counter)  # every attempt's status or error
    not_sent: int = 0

    @property
    def acknowledged(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.acknowledged]

    @property
    def answered_409(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 409]

    def final_statuses(self) -> Counter:
        return Counter(o.status for o in self.outcomes)

    def retried(self) -> int:
        return sum(1 for o in self.outcomes if len(o.attempts) > 1)

    def server_errors(self) -> list[Outcome]:
        """5xx answers other than the 503 an unavailable database is meant to give."""
        return [o for o in self.outcomes if o.status is not None and o.status >= 500]

    def attempt_5xx_other_than_503(self) -> int:
        return sum(
            n for s, n in self.attempts.items() if s.isdigit() and int(s) >= 500 and s != "503"
        )


def send(
    client: httpx.Client,
    cmd: Command,
    *,
    max_attempts: int = 30,
    deadline: float | None = None,
    retry_statuses: frozenset[int] = RETRY_STATUSES,
    problems: list[tuple[int, str]] | None = None,
) -> Outcome:
    """POST one command, retrying (same key) on a conflict, an outage or a lost answer."""
    out = Outcome(cmd)
    for attempt in range(max_attempts):
        if deadline is not None and time.monotonic() > deadline:
            break
        try:
            r = client.post(cmd.path, json=cmd.body, headers=cmd.headers())
        except httpx.TransportError as e:
            out.attempts.append(type(e).__name__)
            out.status, out.body = None, None
            time.sleep(min(1.0, 0.05 * 2**attempt) * (0.5 + random.random()))
            continue
        out.attempts.append(str(r.status_code))
        out.status = r.status_code
        out.content_type = r.headers.get("content-type", "")
        try:
            out.body = r.json()
        except ValueError:
            out.body = r.text
        if r.status_code >= 400 and problems is not None:
            problems.append((r.status_code, out.content_type))
        if r.status_code not in retry_statuses:
            break
        time.sleep(min(1.0, 0.02 * 2**attempt) * (0.5 + random.random()))
    return out


def run_load(
    base_url: str,
    plans: Sequence[Sequence[Command]],
    *,
    max_attempts: int = 30,
    request_timeout: float = 30.0,
    deadline_s: float = 600.0,
    on_progress: Any = None,
) -> tuple[LoadResult, list[tuple[int, str]]]:
    """One thread per plan, each sending its commands in order; returns every outcome and
    the (status, content type) of every error answer seen."""
    deadline = time.monotonic() + deadline_s
    outcomes: list[list[Outcome]] = [[] for _ in plans]
    problems: list[tuple[int, str]] = []
    lock = threading.Lock()
    not_sent = [0]

    def writer(i: int, plan: Sequence[Command]) -> None:
        seen: list[tuple[int, str]] = []
        with httpx.Client(base_url=base_url, timeout=request_timeout) as client:
            for n, cmd in enumerate(plan):
                if time.monotonic() > deadline:
                    with lock:
                        not_sent[0] += len(plan) - n
                    break
                outcomes[i].append(
                    send(client, cmd, max_attempts=max_attempts, deadline=deadline, problems=seen)
                )
                if on_progress is not None:
                    on_progress()
        with lock:
            problems.extend(seen)

    started = time.monotonic()
    threads = [
        threading.Thread(target=writer, args=(i, p), name=f"writer-{i}", daemon=True)
        for i, p in enumerate(plans)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic() + request_timeout * 2))
    flat = [o for per in outcomes for o in per]
    result = LoadResult(flat, time.monotonic() - started, not_sent=not_sent[0])
    for o in flat:
        result.attempts.update(o.attempts)
    if any(t.is_alive() for t in threads):
        raise AssertionError("a writer thread outlived the load deadline")
    return result, problems


def storm(base_url: str, cmd: Command, copies: int = 3, timeout: float = 30.0) -> list[Outcome]:
    """Send the same command (same Idempotency-Key) ``copies`` times at once."""
    barrier = threading.Barrier(copies)
    results: list[Outcome | None] = [None] * copies

    def one(i: int) -> None:
        with httpx.Client(base_url=base_url, timeout=timeout) as client:
            barrier.wait(timeout=timeout)
            results[i] = send(client, cmd, max_attempts=10)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout * 4)
    if any(r is None for r in results):
        raise AssertionError("a storm request did not finish")
    return [r for r in results if r is not None]


# ---------------------------------------------------------------------- what the store holds
def events_since(app: LedgerApplication, after: int, topics: Iterable[str] = ()) -> list[Any]:
    """Every stored notification after position ``after`` (optionally of some topics)."""
    found: list[Any] = []
    start = after + 1
    topics = tuple(topics)
    while True:
        batch = app.recorder.select_notifications(start, 1000, topics=topics)
        if not batch:
            return found
        found.extend(batch)
        start = batch[-1].id + 1


def head(app: LedgerApplication) -> int:
    return app.recorder.max_notification_id() or 0


def read_until_closed(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything a server sends on a raw socket, and whether it closed the connection (False:
    the socket's timeout ran out first). A reset counts as closed."""
    reply = b""
    try:
        while chunk := sock.recv(65536):
            reply += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        return reply, False
    return reply, True
