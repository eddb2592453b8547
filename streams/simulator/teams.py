"""How the simulated community teams handle their mentions (DOMAIN.md, listening and response:
acknowledge and resolve are two steps): the simulator's model of real teams, not a figure tuned to
an alert.

What needs an answer. Seed 003 (the feedback loop and its three-step social customer-service plan:
acknowledge the concern, route it to the right person, take it off the public channels and resolve it)
says negative mentions need attention at once, and praise deserves "a big thank you"; DOMAIN.md adds
that many mentions need no answer (praise, spam, a tag in passing) and are closed without one. No seed
gives the shares, so they are this model's assumption:

* a negative mention (sentiment < -0.2, ``MENTION_NEGATIVE_SHARE`` of them in the model) is answered;
* of the others, ``ANSWERED_OTHER_SHARE`` (a half: questions, and praise the team thanks) are answered,
  the rest (spam, tags in passing, praise the team only likes) closed without an answer. Overall about
  60 % answered, 40 % closed without answer: most mentions of a brand are talk about it, not to it.

When. The team works its inbox at its usual pace: it gets to a mention after a lognormal delay (median
an hour, 90 % within about three: ``HANDLE_DELAY_*``), then replies or, when no answer is needed, closes
it. An answered mention is closed when its conversation ends (the routing and the follow-up of the
seed's plan): a second lognormal delay after the reply, with the same median and spread (an assumption:
the seed asks for it "in a timely manner", the SLA for it within 24 h of the mention). ``scale``
multiplies every delay (a test with shortened SLAs keeps their proportion).

A team in a crisis handles as many mentions an hour as usual, so most of the crisis waits
(``streams.simulator.agenda``); a team that stops closing (``Scenario.stop_closing_account``) still
replies to what needs an answer but closes nothing.
"""

from __future__ import annotations

import math
import random

NEGATIVE_SENTIMENT = -0.2  # DOMAIN.md: below this a sentiment is negative
ANSWERED_OTHER_SHARE = 0.5  # of the mentions not negative, those that get a reply
HANDLE_DELAY_MEDIAN_MS = 3_600_000  # lognormal: median 1 h, 90 % within 2.8 h,
HANDLE_DELAY_SIGMA = 0.8  # 1 in 1,000 past the 12 h SLA
CLOSE_AFTER_REPLY_MEDIAN_MS = 3_600_000  # an answered mention is closed this long after its reply
CLOSE_AFTER_REPLY_SIGMA = 0.8


class Team:
    """Draws, for each mention, when the team replies and when it closes it (ms after the mention;
    None: never). Its own random generator: the other draws of a stream stay as they were."""

    def __init__(self, rng: random.Random, scale: float):
        self._rng = rng
        self._handle_mu = math.log(HANDLE_DELAY_MEDIAN_MS * scale)
        self._close_mu = math.log(CLOSE_AFTER_REPLY_MEDIAN_MS * scale)

    def handle(self, sentiment: float, closes: bool) -> tuple[float | None, float | None]:
        """(reply delay, resolve delay) of one mention; ``closes``: whether the team closes mentions."""
        rng = self._rng
        handled = rng.lognormvariate(self._handle_mu, HANDLE_DELAY_SIGMA)
        if sentiment < NEGATIVE_SENTIMENT or rng.random() < ANSWERED_OTHER_SHARE:
            closed = handled + rng.lognormvariate(self._close_mu, CLOSE_AFTER_REPLY_SIGMA)
            return handled, closed if closes else None
        return None, handled if closes else None
