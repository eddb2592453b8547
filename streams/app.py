"""The Faust app: the worker's lifecycle, its HTTP server (query API, /metrics, /health) and the
engine service that owns the hot path (streams/engine.py).

Query API (read-only, JSON; open-window values, i.e. what has not been published as final yet):
  GET /posts/{post_id}/metrics
  GET /accounts/{account_id}/metrics?window=1m|1h
Any worker answers: a key owned by another worker is fetched from it (the consumer group's
assignment carries each worker's URL). 404 for a key with no open window anywhere.

The API is read-only and defensive: other methods get 405, an id longer than the schema's maxLength
(200) or a malformed query 400, a request line or header over aiohttp's limits 400 (before any view
runs), errors are JSON ({"error": ...}) and an unexpected exception is a bare 500 without details.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

import aiohttp
import faust
from aiohttp import web
from faust.tables import TableManager
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable
from mode import Service

from .engine import Engine
from .events import dlq_record, validate_account
from .security import faust_broker_credentials, kafka_client_config
from .settings import Settings

log = logging.getLogger(__name__)

settings = Settings.from_env()
WEB_URL = f"http://{settings.web_host}:{settings.web_port}"
PEER_TIMEOUT = aiohttp.ClientTimeout(total=3)
MAX_ID_LENGTH = 200  # account_id and post_id: maxLength in schemas/interaction-event.schema.json
# aiohttp's request parser: longer request lines / header fields, or more headers, are refused with
# 400 before any handler runs. A read-only API needs no request body beyond a few KiB either.
HTTP_LIMITS = {"max_line_size": 8190, "max_field_size": 8190, "max_headers": 64}
CLIENT_MAX_SIZE = 64 * 1024


@web.middleware
async def json_errors(request: web.Request, handler):
    """aiohttp's own errors (404 unknown path, 405 method, 413 body) as JSON like the views' errors;
    an unexpected exception is logged and answered with a 500 that reveals nothing."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return web.json_response({"error": exc.reason}, status=exc.status, headers=headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


class TablelessManager(TableManager):
    """Faust's TableManager sleeps 1 s at start so that tables can register; this app declares none,
    and the engine, started after it, would wait for nothing (half of a worker's start-up)."""

    async def on_start(self) -> None:
        if self:
            raise RuntimeError("this app declares no Faust tables; use faust.tables.TableManager for tables")
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


app = faust.App(
    settings.app_id,
    TableManager=TablelessManager,
    broker=f"kafka://{settings.kafka_bootstrap_servers or '127.0.0.1:9092'}",
    web_host=settings.web_host,
    web_port=settings.web_port,
    web_bind=settings.web_host,
    store="memory://",
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication,
    broker_credentials=faust_broker_credentials(settings),
    # As the engine's group: a restarted worker must not wait a minute for its dead predecessor.
    broker_session_timeout=settings.session_timeout_seconds,
    broker_heartbeat_interval=settings.heartbeat_interval_seconds,
    web_application_options={"client_max_size": CLIENT_MAX_SIZE, "handler_args": HTTP_LIMITS,
                             "middlewares": [json_errors]},
    datadir=Path(tempfile.gettempdir()) / f"engagement-faust-{settings.web_port}",
)


accounts_topic = app.topic(settings.topic_accounts, key_type=bytes, value_type=bytes,
                           key_serializer="raw", value_serializer="raw", partitions=settings.topic_partitions)
