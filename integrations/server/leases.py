"""Leases on the questions this server answers (the lifecycle is ``agent.deliveries``).

An adapter claims a question with :meth:`Leases.claim` before answering it: the claim
carries a lease of ``server.delivery_lease_seconds`` and what is needed to answer it
later (the job). While the answer is written the lease is renewed (every third of its
length); :meth:`Lease.held` re-checks it just before the answer is posted (a lease lost
to another server means the answer is no longer this server's to post), and
:meth:`Lease.finish` marks it answered or apologised once the user has been told.

On shutdown, past the grace, :meth:`Leases.apologise_unfinished` cancels what is still
being answered and posts each question's apology (the adapter's ``Lease.apology``),
marking it apologised. A question whose apology cannot be posted stays claimed: it is
taken over when its lease runs out.

At start-up and then every lease period, :meth:`Leases.sweep` takes over the unfinished
claims whose lease has run out — their server died (kill -9, a crash, a lost node) —
and hands each to its platform's resumer. They are *resumed*, i.e. answered, not
apologised for: the question is stored with the claim, and an answer is what the user
asked for. Only a claim taken over more than ``MAX_ATTEMPTS`` times gets an apology
instead (a question that kills its server must not kill every restart). Any server
sweeps any expired claim, not only its own: a replica that died may never come back. A
platform's retry that arrives once the lease has run out takes the claim over the same
way; exactly one claimant wins.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from askloop.agent.deliveries import FinishedState, PendingDelivery

if TYPE_CHECKING:
    from askloop.integrations.server.runtime import AsyncAssistant

__all__ = ["MAX_ATTEMPTS", "RESTART_APOLOGY", "Apology", "Lease", "Leases", "Resumer"]

log = logging.getLogger(__name__)

#: How many times a question is tried (the first claim included) before it is
#: apologised for instead.
MAX_ATTEMPTS = 3
#: What a question still unanswered when the server stops is told.
RESTART_APOLOGY = "Sorry, I was restarting and couldn't answer; please ask again."
#: How long shutdown waits for one apology to be posted.
_APOLOGY_SECONDS = 10.0

#: Posts the question's apology (in its thread).
Apology = Callable[[], Awaitable[Any]]
Spawn = Callable[..., asyncio.Task[Any]]


class Resumer(Protocol):
    """A platform's way to answer a question taken over from a dead server; with
    ``give_up`` it apologises instead. Either way it finishes ``lease``."""

    def __call__(
        self, pending: PendingDelivery, lease: Lease, *, give_up: bool
    ) -> Awaitable[None]: ...


class Lease:
    """This server's claim on one question; ``async with`` it around the answering."""

    def __init__(
        self, leases: Leases, key: str, *, platform: str, apology: Apology | None = None
    ) -> None:
        self.key = key
        self.platform = platform
        #: Set by the adapter once it knows how to apologise in the question's thread.
        self.apology = apology
        #: The task answering (cancelled at shutdown past the grace).
        self.task: asyncio.Task[Any] | None = asyncio.current_task()
        self.finished: FinishedState | None = None
        #: Another server has taken the claim over.
        self.lost = False
        self._leases = leases

    async def held(self) -> bool:
        """Still this server's? Renews the lease now (one database round trip)."""
        if self.lost:
            return False
        try:
            held = await self._leases.renew(self.key)
        except Exception as exc:
            # Cannot tell: posting beats silence (the claim was ours a moment ago).
            log.warning("cannot re-check the lease on %s (%s); answering anyway", self.key, exc)
            return True
        if not held:
            self.lost = True
            log.warning("the lease on %s was taken over by another server", self.key)
        return held

    async def finish(self, state: FinishedState = "answered") -> None:
        """The user has been told (an answer, a hint, an apology): done for good."""
        if self.finished is None:
            self.finished = state
            await self._leases.finish(self)

    async def __aenter__(self) -> Lease:
        self.task = asyncio.current_task()  # the work may run in a task of its own
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        cancelled = exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
        self._leases.release(self, cancelled=cancelled)


