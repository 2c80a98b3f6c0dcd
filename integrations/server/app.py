"""``askloop serve``: one aiohttp server for Slack, Teams, health and metrics.

| path                | what                                                        |
|---------------------|-------------------------------------------------------------|
| POST /slack/events  | Slack Events API + interactivity (``integrations.slack``)   |
| POST /api/messages  | Bot Framework activities (``integrations.teams``)           |
| GET /healthz        | 200 when the store, the log and the memory answer, else 503 |
| GET /metrics        | Prometheus text                                             |
| /console/           | the review console (``integrations.console``)               |

Adapters acknowledge first and answer in background tasks; on SIGTERM the server stops
accepting, lets acknowledged answers finish (``server.shutdown_grace_seconds``), then
closes every client.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from datetime import timedelta

from aiohttp import web

from askloop.integrations.server.runtime import ServerRuntime

__all__ = ["RUNTIME", "build_app", "serve", "start"]

log = logging.getLogger(__name__)

RUNTIME: web.AppKey[ServerRuntime] = web.AppKey("askloop_runtime", ServerRuntime)

#: Platform payloads are small; anything bigger than this is refused with 413.
MAX_BODY_BYTES = 1024 * 1024


async def _healthz(request: web.Request) -> web.Response:
    checks = await request.app[RUNTIME].assistant.healthy()
    ok = all(v == "ok" for v in checks.values())
    if not ok:
        log.warning("health check failed: %s", checks)
    return web.json_response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[RUNTIME].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


def build_app(runtime: ServerRuntime) -> web.Application:
    """The aiohttp application with every route mounted (no socket opened)."""
    from askloop.integrations import console, slack, teams

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    slack.mount(app, runtime)
    teams.mount(app, runtime)
    console.mount(app, runtime)
    return app


async def start(runtime: ServerRuntime, *, host: str, port: int) -> web.AppRunner:
    """Listen, then warm up. Returns the runner (``runner.addresses`` has the port).

    The port is bound first so a taken port fails at once, not after loading models;
    requests that arrive during warm-up wait for it.
    """
    runner = web.AppRunner(build_app(runtime), access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        await runtime.aclose()
        raise
    await runtime.assistant.warm_up()
    runtime.housekeeping = asyncio.create_task(_housekeeping(runtime), name="askloop-housekeeping")
    runtime.sweeping = asyncio.create_task(
        runtime.leases.keep_sweeping(), name="askloop-lease-sweep"
    )
    return runner


#: Platforms stop redelivering within minutes (Slack) to hours; claims are kept for days.
DELIVERY_CLAIMS_KEPT = timedelta(days=3)


async def _housekeeping(runtime: ServerRuntime, every_seconds: float = 3600.0) -> None:
    """Hourly: forget old delivery claims and the memory of long-idle conversations
    (every replica may do it; both are idempotent)."""
    memory_days = runtime.settings.server.thread_memory_days
    while True:
        try:
            pruned = await runtime.assistant.prune_deliveries(older_than=DELIVERY_CLAIMS_KEPT)
            if pruned:
                log.info("forgot %d delivery claims older than %s", pruned, DELIVERY_CLAIMS_KEPT)
        except Exception:
            log.warning("pruning delivery claims failed", exc_info=True)
        if memory_days:
            try:
                idle = timedelta(days=memory_days)
                forgotten = await runtime.assistant.forget_idle_threads(older_than=idle)
                if forgotten:
                    log.info("forgot the memory of %d conversations idle for %s", forgotten, idle)
            except Exception:
                log.warning("forgetting idle conversations failed", exc_info=True)
        await asyncio.sleep(every_seconds)


async def stop(runtime: ServerRuntime, runner: web.AppRunner) -> None:
    """Stop accepting, let acknowledged work finish, apologise for the questions still
    unanswered past the grace, then close everything (clients before the pools their
    last calls run on)."""
    grace = runtime.settings.server.shutdown_grace_seconds
    for upkeep in (runtime.housekeeping, runtime.sweeping):
        if upkeep is not None:
            upkeep.cancel()
    for site in list(runner.sites):
        await site.stop()
    cancelled = await runtime.drain(grace)
    if cancelled:
        log.warning("shutdown: %d background tasks did not finish within %.0fs", cancelled, grace)
    unfinished = len(runtime.leases.unfinished())
    if unfinished:
        told = await runtime.leases.apologise_unfinished()
        log.warning(
            "shutdown: apologised for %d of %d unanswered questions (the rest are answered "
            "after a restart)",
            told,
            unfinished,
        )
    await runner.cleanup()
    await runtime.aclose()


async def serve(runtime: ServerRuntime, *, host: str, port: int) -> None:
    """Run until SIGINT/SIGTERM."""
    # Handlers first: a signal that arrives while the models load still stops cleanly.
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    runner = await start(runtime, host=host, port=port)
    # What start-up loaded (modules, models, clients) lives as long as the process: out
    # of the collector's sight, a full collection no longer walks all of it — one did,
    # for 0.3 s, in the middle of the first burst of clicks a new server acknowledged.
    gc.collect()
    gc.freeze()
    bound = ", ".join(f"http://{a[0]}:{a[1]}" for a in runner.addresses)
    print(
        f"askloop serve: listening on {bound} "
        "(/slack/events, /api/messages, /healthz, /metrics, /console/)",
        flush=True,
    )
    try:
        await stopping.wait()
    finally:
        print("askloop serve: shutting down", flush=True)
        await stop(runtime, runner)
