"""A reference for the per-account families' exposition: prometheus_client Gauges with a child per
series, set as the classes set theirs before streams.metrics.gauge_family (the series gone removed,
the others set in order)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest


class Reference:
    """Gauges with a child per series, each family published whole as the classes did."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.published: dict[str, dict] = {}
        self.gauges: dict[str, Gauge] = {}

    def gauge(self, name: str, documentation: str, labels: list[str] | None = None) -> Gauge:
        self.gauges[name] = Gauge(name, documentation, labels or [], registry=self.registry)
        self.published[name] = {}
        return self.gauges[name]

    def publish(self, name: str, desired: dict) -> None:
        gauge = self.gauges[name]
        for labels in self.published[name].keys() - desired.keys():
            gauge.remove(*labels)
        for labels, value in desired.items():
            gauge.labels(*labels).set(value)
        self.published[name] = dict(desired)

    def text(self) -> bytes:
        return generate_latest(self.registry)


def rounded(text: bytes) -> list[str]:
    """The exposition with each sample's value to 12 digits: a median of ratios is computed in
    floating point (0.005 * 3 / 0.03 is 0.49999999999999994), the hand-worked value is exact."""
    lines = []
    for line in text.decode().splitlines():
        if not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            line = f"{series} {float(value):.12g}"
        lines.append(line)
    return lines


def lines_of(text: bytes, names) -> list[str]:
    """The lines of the families ``names`` (the listening registry holds counters too, whose
    creation times differ from the reference's)."""
    return [
        line
        for line in text.decode().splitlines()
        if (line.split()[2] if line.startswith("#") else line.split("{")[0].split()[0]) in names
    ]