class Leases:
    """The leases this server holds, their renewal, the shutdown apology and the sweep."""

    def __init__(
        self,
        assistant: AsyncAssistant,
        *,
        seconds: float,
        spawn: Spawn,
        owner: str | None = None,
    ) -> None:
        self._assistant = assistant
        self._spawn = spawn
        #: This process, as the ``owner`` of its claims.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.seconds = seconds
        self._lease = timedelta(seconds=seconds)
        self._live: dict[str, Lease] = {}
        self._resumers: dict[str, Resumer] = {}
        self._renewing: asyncio.Task[None] | None = None

    def resume_with(self, platform: str, resumer: Resumer) -> None:
        """Expired claims of ``platform`` are taken over and handed to ``resumer``."""
        self._resumers[platform] = resumer

    def unfinished(self) -> list[Lease]:
        return [lease for lease in self._live.values() if lease.finished is None]

    async def claim(
        self,
        key: str,
        *,
        platform: str,
        job: Mapping[str, Any],
        apology: Apology | None = None,
    ) -> Lease | None:
        """The lease on ``key``, or None when another claim holds it (or finished it).
        Raises what the log raises when it cannot tell."""
        if key in self._live:  # this server is answering it already
            return None
        claimed = await self._assistant.claim_delivery(
            key, lease=self._lease, owner=self.owner, platform=platform, job=job
        )
        return self._hold(key, platform, apology) if claimed else None

    def _hold(self, key: str, platform: str, apology: Apology | None = None) -> Lease:
        lease = self._live[key] = Lease(self, key, platform=platform, apology=apology)
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._renew_all(), name="askloop-leases")
        return lease

    async def renew(self, key: str) -> bool:
        return await self._assistant.renew_delivery(key, owner=self.owner, lease=self._lease)

    async def finish(self, lease: Lease) -> None:
        state = lease.finished or "answered"
        try:
            for attempt in range(3):
                try:
                    if not await self._assistant.finish_delivery(
                        lease.key, owner=self.owner, state=state
                    ):
                        log.warning("%s was finished by another server", lease.key)
                    return
                except Exception as exc:
                    if attempt == 2:
                        # Stays claimed: taken over (and answered again) after the lease.
                        log.error("cannot mark %s %s (%s)", lease.key, state, exc)
                        return
                    await asyncio.sleep(0.5 * (attempt + 1))
        finally:
            self._live.pop(lease.key, None)

    def release(self, lease: Lease, *, cancelled: bool) -> None:
        """The work on ``lease`` ended. Unfinished and cancelled (shutdown): kept for
        ``apologise_unfinished``; unfinished otherwise (a failure): left to expire and
        be taken over."""
        if lease.finished is None:
            if cancelled:
                return
            log.warning("%s was left unanswered; it is tried again after its lease", lease.key)
        self._live.pop(lease.key, None)

    async def _renew_all(self) -> None:
        while self._live:
            await asyncio.sleep(self.seconds / 3)
            for lease in list(self._live.values()):
                if lease.finished is not None or lease.lost:
                    continue
                try:
                    await lease.held()
                except Exception:  # held() logs what it can tell
                    log.debug("renewing %s failed", lease.key, exc_info=True)

    # -- shutdown ---------------------------------------------------------------------

    async def apologise_unfinished(self) -> int:
        """Stop answering what is left and apologise for each; returns how many were
        apologised for."""
        unfinished = self.unfinished()
        tasks = [lease.task for lease in unfinished if lease.task and not lease.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_APOLOGY_SECONDS)
        told = await asyncio.gather(*(self._apologise(lease) for lease in unfinished))
        return sum(told)

    async def _apologise(self, lease: Lease) -> bool:
        if lease.apology is None or not await lease.held():
            return False
        try:
            await asyncio.wait_for(lease.apology(), _APOLOGY_SECONDS)
        except Exception as exc:
            log.warning("could not apologise for %s (%s); it is tried again later", lease.key, exc)
            return False
        await lease.finish("apologised")
        return True

    async def aclose(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()

    # -- taking over from dead servers --------------------------------------------------

    async def sweep(self) -> int:
        """Take over expired unfinished claims and resume them; returns how many."""
        if not self._resumers:
            return 0
        taken = await self._assistant.take_over_deliveries(
            owner=self.owner, lease=self._lease, platforms=sorted(self._resumers)
        )
        for pending in taken:
            lease = self._hold(pending.key, pending.platform)
            self._spawn(self._resume(pending, lease), name=f"resume-{pending.key}")
        return len(taken)

    async def _resume(self, pending: PendingDelivery, lease: Lease) -> None:
        lease.task = asyncio.current_task()
        give_up = pending.attempts > MAX_ATTEMPTS
        log.info(
            "%s %s, unfinished by the server that claimed it (attempt %d)",
            "apologising for" if give_up else "answering",
            pending.key,
            pending.attempts,
        )
        async with lease:
            await self._resumers[pending.platform](pending, lease, give_up=give_up)

    async def keep_sweeping(self) -> None:
        """Sweep now, then every lease period (the server's background upkeep)."""
        while True:
            try:
                await self.sweep()
            except Exception as exc:
                log.warning("taking over expired question claims failed (%s)", exc)
            await asyncio.sleep(self.seconds)
