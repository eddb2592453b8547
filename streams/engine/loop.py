"""The engine: consume interaction events, fold them into window state, and every commit interval
publish state changes, final window records, rejects and input offsets in ONE Kafka transaction.

Why not one Faust agent per event: an agent costs ~80 us per message before any work (about 12,000
messages/s), and a changelogged table write per event more. Here a fetch (``getmany_raw``: columns,
no object per message) is decoded and validated in one msgspec pass (structs generated from the
schema) and folded into per-partition dict deltas (``fold``); each commit then writes one journal
entry per partition (``checkpoint``).
Exactness: outputs, the state journal and the consumer offsets commit atomically (read_committed
everywhere), so a crash redoes exactly the uncommitted work (``recovery``). The parts:

    loop        this module: lifecycle and the consume loop; makes the parts and passes each its collaborators
    parts       what the parts share: the Kafka clients, the owned partitions' state and its locks
    fold        decode, validate, forward and count a slice of a batch
    checkpoint  the input offsets read, when the next commit is due; collect the changes and run the
                transaction (outbox: the records it sends; gauges: what it updates once committed)
    recovery    restore state (the latest snapshot, the journal after it) and seek to where its input
                resumes; recover after a failed transaction
    rebalance   commit on revoke, restore on assign; drop every partition when the group fences a commit
    routing     which worker owns which partition (for the HTTP API); queries: the live reads
    health      liveness and readiness; fatal: the one way the worker ends itself
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from itertools import accumulate

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ..kafka.accounts import AccountBook
from ..kafka.aiokafka_fetch import getmany_raw
from ..kafka.aiokafka_internals import group_membership
from ..kafka.clients import admin, engine_consumer, transactional_producer
from ..kafka.fencing import GroupFenced
from ..kafka.fetched import Fetched
from ..kafka.membership import instance_id, leave_group
from ..kafka.posts import PostBook
from ..kafka.topics import ensure_topics
from ..metrics import Metrics
from ..model.bands import load_benchmarks
from ..settings import Settings
from ..state import WindowConfig
from .checkpoint import Checkpoint
from .clock import now_ms
from .fatal import exit_worker
from .fold import BatchFolder
from .kept import KeptPartitions
from .parts import KafkaClients, OwnedPartitions
from .queries import LiveQueries
from .rebalance import Rebalance
from .recovery import Recovery
from .routing import RoutingAssignor

log = logging.getLogger(__name__)

FETCH_MAX_RECORDS = 1000  # messages per getmany; a message may hold up to max_batch_events events
YIELD_EVERY_BYTES = 256 * 1024  # of input: then heartbeats and the web server get the event loop


class Engine:
    def __init__(self, settings: Settings, web_url: str, kafka_config: dict | None = None):
        self.settings = settings
        self.config = WindowConfig.from_settings(settings)
        self.kafka_config = dict(kafka_config or {})
        self.metrics = Metrics(
            settings.max_account_series,
            self.config.rolling_label,
            load_benchmarks(settings.benchmarks_file),
            (settings.mention_acknowledge_sla_seconds, settings.mention_resolve_sla_seconds),
            self.config.rolling_ms / self.config.benchmark_period_ms,
            settings.own_baseline_latest_posts,
        )
        self.assignor = RoutingAssignor(web_url)
        self.accounts = AccountBook(settings, self.kafka_config)
        self.posts = PostBook(settings, self.kafka_config)
        self.group_id = f"{settings.app_id}-engine"
        self.transactional_id = f"{self.group_id}-{web_url}"
        self.instance_id = instance_id(self.transactional_id)
        # The admin client deletes the journal a snapshot made redundant, and leaves the group.
        self.clients = KafkaClients(admin(settings, self.kafka_config), self._new_producer)
        self.owned = OwnedPartitions()
        self.states = self.owned.states
        self.checkpoint = Checkpoint(
            settings, self.config, self.metrics, self.clients, self.owned, self.accounts, self.group_id
        )
        self.recovery = Recovery(
            settings,
            self.config,
            self.kafka_config,
            self.metrics,
            self.clients,
            self.owned,
            self.checkpoint,
            self.posts.post_of,
            self.posts.arrived,
        )
        self.rebalance = Rebalance(
            settings,
            self.metrics,
            self.clients,
            self.owned,
            self.checkpoint,
            self.recovery,
            KeptPartitions(settings, self.kafka_config),
            self._fatal,
        )
        self.queries = LiveQueries(settings, self.owned, self.assignor, self.accounts)
        self.folder = BatchFolder(settings, self.config, self.checkpoint.outbox)
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.heartbeat: float | None = None  # monotonic time the consume loop last began an iteration (/live)

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        return self.clients.consumer

    @property
    def producer(self) -> AIOKafkaProducer | None:
        return self.clients.producer

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        s, clients = self.settings, self.clients
        await ensure_topics(s, self.kafka_config)
        await self.accounts.start()
        await self.posts.start()
        await clients.admin.start()
        clients.producer = self._new_producer()
        await clients.producer.start()
        clients.consumer = engine_consumer(s, self.kafka_config, self.group_id, self.assignor, self.instance_id)
        await clients.consumer.start()
        clients.consumer.subscribe([s.topic_interactions], listener=self.rebalance)
        self._task = asyncio.create_task(self._run(), name="engagement-engine")
        self._task.add_done_callback(self._on_run_exit)

    def _new_producer(self) -> AIOKafkaProducer:
        """The transactional producer, its offset commits fenced by the consumer's group membership."""
        return transactional_producer(
            self.settings, self.kafka_config, self.transactional_id, lambda: group_membership(self.clients.consumer)
        )

    def _fatal(self, what: str, exc: BaseException) -> None:
        exit_worker(what, exc, self.metrics.up)

    def _on_run_exit(self, task: asyncio.Task) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            # Without its loop the worker would look alive while counting nothing: exit, get restarted.
            self._fatal("engine loop died", exc)

    async def stop(self) -> None:
        """Graceful: commit what was processed, then leave the group (its partitions move at once)."""
        self._stopping = True
        clients = self.clients
        if self._task:
            try:  # let the loop finish its batch and commit, rather than cut a transaction short
                await asyncio.wait_for(self._task, self.settings.commit_interval_seconds + 10)
            except (TimeoutError, asyncio.CancelledError, Exception):
                pass
        await self.rebalance.cancel_restore()
        try:
            if clients.consumer and clients.producer:  # else stopped while starting: nothing was read
                await self.checkpoint.commit()
        except Exception:  # the next owner redoes the uncommitted work from the committed offsets
            log.exception("final commit failed")
        if clients.consumer:
            await clients.consumer.stop()
            await leave_group(clients.admin, self.group_id, self.instance_id)
        if clients.producer:
            await clients.producer.stop()
        await self.accounts.stop()
        await self.posts.stop()
        await clients.admin.close()
        self.metrics.up.set(0)

    # -- the loop ---------------------------------------------------------------------------------
    async def _run(self) -> None:
        checkpoint = self.checkpoint
        assert self.clients.consumer is not None  # started before the loop is
        while not self._stopping:
            self.heartbeat = time.monotonic()
            now = now_ms()
            due = checkpoint.due(now)
            batch = await getmany_raw(self.clients.consumer, max(0, due - now), FETCH_MAX_RECORDS)
            if batch:
                await self._process(batch)
            if now_ms() >= due:
                try:
                    await checkpoint.commit()
                except GroupFenced as exc:
                    await self.rebalance.drop_lost(exc)
                except Exception:
                    log.exception("commit failed; restoring from the last committed transaction")
                    await self.recovery.recover_with_retries()
                checkpoint.attempted(now_ms())

    async def _process(self, batch: dict[TopicPartition, Fetched]) -> None:
        """Fold a fetched batch into the state, a slice at a time: between slices the consumer's
        heartbeats run, so a batch of large messages never costs the group membership. Under the
        state lock for the whole batch, so that a rebalance's commit waits for the batch to be folded
        in (a commit between slices, with a restore racing the rest of the batch, counted events twice)."""
        async with self.owned.state_lock:
            for tp, messages in batch.items():
                for part in slices(messages, YIELD_EVERY_BYTES):
                    if not self._fold_slice(tp, part):
                        break
                    await asyncio.sleep(0)

    def _fold_slice(self, tp: TopicPartition, messages: Fetched) -> bool:
        """False when the partition is not (yet) ours."""
        if tp.partition not in self.owned.states:  # revoked, or still restoring: read these again when (if) it is ours
            self.clients.consumer.seek(tp, messages.offsets[0])  # type: ignore[union-attr]  # set while it runs
            return False
        self.folder.fold(tp, messages, self.owned.states, now_ms())
        self.checkpoint.store_offset(tp, messages.offsets[-1] + 1, messages.timestamps[-1])
        return True


def slices(messages: Fetched, max_bytes: int) -> list[Fetched]:
    """The messages in runs of about max_bytes of values (the last message of a run passes it), each
    at least one message."""
    ends = list(accumulate(len(value) if value else 0 for value in messages.values))
    if not ends or ends[-1] < max_bytes:
        return [messages] if messages else []
    runs, start = [], 0
    while start < len(messages):
        base = ends[start - 1] if start else 0
        end = bisect_left(ends, base + max_bytes, lo=start) + 1  # the first message reaching max_bytes
        runs.append(messages[start:end])
        start = end
    return runs
