"""The engine: consume interaction events, fold them into window state, and every commit interval
publish state changes, final window records, rejects and input offsets in ONE Kafka transaction.

Why not one Faust agent per event: an agent costs ~80 us per message before any work (about 12,000
messages/s), and a changelogged table write per event more. Here a ``getmany`` batch is decoded and
validated in one msgspec pass (structs generated from the schema) and folded into per-partition dict
deltas (``fold``); each commit then writes one journal entry per partition (``checkpoint``).
Exactness: outputs, the state journal and the consumer offsets commit atomically (read_committed
everywhere), so a crash redoes exactly the uncommitted work (``recovery``). The parts:

    loop        this module: lifecycle and the consume loop; owns the clients, the state and the locks
    fold        decode, validate, forward and count a slice of a batch
    checkpoint  collect the changes and run the transaction (outbox: the records it sends)
    recovery    restore state (the latest snapshot, the journal after it); recover after a failed transaction
    rebalance   commit on revoke, restore on assign; drop every partition when the group fences a commit
    routing     which worker owns which partition (for the HTTP API); queries: the live reads
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from bisect import bisect_left
from itertools import accumulate

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ..kafka.accounts import AccountBook
from ..kafka.posts import PostBook
from ..kafka.clients import FETCH_MAX_WAIT_MS, admin, engine_consumer, transactional_producer
from ..kafka.aiokafka_internals import group_membership
from ..kafka.fencing import GroupFenced
from ..kafka.membership import instance_id, leave_group
from ..kafka.topics import ensure_topics
from ..metrics import Metrics
from ..model.bands import load_benchmarks
from ..settings import Settings
from ..state import PartitionState, WindowConfig
from .checkpoint import Checkpoint
from .clock import now_ms
from .fold import BatchFolder
from .queries import LiveQueries
from .rebalance import Rebalance
from .recovery import Recovery
from .routing import RoutingAssignor

log = logging.getLogger(__name__)

FETCH_MAX_RECORDS = 1000  # messages per getmany; a message may hold up to max_batch_events events
CLOSE_SLACK_MS = 150  # a closing commit waits this long past the close, for a fetch clock beyond it
CLOSE_CHASE_MS = 2000  # for this long after a close, commit every FETCH_MAX_WAIT_MS until it is done
YIELD_EVERY_BYTES = 256 * 1024  # of input: then heartbeats and the web server get the event loop


class Engine:
    def __init__(self, settings: Settings, web_url: str, kafka_config: dict | None = None):
        self.settings = settings
        self.config = WindowConfig.from_settings(settings)
        self.kafka_config = dict(kafka_config or {})
        self.metrics = Metrics(settings.max_account_series, self.config.rolling_label,
                               load_benchmarks(settings.benchmarks_file),
                               (settings.mention_acknowledge_sla_seconds, settings.mention_resolve_sla_seconds),
                               self.config.rolling_ms / self.config.benchmark_period_ms)
        self.assignor = RoutingAssignor(web_url)
        self.accounts = AccountBook(settings, self.kafka_config)
        self.posts = PostBook(settings, self.kafka_config)
        self.group_id = f"{settings.app_id}-engine"
        self.transactional_id = f"{self.group_id}-{web_url}"
        self.instance_id = instance_id(self.transactional_id)
        self.states: dict[int, PartitionState] = {}
        self.state_lock = asyncio.Lock()  # the state: folding input, collecting a commit, restoring
        self.txn_lock = asyncio.Lock()  # one transaction at a time; always taken before state_lock
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.admin = admin(settings, self.kafka_config)  # deletes the journal a snapshot made redundant
        self.checkpoint = Checkpoint(self)
        self.recovery = Recovery(self)
        self.rebalance = Rebalance(self)
        self.queries = LiveQueries(self)
        self.folder = BatchFolder(settings, self.config, self.checkpoint.outbox, self.metrics)
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.heartbeat: float | None = None  # monotonic time the consume loop last began an iteration (/live)

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        await ensure_topics(s, self.kafka_config)
        await self.accounts.start()
        await self.posts.start()
        await self.admin.start()
        self.producer = self.new_producer()
        await self.producer.start()
        self.consumer = engine_consumer(s, self.kafka_config, self.group_id, self.assignor, self.instance_id)
        await self.consumer.start()
        self.consumer.subscribe([s.topic_interactions], listener=self.rebalance)
        self._task = asyncio.create_task(self._run(), name="engagement-engine")
        self._task.add_done_callback(self._on_run_exit)

    def new_producer(self) -> AIOKafkaProducer:
        """The transactional producer, its offset commits fenced by the consumer's group membership."""
        return transactional_producer(self.settings, self.kafka_config, self.transactional_id,
                                      lambda: group_membership(self.consumer))

    def _on_run_exit(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            # Without its loop the worker would look alive while counting nothing: exit, get restarted.
            log.critical("engine loop died", exc_info=task.exception())
            self.metrics.up.set(0)
            os._exit(70)

    async def stop(self) -> None:
        """Graceful: commit what was processed, then leave the group (its partitions move at once)."""
        self._stopping = True
        if self._task:
            try:  # let the loop finish its batch and commit, rather than cut a transaction short
                await asyncio.wait_for(self._task, self.settings.commit_interval_seconds + 10)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                pass
        await self.rebalance.cancel_restore()
        try:
            if self.consumer and self.producer:  # else stopped while starting: nothing was read
                await self.checkpoint.commit()
        except Exception:  # the next owner redoes the uncommitted work from the committed offsets
            log.exception("final commit failed")
        if self.consumer:
            await self.consumer.stop()
            await leave_group(self.admin, self.group_id, self.instance_id)
        if self.producer:
            await self.producer.stop()
        await self.accounts.stop()
        await self.posts.stop()
        await self.admin.close()
        self.metrics.up.set(0)

    # -- the loop ---------------------------------------------------------------------------------
    async def _run(self) -> None:
        interval_ms = int(self.settings.commit_interval_seconds * 1000)
        cfg = self.config
        last_commit = now_ms()
        while not self._stopping:
            self.heartbeat = time.monotonic()
            # Commit every interval, and also as soon as a window's grace ends: its final records
            # should not wait for the next interval. A partition closes by its fetch clock, which
            # may not have passed the close yet: then retry soon, for a short while.
            now = now_ms()
            mark = cfg.close_mark(now)
            due = min(last_commit + interval_ms, mark + cfg.window_ms + cfg.grace_ms + CLOSE_SLACK_MS)
            if now - (mark + cfg.grace_ms) < CLOSE_CHASE_MS and \
                    any(st.closed_through < mark for st in self.states.values()):
                due = min(due, last_commit + FETCH_MAX_WAIT_MS)
            batch = await self.consumer.getmany(timeout_ms=max(0, due - now), max_records=FETCH_MAX_RECORDS)
            if batch:
                await self._process(batch)
            if now_ms() >= due:
                try:
                    await self.checkpoint.commit()
                except GroupFenced as exc:
                    await self.rebalance.drop_lost(exc)
                except Exception:
                    log.exception("commit failed; restoring from the last committed transaction")
                    await self.recovery.recover_with_retries()
                last_commit = now_ms()

    async def _process(self, batch: dict) -> None:
        """Fold a fetched batch into the state, a slice at a time: between slices the consumer's
        heartbeats run, so a batch of large messages never costs the group membership. Under the
        state lock for the whole batch, so that a rebalance's commit waits for the batch to be folded
        in (a commit between slices, with a restore racing the rest of the batch, counted events twice)."""
        async with self.state_lock:
            for tp, messages in batch.items():
                for part in slices(messages, YIELD_EVERY_BYTES):
                    if not self._fold_slice(tp, part):
                        break
                    await asyncio.sleep(0)

    def _fold_slice(self, tp: TopicPartition, messages: list) -> bool:
        """False when the partition is not (yet) ours."""
        state = self.states.get(tp.partition)
        if state is None:  # revoked, or still restoring: read these again when (if) it is ours
            self.consumer.seek(tp, messages[0].offset)
            return False
        self.folder.fold(tp, messages, state, now_ms())
        self.checkpoint.next_offsets[tp] = messages[-1].offset + 1
        self.checkpoint.arrival_ms[tp.partition] = messages[-1].timestamp
        return True


def slices(messages: list, max_bytes: int) -> list[list]:
    """The messages in runs of about max_bytes of values (the last message of a run passes it), each
    at least one message."""
    ends = list(accumulate(len(m.value) if m.value else 0 for m in messages))
    if not ends or ends[-1] < max_bytes:
        return [messages] if messages else []
    runs, start = [], 0
    while start < len(messages):
        base = ends[start - 1] if start else 0
        end = bisect_left(ends, base + max_bytes, lo=start) + 1  # the first message reaching max_bytes
        runs.append(messages[start:end])
        start = end
    return runs
