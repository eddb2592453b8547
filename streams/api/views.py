"""The HTTP API of a worker: live reads, /metrics, and its health: /live, /ready and /health.

Query API (read-only, JSON; open-window values, i.e. what has not been published as final yet):
  GET /posts/{post_id}/metrics      its open windows, and its lifetime so far (the ages published)
  GET /accounts/{account_id}/metrics?window=1m|1h
Any worker answers: a key owned by another worker is fetched from it (the consumer group's
assignment carries each worker's URL). 404 for a key with no open window anywhere.

Read-only and defensive: other methods get 405, an id longer than the contract's maxLength or a
malformed query 400, errors are JSON ({"error": ...}).

Health (the rules: streams/engine/health.py), cheap enough to poll every second:
  GET /live     200 while the consume loop turns, 503 when it is stuck; its heartbeat's age
  GET /ready    200 when every assigned partition is restored and served, else 503; the partitions
  GET /health   both, and the partitions' owners; 200 only when live and ready
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

from ..contract import MAX_ID_LENGTH
from ..engine import Engine, health

log = logging.getLogger(__name__)

PEER_TIMEOUT = aiohttp.ClientTimeout(total=3)


def register(app, engine_of: Callable[[], Engine | None]) -> None:
    """Add the views to the Faust app; engine_of gives the engine once the worker has started it."""
    EngineView.engine_of = staticmethod(engine_of)
    for path, view in ROUTES.items():
        app.page(path)(view)


class EngineView(View):
    engine_of: Callable[[], Engine | None] = staticmethod(lambda: None)

    def engine(self) -> Engine:
        engine = self.engine_of()
        if engine is None:
            raise ServiceUnavailable("engine not started")
        return engine


def _too_long(view: View, name: str, value: str) -> Response | None:
    if len(value) > MAX_ID_LENGTH:
        return view.json({"error": f"{name} longer than {MAX_ID_LENGTH} characters"}, status=400)
    return None


async def _fetch_peer(url: str, path: str, params: dict) -> tuple[int, dict | None]:
    try:
        async with aiohttp.ClientSession(timeout=PEER_TIMEOUT) as session:
            async with session.get(url + path, params={**params, "local": "1"}) as response:
                return response.status, await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError) as exc:
        log.warning("peer %s did not answer %s: %s", url, path, exc)
        return 502, None


class PostMetrics(EngineView):
    async def get(self, request: Request, post_id: str) -> Response:
        if (bad := _too_long(self, "post_id", post_id)) is not None:
            return bad
        engine = self.engine()
        windows, lifetime = engine.queries.live_post(post_id)
        if windows or lifetime is not None:
            return self.json({"post_id": post_id, "windows": windows, "lifetime": lifetime})
        if request.query.get("local") != "1":  # posts are partitioned by account: ask the other owners
            path = f"/posts/{post_id}/metrics"
            for status, body in await asyncio.gather(
                *(_fetch_peer(url, path, {}) for url in engine.assignor.peer_urls())
            ):
                if status == 200 and body:
                    return self.json(body)
        return self.json({"error": f"no open window or lifetime for post {post_id!r}"}, status=404)


class AccountMetrics(EngineView):
    async def get(self, request: Request, account_id: str) -> Response:
        if (bad := _too_long(self, "account_id", account_id)) is not None:
            return bad
        engine = self.engine()
        window = request.query.get("window", engine.config.window_label)
        labels = {engine.config.window_label: False, engine.config.rolling_label: True}
        if window not in labels:
            return self.json({"error": f"window must be one of {sorted(labels)}"}, status=400)
        windows = engine.queries.live_account(account_id, labels[window])
        if windows is None:
            partition, owner = engine.queries.owner_of_account(account_id)
            if owner is None or owner == engine.assignor.url or request.query.get("local") == "1":
                return self.json({"error": f"partition {partition} has no owner right now"}, status=503)
            status, body = await _fetch_peer(owner, f"/accounts/{account_id}/metrics", {"window": window})
            return self.json(body or {"error": "owner did not answer"}, status=status)
        if not windows:
            return self.json({"error": f"no open window for account {account_id!r}"}, status=404)
        return self.json({"account_id": account_id, "window": window, "windows": windows})


class MetricsView(EngineView):
    async def get(self, request: Request) -> Response:
        return self.bytes(self.engine().metrics.exposition(), content_type="text/plain; version=0.0.4")


class Live(EngineView):
    async def get(self, request: Request) -> Response:
        live, _ = health.probe(self.engine_of())
        return self.json(live.document(), status=200 if live.live else 503)


class Ready(EngineView):
    async def get(self, request: Request) -> Response:
        _, ready = health.probe(self.engine_of())
        return self.json(ready.document(), status=200 if ready.ready else 503)


class Health(EngineView):
    """The status document (200 only when live and ready); partitions are those whose state is in memory."""

    async def get(self, request: Request) -> Response:
        engine = self.engine_of()
        if engine is None:
            return self.json({"status": "starting"}, status=503)
        live, ready = health.probe(engine)
        status = health.summary(live, ready)
        return self.json(
            {
                "status": status,
                "partitions": sorted(engine.states),
                "url": engine.assignor.url,
                "owners": {str(p): url for p, url in sorted(engine.assignor.owners.items())},
                "live": live.document(),
                "ready": ready.document(),
            },
            status=200 if status == "ok" else 503,
        )


ROUTES = {
    "/posts/{post_id}/metrics": PostMetrics,
    "/accounts/{account_id}/metrics": AccountMetrics,
    "/metrics": MetricsView,
    "/live": Live,
    "/ready": Ready,
    "/health": Health,
}
