"""Dev tooling, not shipped in the worker image and never imported by the service core: the
embedded Kafka broker, the local stack of ``make run``, the Prometheus/Alertmanager launcher, child
process helpers and the benchmark (``make bench``)."""
