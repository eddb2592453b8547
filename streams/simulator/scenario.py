"""What happens to whom in a run: the collapses, the crisis and the team that stops closing; the
stream (``streams.simulator.stream``) plays them.

A collapsed account keeps its traffic, but its posts published from the collapse on lose their
engagement: their engaged events become impressions (all but ``COLLAPSE_RESIDUAL`` of them). Posts
published before keep theirs, so the account's hourly ER falls over hours, its per-post ER with the
first collapsed posts that mature. A *silent* collapse goes further: the account's posts published
from it on get no event at all (their records still come out), so each counts at a post ER of 0.

Collapsing posts (the early warning's case, DOMAIN.md): a healthy account's post that collapses the
same way from its publication, each post with the probability ``Scenario.collapsing_posts`` (of one
account, or of every account), a draw of its own (``collapses``: a test knows which posts): the other
posts and events stay as they were.

Mentions, replies and resolves (DOMAIN.md, listening and response): each account's team replies to
what needs an answer and closes every mention, answered or not (``streams.simulator.teams``: the
shares and delays, and where they come from). In a crisis the account's mentions jump
``CRISIS_MENTION_FACTOR``-fold, mostly negative, while its team works at its usual pace: it handles as
many mentions an hour as before, so most of the crisis waits, neither answered nor closed. A team that
stops closing (``Scenario.stop_closing_account``) still replies, but closes nothing from then on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    """What happens to whom in a run (times on the run's clock, in ms); by default nothing."""

    collapse_account: str | None = None
    collapse_at_ms: int | None = None  # None: from the start
    silent_account: str | None = None  # a silent collapse: its new posts get no event at all
    silent_at_ms: int | None = None  # None: from the start
    crisis_account: str | None = None
    crisis_at_ms: int | None = None  # None: from the start
    reply_delay_scale: float = 1.0  # a test with SLAs shortened by this factor keeps their proportion
    stop_closing_account: str | None = None  # its team replies but closes no mention ...
    stop_closing_at_ms: int | None = None  # ... from then on (None: from the start)
    # False: no posts, only the accounts' own events and their teams' (a listening test at full volume
    # without the post-level events, 97 % of the traffic, that do not change them).
    posts: bool = True
    collapsing_posts: float = 0.0  # probability that a post collapses from its publication
    collapsing_account: str | None = None  # whose posts may collapse; None: every account's
