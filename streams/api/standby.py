"""The worker's health while it waits for Kafka, before Faust (and its web server) can start: /live
answers 200 ("starting": a process waiting for its brokers is not stuck, and restarting it would not
help) and /ready and /health 503, in the documents /live and /ready answer later (engine/health.py).
Anything else 503 too. Stopped before Faust binds the same port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from ..engine import health
from ..kafka.topics import ensure_topics_once_reachable
from ..settings import Settings

WAITING = "waiting_for_kafka"


async def topics_once_reachable(settings: Settings, kafka_config: dict) -> None:
    """The service's topics checked and made once the cluster answers (``ensure_topics_once_reachable``),
    with the standby health served meanwhile."""
    async with standby(settings.web_host, settings.web_port):
        await ensure_topics_once_reachable(settings, kafka_config)


def _documents() -> tuple[dict, dict]:
    live, ready = health.probe(None)
    return live.document(), {**ready.document(), "status": WAITING}


async def _live(request: web.Request) -> web.Response:
    return web.json_response(_documents()[0])


async def _ready(request: web.Request) -> web.Response:
    return web.json_response(_documents()[1], status=503)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": WAITING}, status=503)


async def _unavailable(request: web.Request) -> web.Response:
    return web.json_response({"error": "the worker is waiting for Kafka"}, status=503)


def standby_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/live", _live)
    app.router.add_get("/ready", _ready)
    app.router.add_get("/health", _health)
    app.router.add_route("*", "/{tail:.*}", _unavailable)
    return app


@asynccontextmanager
async def standby(host: str, port: int) -> AsyncIterator[None]:
    """Serve the standby health on host:port while the block runs."""
    runner = web.AppRunner(standby_app())
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()
