"""The Faust app (``engagement worker`` runs ``streams.api.app:app``): the worker's lifecycle, its
HTTP server (the views in ``streams.api.views``), the engine service that owns the hot path
(``streams.engine``) and the agents that validate the account and post reference records.

The HTTP server is defensive: a request line or header over aiohttp's limits gets 400 before any
view runs, aiohttp's own errors are JSON like the views' ({"error": ...}), and an unexpected
exception is a bare 500 without details. It serves the documented endpoints (``views.ROUTES``) only:
Faust's own pages (/router, /table, its statistics) are turned off by their settings, and its index
at / (no setting) answers 404 like any other path.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

import faust
from aiohttp import web
from mode import Service
from prometheus_client import disable_created_metrics

from ..engine import Engine, health
from ..kafka.membership import instance_id
from ..kafka.security import faust_broker_credentials, kafka_client_config
from ..logs import faust_logging_config
from ..settings import Settings
from ..validation import dlq_record, validate_account, validate_post
from . import views
from .faust_internals import TablelessManager
from .shutdown import deadline_worker

log = logging.getLogger(__name__)

settings = Settings.from_env()
WEB_URL = settings.worker_url
# aiohttp's request parser: longer request lines / header fields, or more headers, are refused with
# 400 before any handler runs. A read-only API needs no request body beyond a few KiB either.
HTTP_LIMITS = {"max_line_size": 8190, "max_field_size": 8190, "max_headers": 64}
CLIENT_MAX_SIZE = 64 * 1024
# No `*_created` series: a sample per counter and histogram that no rule or dashboard reads.
disable_created_metrics()


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


@web.middleware
async def documented_only(request: web.Request, handler):
    """A route that is not one of the views (Faust's index at /, which no setting turns off) is 404."""
    resource = request.match_info.route.resource
    if resource is not None and resource.canonical not in views.ROUTES:
        raise web.HTTPNotFound()
    return await handler(request)


app = faust.App(
    settings.app_id,
    TableManager=TablelessManager,
    Worker=deadline_worker(settings.shutdown_timeout_seconds),
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
    # Static membership as the engine's group (streams/kafka/membership.py): the engine starts only
    # after this group's first join, which would otherwise wait out a dead predecessor's session.
    consumer_group_instance_id=instance_id(f"{settings.app_id}-{WEB_URL}"),
    web_application_options={
        "client_max_size": CLIENT_MAX_SIZE,
        "handler_args": HTTP_LIMITS,
        "middlewares": [json_errors, documented_only],
    },
    # Faust's own pages off: its key router and table views (no tables here), statistics and graph.
    web_router_enabled=False,
    web_tables_enabled=False,
    web_stats_enabled=False,
    web_graph_enabled=False,
    logging_config=faust_logging_config(settings.log_format),
    datadir=Path(tempfile.gettempdir()) / f"engagement-faust-{settings.web_port}",
)


def _reference_topic(name: str):
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )


dlq_topic = _reference_topic(settings.topic_dlq)


def _reference_checker(kind: str, validate):
    """An agent body that validates each reference record once (the agent runs in the workers' consumer
    group) and sends the invalid ones to the DLQ. Every worker also reads the whole topic into memory
    (streams/kafka/reference.py), where invalid records are skipped."""

    async def check(stream):
        while EngineService.engine is None:
            await asyncio.sleep(0.1)
        counter = EngineService.engine.metrics.reference_records
        async for event in stream.events():
            message = event.message
            _, rejection = validate(event.value)
            if rejection is None:
                counter.labels(kind, "valid").inc()
                continue
            counter.labels(kind, "rejected").inc()
            log.warning(
                "%s record %d/%d rejected: %s %s",
                kind,
                message.partition,
                message.offset,
                rejection.reason,
                rejection.error,
            )
            await dlq_topic.send(
                key=message.key,
                value=dlq_record(
                    rejection,
                    message.topic,
                    message.partition,
                    message.offset,
                    message.timestamp,
                    settings.max_message_bytes,
                ),
            )

    check.__name__ = f"check_{kind}s"
    return check


check_accounts = app.agent(_reference_topic(settings.topic_accounts), name="check_accounts")(
    _reference_checker("account", validate_account)
)
check_posts = app.agent(_reference_topic(settings.topic_posts), name="check_posts")(
    _reference_checker("post", validate_post)
)


@app.service
class EngineService(Service):
    """Starts the engine with the worker and stops it gracefully (final commit, leave group)."""

    engine: Engine | None = None

    async def on_start(self) -> None:
        EngineService.engine = Engine(settings, WEB_URL, kafka_config=kafka_client_config(settings))
        health.export(EngineService.engine)
        await EngineService.engine.start()
        log.info("engine started; query API and /metrics at %s", WEB_URL)

    async def on_stop(self) -> None:
        if EngineService.engine is not None:
            await EngineService.engine.stop()


views.register(app, lambda: EngineService.engine)
