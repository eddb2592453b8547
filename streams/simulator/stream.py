"""The posts and events of one run as its callers take them (``EventStream``): the events due by a
time, the next message whatever its time, the post records published so far, each message one event or
a batch of one account's events. The agenda (``streams.simulator.agenda``) makes them in model order."""

from __future__ import annotations

import random
from collections import deque

from .agenda import Agenda, Model
from .scenario import Scenario

BATCH_SIZES = (2, 20)
MAX_LOOKAHEAD = 10_000  # next_message: events looked at to fill one batch of one account


class EventStream:
    """The posts and events of one run: the agenda's, merged and batched for the callers."""

    def __init__(self, model: Model, start_ms: int, scenario: Scenario):
        self._model = model
        self.start_ms = start_ms
        self._agenda = Agenda(model, start_ms, scenario)
        # Its own generator, so that a batching leaves every other draw unchanged.
        self._batch_rng = random.Random(f"{model.seed}:batches")
        self._net_follows = self._agenda.net_follows
        self._published = self._agenda.published  # published, record not returned yet
        self._ahead: deque[list] = deque()  # generated, not returned yet (below: the merge)
        self._ahead_of: dict[str, deque[list]] = {}
        self._last: tuple = (start_ms - 1, 0, None)  # the last event generated
        self._generator = self._agenda.events()

    # -- what the callers use --------------------------------------------------------------------------
    def accounts(self) -> list[dict]:
        """The account records as of now: followers drift by the follows and unfollows produced."""
        records = self._model.accounts()
        for record in records:
            record["followers"] = max(0, record["followers"] + self._net_follows[record["account_id"]])
        return records

    def posts_until(self, now_ms: int) -> list[dict]:
        """The post records (schemas/post.schema.json) published by ``now_ms`` and not returned yet;
        the first call returns the backfill of the last 7 model days."""
        self._fill_until(now_ms)
        published = self._published
        out = []
        while published and published[0].published_at <= now_ms:
            out.append(published.popleft().record())
        return out

    def messages_until(self, now_ms: int, batch_share: float = 0.0) -> list[list[dict]]:
        """Every message due by ``now_ms`` (its events' model times), in time order: one event, or
        (with probability ``batch_share``) a batch of 2-20 consecutive due events of one account."""
        ahead, ahead_of = self._ahead, self._ahead_of
        due = []
        while ahead and (ahead[0][3] or ahead[0][0] <= now_ms):
            entry = ahead.popleft()
            if not entry[3]:
                ahead_of[entry[2]["account_id"]].popleft()  # the account's first one left
                due.append(entry[2])
        if not ahead and self._last[0] <= now_ms:
            for generated in self._generator:
                self._last = generated
                if generated[0] > now_ms:
                    self._keep(generated)
                    break
                due.append(generated[2])
        if not batch_share:
            return [[event] for event in due]
        rng = self._batch_rng
        by_account: dict[str, deque[int]] = {}
        for index, event in enumerate(due):
            by_account.setdefault(event["account_id"], deque()).append(index)
        taken = bytearray(len(due))
        messages = []
        for index, event in enumerate(due):
            if taken[index]:
                continue
            queue = by_account[event["account_id"]]
            queue.popleft()  # this one: every earlier event of the account is taken already
            message = [event]
            if rng.random() < batch_share:
                for _ in range(rng.randint(*BATCH_SIZES) - 1):
                    if not queue:
                        break
                    other = queue.popleft()
                    taken[other] = 1
                    message.append(due[other])
            messages.append(message)
        return messages

    def next_message(self, now_ms: int, batch_share: float = 0.0) -> list[dict]:
        """The next message in model order, whenever it is due, every ``ts`` re-stamped to ``now_ms``
        (less the event's out-of-order lateness): a realistic mix of events, fast, on the wall clock."""
        if not batch_share and not self._ahead:  # the benchmark's path
            due, late, event = self._last = next(self._generator)
            event["ts"] = now_ms - late
            return [event]
        entries = self._message_entries(batch_share)
        for entry in entries:
            entry[2]["ts"] = now_ms - entry[1]
        return [entry[2] for entry in entries]

    # -- the merge -------------------------------------------------------------------------------------
    # Events generated but not returned yet wait in ``_ahead`` in model order, as [due, late, event,
    # taken], and in ``_ahead_of`` by account; a batch takes the account's next ones out of turn.
    def _message_entries(self, batch_share: float) -> list:
        first = self._next_entry()
        if not batch_share or self._batch_rng.random() >= batch_share:
            return [first]
        size = self._batch_rng.randint(*BATCH_SIZES)
        account_id = first[2]["account_id"]
        entries = [first]
        queue = self._ahead_of.get(account_id)
        while queue and len(entries) < size:
            entry = queue.popleft()
            entry[3] = True
            entries.append(entry)
        generator = self._generator
        for _ in range(MAX_LOOKAHEAD if len(entries) < size else 0):
            generated = self._last = next(generator)
            if generated[2]["account_id"] == account_id:
                entries.append(generated)
                if len(entries) == size:
                    break
            else:
                self._keep(generated)
        return entries

    def _next_entry(self):
        ahead = self._ahead
        while ahead:
            entry = ahead.popleft()
            if not entry[3]:
                self._ahead_of[entry[2]["account_id"]].popleft()  # the account's first one left
                return entry
        entry = self._last = next(self._generator)
        return entry

    def _keep(self, generated: tuple) -> None:
        entry = [*generated, False]
        self._ahead.append(entry)
        queue = self._ahead_of.get(entry[2]["account_id"])
        if queue is None:
            self._ahead_of[entry[2]["account_id"]] = deque((entry,))
        else:
            queue.append(entry)

    def _fill_until(self, now_ms: int) -> None:
        """Generate every event due by ``now_ms`` (and the first one after it), so that every post
        published by then is out."""
        if self._last[0] > now_ms:
            return
        for entry in self._generator:
            self._last = entry
            self._keep(entry)
            if entry[0] > now_ms:
                return