dlq_topic = app.topic(settings.topic_dlq, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw", partitions=settings.topic_partitions)


@app.agent(accounts_topic)
async def check_accounts(stream):
    """Validates each account reference record once (the agent runs in the workers' consumer group)
    and sends the invalid ones to the DLQ. Every worker also reads the whole topic into memory
    (streams/accounts.py), where invalid records are skipped."""
    while EngineService.engine is None:
        await asyncio.sleep(0.1)
    metrics = EngineService.engine.metrics
    async for event in stream.events():
        message = event.message
        _, rejection = validate_account(event.value)
        if rejection is None:
            metrics.account_records.labels("valid").inc()
            continue
        metrics.account_records.labels("rejected").inc()
        log.warning("account record %d/%d rejected: %s %s", message.partition, message.offset,
                    rejection.reason, rejection.error)
        await dlq_topic.send(key=message.key, value=dlq_record(
            rejection, message.topic, message.partition, message.offset, message.timestamp,
            settings.max_message_bytes))


@app.service
class EngineService(Service):
    """Starts the engine with the worker and stops it gracefully (final commit, leave group)."""

    engine: Engine | None = None

    async def on_start(self) -> None:
        EngineService.engine = Engine(settings, WEB_URL, kafka_config=kafka_client_config(settings))
        await EngineService.engine.start()
        log.info("engine started; query API and /metrics at %s", WEB_URL)

    async def on_stop(self) -> None:
        if EngineService.engine is not None:
            await EngineService.engine.stop()


def _engine() -> Engine:
    if EngineService.engine is None:
        raise ServiceUnavailable("engine not started")
    return EngineService.engine


def _too_long(view: View, name: str, value: str) -> Response | None:
    if len(value) > MAX_ID_LENGTH:
        return view.json({"error": f"{name} longer than {MAX_ID_LENGTH} characters"}, status=400)
    return None


async def _fetch_peer(url: str, path: str, params: dict) -> tuple[int, dict | None]:
    try:
        async with aiohttp.ClientSession(timeout=PEER_TIMEOUT) as session:
            async with session.get(url + path, params={**params, "local": "1"}) as response:
                return response.status, await response.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        log.warning("peer %s did not answer %s: %s", url, path, exc)
        return 502, None


@app.page("/posts/{post_id}/metrics")
class PostMetrics(View):
    async def get(self, request: Request, post_id: str) -> Response:
        if (bad := _too_long(self, "post_id", post_id)) is not None:
            return bad
        engine = _engine()
        windows = engine.live_post(post_id)
        if windows:
            return self.json({"post_id": post_id, "windows": windows})
        if request.query.get("local") != "1":  # posts are partitioned by account: ask the other owners
            path = f"/posts/{post_id}/metrics"
            for status, body in await asyncio.gather(*(_fetch_peer(url, path, {})
                                                       for url in engine.peer_urls())):
                if status == 200 and body:
                    return self.json(body)
        return self.json({"error": f"no open window for post {post_id!r}"}, status=404)


@app.page("/accounts/{account_id}/metrics")
class AccountMetrics(View):
    async def get(self, request: Request, account_id: str) -> Response:
        if (bad := _too_long(self, "account_id", account_id)) is not None:
            return bad
        engine = _engine()
        window = request.query.get("window", engine.config.window_label)
        labels = {engine.config.window_label: False, engine.config.rolling_label: True}
        if window not in labels:
            return self.json({"error": f"window must be one of {sorted(labels)}"}, status=400)
        windows = engine.live_account(account_id, labels[window])
        if windows is None:
            partition, owner = engine.owner_of_account(account_id)
            if owner is None or owner == WEB_URL or request.query.get("local") == "1":
                return self.json({"error": f"partition {partition} has no owner right now"}, status=503)
            status, body = await _fetch_peer(owner, f"/accounts/{account_id}/metrics", {"window": window})
            return self.json(body or {"error": "owner did not answer"}, status=status)
        if not windows:
            return self.json({"error": f"no open window for account {account_id!r}"}, status=404)
        return self.json({"account_id": account_id, "window": window, "windows": windows})


@app.page("/metrics")
class MetricsView(View):
    async def get(self, request: Request) -> Response:
        return self.bytes(_engine().metrics.exposition(),
                          content_type="text/plain; version=0.0.4")


@app.page("/health")
class Health(View):
    async def get(self, request: Request) -> Response:
        engine = EngineService.engine
        if engine is None:
            return self.json({"status": "starting"}, status=503)
        return self.json({"status": "ok", "partitions": sorted(engine.states), "url": WEB_URL,
                          "owners": {str(p): url for p, url in sorted(engine.assignor.owners.items())}})
