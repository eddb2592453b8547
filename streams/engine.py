"""The hot path: consume interaction events, fold them into window state, and every commit interval
publish state changes, final window records, rejects and input offsets in ONE Kafka transaction.

Why not one Faust agent per event: an agent costs ~80 us per message before any work (about 12,000
messages/s), and a changelogged table write per event more. Here a ``getmany`` batch is decoded with
orjson, validated with a compiled schema and folded into per-partition dict deltas; each commit then
writes one journal entry per partition. Exactness: outputs, the state journal and the consumer offsets
commit atomically (read_committed everywhere), so a crash redoes exactly the uncommitted work.

Partitioning contract: the interactions topic is keyed by account_id (all events of an account, posts
included, live in one partition, and so do its windows). An event found in another partition is
re-published, keyed correctly, to its account's partition in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from aiokafka.partitioner import murmur2

from .accounts import AccountBook
from .benchmarks import load_benchmarks
from .events import Rejection, decode_message, dlq_record
from .metrics import BatchTally, Metrics
from .settings import Settings
from .state import COUNTED, DUPLICATE, PartitionState, WindowConfig
from .topics import MAX_MESSAGE_BYTES, ensure_topics

log = logging.getLogger(__name__)

FETCH_MAX_RECORDS = 1000  # messages per getmany; a message may hold up to max_batch_events events
FETCH_MAX_WAIT_MS = 100  # an idle partition's fetch clock (see _close_clocks) is about this old at most
CLOSE_SLACK_MS = 150  # a closing commit waits this long past the close, for a fetch clock beyond it
CLOSE_CHASE_MS = 2000  # for this long after a close, commit every FETCH_MAX_WAIT_MS until it is done
YIELD_EVERY_BYTES = 256 * 1024  # of input: then heartbeats and the web server get the event loop
JOURNAL_CHUNK_KEYS = 4000  # window keys per journal message, to stay well under the message size limit


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def partition_for(key: str, partitions: int) -> int:
    """The Java client's default partitioner (murmur2), so that our producers and theirs agree."""
    return partition_for_bytes(key.encode(), partitions)


def partition_for_bytes(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class RoutingAssignor(RoundRobinPartitionAssignor):
    """Round-robin assignment that also tells every member which worker URL owns which partition, so
    that any worker can route an HTTP query to the owner of the key."""

    name = "engagement-routing"

    def __init__(self, url: str):
        self.url = url
        self.owners: dict[int, str] = {}

    def metadata(self, topics):
        return ConsumerProtocolMemberMetadata(self.version, list(topics), self.url.encode())

    def assign(self, cluster, members):
        assignments = RoundRobinPartitionAssignor.assign(cluster, members)
        owners: dict[str, list[int]] = {}
        for member_id, assignment in assignments.items():
            url = members[member_id].user_data.decode()
            for _topic, partitions in assignment.assignment:
                owners.setdefault(url, []).extend(partitions)
        routing = orjson.dumps(owners)
        return {member_id: ConsumerProtocolMemberAssignment(a.version, a.assignment, routing)
                for member_id, a in assignments.items()}

    def on_assignment(self, assignment):
        owners = orjson.loads(assignment.user_data or b"{}")
        self.owners = {partition: url for url, partitions in owners.items() for partition in partitions}


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, engine: "Engine"):
        self.engine = engine

    async def on_partitions_revoked(self, revoked):
        await self.engine.handle_revoked(revoked)

    async def on_partitions_assigned(self, assigned):
        await self.engine.handle_assigned(assigned)


