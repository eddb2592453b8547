"""A Prometheus histogram fed many values at once."""

from __future__ import annotations

import math

import numpy as np
from prometheus_client.core import HistogramMetricFamily


class BulkHistogram:
    """A Prometheus histogram fed many values at once (prometheus_client's observe() takes a lock per
    value); one child per label value, exposed by a collector."""

    def __init__(self, name: str, documentation: str, buckets: tuple, label: str | None = None):
        self.name, self.documentation, self.label = name, documentation, label
        self.bounds = list(buckets)
        self._bounds = np.array(self.bounds, dtype=np.float64)
        self.children: dict[str, list] = {}  # label value -> [bucket counts..., +Inf count, sum]

    def observe_many(self, values, label_value: str = "") -> None:
        """``values``: an array or any iterable of numbers; counted into buckets in one numpy pass."""
        child = self.children.get(label_value)
        if child is None:
            child = self.children[label_value] = [0] * (len(self.bounds) + 1) + [0.0]
        values = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.float64)
        if not len(values):
            return
        # side="left": a value equal to a bound is in that bound's bucket (Prometheus' le)
        buckets = np.bincount(np.searchsorted(self._bounds, values, side="left"), minlength=len(child) - 1)
        for i, n in enumerate(buckets.tolist()):
            child[i] += n
        child[-1] += float(values.sum())

    def collect(self):
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label] if self.label else None)
        for label_value, child in self.children.items():
            cumulative, buckets = 0, []
            for bound, n in zip([*self.bounds, math.inf], child):
                cumulative += n
                buckets.append(("+Inf" if bound == math.inf else str(bound), cumulative))
            family.add_metric([label_value] if self.label else [], buckets, child[-1])
        yield family
