"""Health: is the consume loop turning (liveness, ``/live``), and does the worker serve every partition
it was assigned from restored state (readiness, ``/ready``). The rules are pure: the engine's facts
and the clock come in (``probe`` reads them from an engine), so they are tested without a broker.

Liveness: the loop beats (``Engine.heartbeat``) as each iteration begins. An iteration waits for input
up to a commit interval (plus the fetch long-poll), folds a batch and commits; a commit that has not
ended after ``COMMIT_ALLOWANCE_SECONDS`` has outlived the producer's transaction timeout (15 s, after
which the broker aborts it) twice over. So a beat older than the sum means the loop is stuck: a
deadlock, or a commit hanging on a cluster it cannot reach, where a restart costs nothing (exactly
once) and may help. A restore after a rebalance runs beside the loop, which keeps beating. A recovery
after a failed transaction runs inside the loop: it retries on its own until its deadline
(``recovery.GIVE_UP_AFTER_SECONDS``) and then the worker exits, so it counts as live for that long,
plus one stall bound for its last attempt. Before the loop's first beat the worker is starting: live
(a start that never ends is for a startup probe to catch, not this one).

Readiness: ready once the group has given this worker its partitions and every one of them is restored
and served; not during a rebalance (revoked, not yet assigned again), the restore of a new partition,
or a recovery. A worker assigned no partition (more workers than partitions) is ready: it answers
queries by forwarding them to the owners, and a Kubernetes rollout would otherwise wait forever for it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..kafka.clients import FETCH_MAX_WAIT_MS
from .recovery import GIVE_UP_AFTER_SECONDS

if TYPE_CHECKING:
    from .loop import Engine

COMMIT_ALLOWANCE_SECONDS = 30.0  # fold a batch, collect a commit (snapshots), run its transaction


@dataclass(frozen=True)
class Bounds:
    stall_after_seconds: float  # between two beats of the loop
    recovery_seconds: float  # from the start of a recovery

    @classmethod
    def for_commit_interval(cls, commit_interval_seconds: float) -> Bounds:
        stall = commit_interval_seconds + FETCH_MAX_WAIT_MS / 1000 + COMMIT_ALLOWANCE_SECONDS
        return cls(stall, GIVE_UP_AFTER_SECONDS + stall)


@dataclass(frozen=True)
class Liveness:
    status: str  # live | starting | recovering | stuck
    heartbeat_age_seconds: float | None  # None: the loop has not begun
    stall_after_seconds: float | None  # None: not known before the engine exists
    recovering_seconds: float | None = None  # for how long a recovery has run

    @property
    def live(self) -> bool:
        return self.status != "stuck"

    def document(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Readiness:
    status: str  # ready | starting | rebalancing | restoring | recovering
    assigned: list[int] | None  # None: no assignment (starting, or a rebalance under way)
    restored: list[int]
    restoring: list[int]

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    def document(self) -> dict:
        return asdict(self)


def liveness(heartbeat: float | None, recovering_since: float | None, now: float, bounds: Bounds) -> Liveness:
    """heartbeat and recovering_since on the clock of now (monotonic seconds)."""
    if heartbeat is None:
        return Liveness("starting", None, bounds.stall_after_seconds)
    age = now - heartbeat
    if recovering_since is not None:
        recovering = now - recovering_since
        status = "recovering" if recovering <= bounds.recovery_seconds else "stuck"
        return Liveness(status, age, bounds.stall_after_seconds, recovering)
    return Liveness("live" if age <= bounds.stall_after_seconds else "stuck", age, bounds.stall_after_seconds)


def readiness(assigned: frozenset[int] | None, restored: Iterable[int], recovering: bool) -> Readiness:
    """assigned: the partitions of the group's last assignment, None while there is none."""
    if assigned is None:
        return Readiness("recovering" if recovering else "rebalancing", None, [], [])
    if recovering:  # every partition's state is being rebuilt from what committed
        return Readiness("recovering", sorted(assigned), [], sorted(assigned))
    served = sorted(assigned.intersection(restored))
    restoring = sorted(assigned.difference(restored))
    return Readiness("restoring" if restoring else "ready", sorted(assigned), served, restoring)


def summary(live: Liveness, ready: Readiness) -> str:
    """/health's status: "ok" when live and ready, else why not, a stuck loop first."""
    if not live.live:
        return live.status
    return "ok" if ready.ready else ready.status


def probe(engine: Engine | None, now: float | None = None) -> tuple[Liveness, Readiness]:
    """The liveness and readiness of an engine (None: not created yet) at now (default: monotonic now)."""
    if engine is None:
        return Liveness("starting", None, None), Readiness("starting", None, [], [])
    now = time.monotonic() if now is None else now
    recovering_since = engine.recovery.recovering_since
    return (
        liveness(
            engine.heartbeat, recovering_since, now, Bounds.for_commit_interval(engine.settings.commit_interval_seconds)
        ),
        readiness(engine.rebalance.assigned, engine.states, recovering_since is not None),
    )


def export(engine: Engine) -> None:
    """Keep the engine's health gauges current: they are computed at each scrape."""

    def heartbeat_age() -> float:
        return math.nan if engine.heartbeat is None else time.monotonic() - engine.heartbeat

    engine.metrics.loop_heartbeat_age.set_function(heartbeat_age)
    engine.metrics.ready.set_function(lambda: float(probe(engine)[1].ready))