class Engine:
    def __init__(self, settings: Settings, web_url: str, kafka_config: dict | None = None):
        self.settings = settings
        self.config = WindowConfig.from_settings(settings)
        self.kafka_config = dict(kafka_config or {})
        self.metrics = Metrics(settings.max_account_series, self.config.rolling_label,
                               load_benchmarks(settings.benchmarks_file))
        self.assignor = RoutingAssignor(web_url)
        self.accounts = AccountBook(settings, self.kafka_config)
        self.group_id = f"{settings.app_id}-engine"
        self.states: dict[int, PartitionState] = {}
        self._next_offsets: dict[TopicPartition, int] = {}  # processed, not yet committed
        self._arrival_ms: dict[int, int] = {}  # partition -> broker timestamp of the last message read
        self._outbox: list[tuple[str, bytes | None, bytes, int | None]] = []  # topic, key, value, partition
        self._partition_of: dict[str, int] = {}
        self._partition_counts: dict[str, int] = {}  # output topic -> partitions
        self._lock = asyncio.Lock()  # the state: folding input, collecting a commit, restoring
        self._txn_lock = asyncio.Lock()  # one transaction at a time; always taken before _lock
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._mentions_gauge_at = 0
        self._restoring: asyncio.Task | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        await ensure_topics(s, self.kafka_config)
        await self.accounts.start()
        self._producer = self._new_producer()
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap_servers, group_id=self.group_id,
            enable_auto_commit=False, isolation_level="read_committed", auto_offset_reset="earliest",
            partition_assignment_strategy=(self.assignor,), max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 4096,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            session_timeout_ms=int(s.session_timeout_seconds * 1000),
            heartbeat_interval_ms=int(s.heartbeat_interval_seconds * 1000),
            fetch_max_bytes=4 * MAX_MESSAGE_BYTES, **self.kafka_config)
        await self._consumer.start()
        self._consumer.subscribe([s.topic_interactions], listener=_Rebalance(self))
        self._task = asyncio.create_task(self._run(), name="engagement-engine")
        self._task.add_done_callback(self._on_run_exit)

    def _on_run_exit(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            # Without its loop the worker would look alive while counting nothing: exit, get restarted.
            log.critical("engine loop died", exc_info=task.exception())
            self.metrics.up.set(0)
            os._exit(70)

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            transactional_id=f"{self.group_id}-{self.assignor.url}", enable_idempotence=True,
            linger_ms=5, max_batch_size=1024 * 1024, max_request_size=4 * MAX_MESSAGE_BYTES,
            # Kafka 4 answers a produce that races the previous commit's markers with a retriable
            # NOT_ENOUGH_REPLICAS (KIP-890); each retry waits this backoff (aiokafka's default: 100 ms).
            retry_backoff_ms=20, transaction_timeout_ms=15000, **self.kafka_config)

    async def stop(self) -> None:
        """Graceful: commit what was processed, then leave the group (its partitions move at once)."""
        self._stopping = True
        if self._task:
            try:  # let the loop finish its batch and commit, rather than cut a transaction short
                await asyncio.wait_for(self._task, self.settings.commit_interval_seconds + 10)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                pass
        await self._cancel_restore()
        try:
            await self._commit()
        except Exception:  # the next owner redoes the uncommitted work from the committed offsets
            log.exception("final commit failed")
        if self._consumer:
            await self._consumer.stop()
        if self._producer:
            await self._producer.stop()
        await self.accounts.stop()
        self.metrics.up.set(0)

    async def _run(self) -> None:
        interval_ms = int(self.settings.commit_interval_seconds * 1000)
        cfg = self.config
        last_commit = now_ms()
        while not self._stopping:
            # Commit every interval, and also as soon as a window's grace ends: its final records
            # should not wait for the next interval. A partition closes by its fetch clock, which
            # may not have passed the close yet: then retry soon, for a short while.
            now = now_ms()
            mark = cfg.close_mark(now)
            due = min(last_commit + interval_ms, mark + cfg.window_ms + cfg.grace_ms + CLOSE_SLACK_MS)
            if now - (mark + cfg.grace_ms) < CLOSE_CHASE_MS and \
                    any(st.closed_through < mark for st in self.states.values()):
                due = min(due, last_commit + FETCH_MAX_WAIT_MS)
            batch = await self._consumer.getmany(timeout_ms=max(0, due - now), max_records=FETCH_MAX_RECORDS)
            if batch:
                await self._process(batch)
            if now_ms() >= due:
                try:
                    await self._commit()
                except Exception:
                    log.exception("commit failed; restoring from the last committed transaction")
                    await self._recover_with_retries()
                last_commit = now_ms()

    # -- per batch: decode, validate, route, update state -------------------------------------------
    async def _process(self, batch: dict) -> None:
        """Fold a fetched batch into the state, a slice at a time: between slices the consumer's
        heartbeats run, so a batch of large messages never costs the group membership. Under the
        state lock for the whole batch, so that a rebalance's commit waits for the batch to be folded
        in (a commit between slices, with a restore racing the rest of the batch, counted events twice)."""
        async with self._lock:
            for tp, messages in batch.items():
                start = 0
                while start < len(messages):
                    end, size = start, 0
                    while end < len(messages) and size < YIELD_EVERY_BYTES:
                        size += len(messages[end].value or b"")
                        end += 1
                    if not self._process_messages(tp, messages[start:end]):
                        break
                    start = end
                    await asyncio.sleep(0)

    def _process_messages(self, tp: TopicPartition, messages: list) -> bool:
        """Decode, validate, route and count; False when the partition is not (yet) ours."""
        state = self.states.get(tp.partition)
        if state is None:  # revoked, or still restoring: read these again when (if) it is ours
            self._consumer.seek(tp, messages[0].offset)
            return False
        s = self.settings
        partitions = s.topic_partitions
        tally = BatchTally()
        now = now_ms()
        for message in messages:
            events, rejections = decode_message(
                message.value, now, max_message_bytes=s.max_message_bytes,
                max_batch_events=s.max_batch_events, max_future_ms=self.config.grace_ms)
            tally.consumed += len(events) + len(rejections)
            for rejection in rejections:
                self._reject(tp, message, rejection, tally)
            for event in events:
                account_id = event["account_id"]
                home = self._partition_of.get(account_id)
                if home is None:
                    home = self._partition_of[account_id] = partition_for(account_id, partitions)
                if home != tp.partition:
                    self._forward(event, home, tally)
                    continue
                outcome = state.add(event, now)
                if outcome is COUNTED:
                    tally.counted += 1
                    tally.interactions[(event["platform"], event["type"])] += 1
                    tally.lags_ms.append(now - event["ts_ms"])
                    if event["type"] == "dwell":
                        tally.dwell_ms.setdefault(event["platform"], []).append(event["dwell_ms"])
                elif outcome is DUPLICATE:
                    tally.duplicate += 1
                else:
                    self._reject(tp, message, Rejection(
                        "late", f"window of ts {event['ts_ms']} closed at "
                                f"{state.closed_through} + grace", _event_bytes(event)), tally)
        self._next_offsets[tp] = messages[-1].offset + 1
        self._arrival_ms[tp.partition] = messages[-1].timestamp
        self.metrics.add_batch(tally)
        return True

    def _reject(self, tp: TopicPartition, message, rejection: Rejection, tally: BatchTally) -> None:
        tally.rejected[rejection.reason] += 1
        record = dlq_record(rejection, tp.topic, tp.partition, message.offset, message.timestamp,
                            self.settings.max_message_bytes)
        self._outbox.append((self.settings.topic_dlq, message.key, record, None))

    def _forward(self, event: dict, partition: int, tally: BatchTally) -> None:
        tally.forwarded += 1
        tally.consumed -= 1  # counted when it is consumed again in its own partition
        self._outbox.append((self.settings.topic_interactions, event["account_id"].encode(),
                             _event_bytes(event), partition))

    # -- commit: one transaction for journal, outputs, DLQ, forwards and offsets ---------------------
    async def _commit(self) -> None:
        """Collect the changes under the state lock, then run the transaction without it: input keeps
        being folded in (into the next commit) while a window close's records are sent. If the
        transaction fails, _recover discards everything since the last committed one."""
        async with self._txn_lock:
            started = time.perf_counter()
            sends, offsets, finals = await self._collect()
            if not sends and not offsets:
                return
            collected = time.perf_counter()
            producer = self._producer
            async with producer.transaction():
                await self._send_all(producer, sends)
                queued = time.perf_counter()
                if offsets:
                    await producer.send_offsets_to_transaction(offsets, self.group_id)
            ended = time.perf_counter()
            self.metrics.commit_seconds.set(ended - collected)
            if finals or ended - started > 1.0:
                log.log(logging.WARNING if ended - started > 1.0 else logging.INFO,
                        "commit of %d records (%d final) in %.3f s: collected in %.3f s, sent in %.3f s, "
                        "offsets and commit %.3f s", len(sends), finals, ended - started, collected - started,
                        queued - collected, ended - queued)
            self.metrics.open_windows.set(sum(st.open_window_count() for st in self.states.values()))

    async def _collect(self) -> tuple[list, dict, int]:
        """The next transaction's records and input offsets, and how many of the records are final
        window records (of the windows this call closes)."""
        async with self._lock:
            if self._producer is None:
                return [], {}, 0
            s = self.settings
            now = now_ms()
            followers_of = self.accounts.followers_of
            sends = self._outbox
            self._outbox = []
            offsets, self._next_offsets = self._next_offsets, {}
            topic = s.topic_interactions
            rolling_records: list[dict] = []
            finals = 0
            marks_before = {p: st.closed_through for p, st in self.states.items()}
            close_clocks = await self._close_clocks(now)
            for partition, state in self.states.items():
                result = state.commit(now, followers_of, close_clocks.get(partition, 0),
                                      offsets.get(TopicPartition(topic, partition)))
                post_records, account_records = result.post_records, result.account_records
                finals += len(post_records) + len(account_records)
                # Gauges (and so alerts) only from rolling windows the service counted all of.
                rolling_records.extend(r for r in account_records if r["window_kind"] == "rolling"
                                       and r["window_start"] >= state.counting_since)
                if result.journal is not None:
                    for chunk in _journal_chunks(result.journal):
                        sends.append((s.topic_state, None, orjson.dumps(chunk), partition))
                for event_id, mention in result.mention_changes.items():
                    sends.append((s.topic_mentions, event_id.encode(),
                                  None if mention is None else orjson.dumps(mention), partition))
                for record in post_records:
                    sends.append((s.topic_post_metrics, record["post_id"].encode(), orjson.dumps(record), None))
                for record in account_records:
                    sends.append((s.topic_account_metrics, record["account_id"].encode(),
                                  orjson.dumps(record), None))
                if post_records:
                    self.metrics.records.labels("post", self.config.window_label).inc(len(post_records))
                for kind, label in (("tumbling", self.config.window_label),
                                    ("rolling", self.config.rolling_label)):
                    n = sum(1 for r in account_records if r["window_kind"] == kind)
                    if n:
                        self.metrics.records.labels("account", label).inc(n)
            if any(st.closed_through > marks_before[p] for p, st in self.states.items()):
                mark = max(st.closed_through for st in self.states.values())
                self.metrics.accounts.update(rolling_records, mark, self.accounts.industry_of)
            if now - self._mentions_gauge_at >= 5000:
                self._mentions_gauge_at = now
                unanswered: dict = {}
                for state in self.states.values():
                    unanswered.update(state.unanswered_mentions(now))
                self.metrics.unanswered.set_all(unanswered)
            return sends, offsets, finals

    async def _send_all(self, producer: AIOKafkaProducer, sends: list) -> None:
        """Send in record batches per partition: a window close publishes tens of thousands of
        records, and one send() call each would stall the loop for seconds."""
        by_partition: dict[tuple[str, int], list] = {}
        for topic, key, value, partition in sends:
            if partition is None:
                count = self._partition_counts.get(topic)
                if count is None:
                    count = self._partition_counts[topic] = len(await producer.partitions_for(topic))
                partition = partition_for_bytes(key, count) if key is not None else random.randrange(count)
            by_partition.setdefault((topic, partition), []).append((key, value))
        for (topic, partition), records in by_partition.items():
            batch = producer.create_batch()
            for key, value in records:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full: send, start anew
                    await producer.send_batch(batch, topic, partition=partition)
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            await producer.send_batch(batch, topic, partition=partition)

    async def _close_clocks(self, now: int) -> dict[int, int]:
        """Per partition, the time up to which every input message that arrived has been read: windows
        close by it. Caught up, that is when the last fetch response was received (its high
        watermark covered everything that had arrived); catching up (after a restart, a rebalance, an
        outage), the broker's arrival stamp of the last message read. So a backlog of on-time events is
        counted however late it is read, and windows still close when traffic stops. Also sets the
        consumer lag gauge."""
        clocks = {}
        for tp in self._consumer.assignment() if self._consumer else ():
            if tp.partition not in self.states:
                continue
            highwater = self._consumer.highwater(tp)
            position = await self._consumer.position(tp)
            if highwater is None or position < highwater:
                clocks[tp.partition] = self._arrival_ms.get(tp.partition, 0)
            else:
                clocks[tp.partition] = min(now, self._consumer.last_poll_timestamp(tp) or 0)
            if highwater is not None:
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))
        return clocks

    async def _recover_with_retries(self, give_up_after_s: float = 300.0) -> None:
        """Retry the recovery while the cluster is unreachable (a broker restart, a network cut);
        after give_up_after_s the loop dies and the worker exits, for its supervisor to restart it."""
        deadline = time.monotonic() + give_up_after_s
        delay = 0.5
        while True:
            try:
                await self._recover()
                log.info("recovered: %d partitions restored", len(self.states))
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                log.warning("recovery failed; retrying in %.1f s", delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _recover(self) -> None:
        """After a failed transaction: forget in-memory state, rebuild it from the journal, and rewind
        the consumer to the committed offsets (the aborted transaction's work is redone)."""
        async with self._txn_lock, self._lock:
            self._outbox = []
            self._next_offsets = {}
            try:
                await asyncio.wait_for(self._producer.stop(), 10)
            except Exception:  # it may hang on an unreachable broker; its transaction is void anyway
                log.warning("stopping the failed producer", exc_info=True)
            self._producer = self._new_producer()
            await self._producer.start()
            self.states = await self._restore(list(self.states))
            for partition, offset in (await self._resume_offsets(self.states)).items():
                tp = TopicPartition(self.settings.topic_interactions, partition)
                if offset is None:
                    await self._consumer.seek_to_beginning(tp)
                else:
                    self._consumer.seek(tp, offset)

    # -- rebalance ---------------------------------------------------------------------------------
    async def handle_revoked(self, revoked) -> None:
        await self._cancel_restore()
        try:
            await self._commit()
        except Exception:
            log.exception("commit on revoke failed; the next owner redoes that work")
        partitions = self.settings.topic_partitions
        for tp in revoked:
            state = self.states.pop(tp.partition, None)
            self._next_offsets.pop(tp, None)
            self._arrival_ms.pop(tp.partition, None)
            try:
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
            except KeyError:
                pass
            if state is not None:
                self.metrics.accounts.forget(a for a in list(self.metrics.accounts.latest)
                                             if partition_for(a, partitions) == tp.partition)
        self.metrics.partitions.set(len(self.states))

    async def handle_assigned(self, assigned) -> None:
        """Hold new partitions until their state is rebuilt. The rebuild runs outside this callback:
        a long one inside it would miss the group's rebalance deadline and cost the membership."""
        new = [tp for tp in assigned if tp.partition not in self.states]
        if new:
            self._consumer.pause(*new)
            self._restoring = asyncio.create_task(self._restore_then_resume(new), name="engagement-restore")

    async def _cancel_restore(self) -> None:
        task, self._restoring = self._restoring, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _restore_then_resume(self, tps: list[TopicPartition]) -> None:
        try:
            states = await self._restore([tp.partition for tp in tps])
            offsets = await self._resume_offsets(states)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.critical("restoring partitions %s failed", [tp.partition for tp in tps], exc_info=True)
            os._exit(70)  # a worker that cannot rebuild its state must not count: restart it
        assignment = self._consumer.assignment()
        for tp in tps:
            if tp in assignment:
                self.states[tp.partition] = states[tp.partition]
                if offsets[tp.partition] is not None:  # else: auto_offset_reset (the beginning)
                    self._consumer.seek(tp, offsets[tp.partition])
                self._consumer.resume(tp)
        self.metrics.partitions.set(len(self.states))

    async def _resume_offsets(self, states: dict[int, PartitionState]) -> dict[int, int | None]:
        """Where each restored partition's input resumes: the offset its journal says the state has
        read up to, or the group's committed offset if that is later. Both commit in one transaction,
        but a committed offset fetched right after the commit can still be the previous one."""
        out = {}
        for partition, state in states.items():
            committed = await self._consumer.committed(TopicPartition(self.settings.topic_interactions, partition))
            known = [offset for offset in (committed, state.input_offset) if offset is not None]
            out[partition] = max(known) if known else None
        return out

    async def _restore(self, partitions: list[int]) -> dict[int, PartitionState]:
        """Rebuild partitions' state: replay their journal (read_committed: only what committed) and
        read their open mentions."""
        started = time.perf_counter()
        cfg = self.config
        states = {p: PartitionState(p, cfg) for p in partitions}
        # Entries older than every window and the dedup horizon can no longer matter.
        horizon = now_ms() - 2 * (cfg.rolling_ms + cfg.window_ms + cfg.grace_ms + cfg.dedup_ms)
        await self._wait_for_decided_transactions(
            [TopicPartition(topic, p) for topic in (self.settings.topic_state, self.settings.topic_mentions)
             for p in partitions])
        entries = 0
        async for message in self._read_to_end(self.settings.topic_state, partitions, since_ms=horizon):
            states[message.partition].apply_journal(orjson.loads(message.value))
            entries += 1
        async for message in self._read_to_end(self.settings.topic_mentions, partitions):
            mentions = states[message.partition].mentions
            if message.value is None:
                mentions.pop(message.key.decode(), None)
            else:
                account_id, ts = orjson.loads(message.value)
                mentions[message.key.decode()] = (account_id, ts)
        for state in states.values():
            if state.closed_through == 0:  # a fresh partition: nothing before now is open
                state.closed_through = state.counting_since = cfg.close_mark(now_ms())
        self.metrics.restore_seconds.set(time.perf_counter() - started)
        log.info("partitions %s restored from %d journal entries in %.2f s", sorted(partitions), entries,
                 time.perf_counter() - started)
        return states

    async def _read_to_end(self, topic: str, partitions: list[int], since_ms: int | None = None):
        """Every committed message of these partitions (from the first at or after since_ms) up to
        the end they had when the read began."""
        tps = [TopicPartition(topic, p) for p in partitions]
        reader = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers,
                                  enable_auto_commit=False, isolation_level="read_committed",
                                  fetch_max_wait_ms=FETCH_MAX_WAIT_MS, max_partition_fetch_bytes=4 * MAX_MESSAGE_BYTES,
                                  **self.kafka_config)
        await reader.start()
        try:
            # Offsets first, assignment after: with partitions assigned, each offset lookup waits for
            # the fetcher's round trip (fetch_max_wait), which made an empty restore take seconds.
            starts = await reader.beginning_offsets(tps)
            if since_ms is not None:
                found = await reader.offsets_for_times({tp: max(0, since_ms) for tp in tps})
                starts = {tp: found[tp].offset if found.get(tp) is not None else None for tp in tps}
            ends = await reader.end_offsets(tps)
            pending = {tp for tp in tps if starts[tp] is not None and starts[tp] < ends[tp]}
            if not pending:
                return
            reader.assign(list(pending))
            for tp in pending:
                reader.seek(tp, starts[tp])
            while pending:
                batch = await reader.getmany(*pending, timeout_ms=1000)
                for tp, messages in batch.items():
                    for message in messages:
                        yield message
                pending = {tp for tp in pending if await reader.position(tp) < ends[tp]}
        finally:
            await reader.stop()

    async def _wait_for_decided_transactions(self, tps: list[TopicPartition], timeout_s: float = 5.0) -> None:
        """Wait until the transactions that wrote to these partitions before now are decided: a
        commit's markers reach the partitions after the commit returns, and until then a
        read_committed reader ends before that transaction, so a restore right after a rebalance's
        commit would miss it. A dead worker's open transaction stays undecided until the broker
        aborts it (transaction timeout, 15 s): after timeout_s the restore goes on without it, which
        is right for a transaction that will be aborted."""
        written_reader, committed_reader = (
            AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers, enable_auto_commit=False,
                             isolation_level=isolation, **self.kafka_config)
            for isolation in ("read_uncommitted", "read_committed"))
        try:
            await written_reader.start()
            await committed_reader.start()
            written = await written_reader.end_offsets(tps)
            deadline = time.monotonic() + timeout_s
            while True:
                stable = await committed_reader.end_offsets(tps)
                if all(stable[tp] >= written[tp] for tp in tps):
                    return
                if time.monotonic() > deadline:
                    log.warning("restore: transactions on %s still open after %.0f s; reading what is committed",
                                sorted(f"{tp.topic}/{tp.partition}" for tp in tps if stable[tp] < written[tp]),
                                timeout_s)
                    return
                await asyncio.sleep(0.05)
        finally:
            await written_reader.stop()
            await committed_reader.stop()

    # -- queries --------------------------------------------------------------------------------
    def owner_of_account(self, account_id: str) -> tuple[int, str | None]:
        partition = partition_for(account_id, self.settings.topic_partitions)
        return partition, self.assignor.owners.get(partition)

    def peer_urls(self) -> set[str]:
        return set(self.assignor.owners.values()) - {self.assignor.url}

    def live_post(self, post_id: str) -> list[dict]:
        now = now_ms()
        for state in self.states.values():
            windows = state.live_post(post_id, now, self.accounts.followers_of)
            if windows:
                return windows
        return []

    def live_account(self, account_id: str, rolling: bool) -> list[dict] | None:
        """None when this worker does not own the account's partition."""
        state = self.states.get(partition_for(account_id, self.settings.topic_partitions))
        if state is None:
            return None
        return state.live_account(account_id, rolling, now_ms(), self.accounts.followers_of)


def _event_bytes(event: dict) -> bytes:
    return orjson.dumps({k: v for k, v in event.items() if k != "ts_ms"})


def _journal_chunks(entry: dict):
    """Split a large journal entry into messages; the close mark, the commit time and the input
    offset travel in the last one, so that a replay applies every delta before the close, exactly as
    the commit did."""
    lists = [(name, entry[name]) for name in ("p", "a", "s") if name in entry]
    chunk: dict = {}
    size = 0
    for name, items in lists:
        for start in range(0, len(items), JOURNAL_CHUNK_KEYS):
            part = items[start:start + JOURNAL_CHUNK_KEYS]
            if size + len(part) > JOURNAL_CHUNK_KEYS and chunk:
                yield chunk
                chunk, size = {}, 0
            chunk[name] = part
            size += len(part)
    chunk.update((name, entry[name]) for name in ("c", "n", "o") if name in entry)
    if chunk:
        yield chunk
