"""A labelled gauge family kept as plain values, its samples built at scrape time.

prometheus_client's ``Gauge`` holds a child per series (a ``Gauge`` object, a lock, a value, label
tuples: 700..860 bytes measured); the per-account families hold tens of thousands of series at
ENGAGEMENT_MAX_ACCOUNT_SERIES = 2000, tens of MB. Here a series is a dict entry, label tuple -> value.
The exposition is the ``Gauge``'s: same name, HELP, TYPE, labels, values, and series in the same order
(a series keeps its place while it stays, a new one comes last).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.samples import Sample


class GaugeFamily:
    """A custom collector (prometheus_client's ``Collector`` protocol) registered on ``registry``.
    Writers replace the mapping, never change it, so a scrape in another thread reads a whole one."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry):
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self._series: dict[tuple[str, ...], float] = {}
        registry.register(self)

    @property
    def series(self) -> Mapping[tuple[str, ...], float]:
        """Label values (in ``labelnames``' order) -> the value: what the next scrape exposes."""
        return self._series

    def publish(self, desired: dict[tuple[str, ...], float]) -> None:
        """The family's series become ``desired``: the others are removed, those that stay keep their
        place, new ones come after them in ``desired``'s order (as ``Gauge.remove`` and ``labels().set``)."""
        series = {labels: value for labels, value in self._series.items() if labels in desired}
        series.update(desired)
        self._series = series

    def remove_where(self, gone: Callable[[tuple[str, ...]], bool]) -> None:
        """Remove the series whose label values ``gone`` holds for."""
        self._series = {labels: value for labels, value in self._series.items() if not gone(labels)}

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The family's name, for the registry's duplicate check, without building its samples."""
        yield GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        name, labelnames = self.name, self.labelnames
        family.samples = [
            Sample(name, dict(zip(labelnames, labels)), float(value)) for labels, value in self._series.items()
        ]
        yield family
