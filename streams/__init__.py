"""engagement-streams: real-time, exact engagement metrics from Kafka interaction events.

The service core (what a worker runs):

    settings    the one settings object (ENGAGEMENT_*)
    contract    the schemas in schemas/, loaded once
    model       pure math: window aggregates, rates, benchmark bands
    validation  decoding, the schema fast path, dead-letter records
    state       per-partition windows, dedup, open mentions, the journal format
    kafka       client factories, security, topics, partitioner, account reference data
    engine      the consume loop, checkpoint, recovery, rebalance, routing, live queries
    metrics     the Prometheus exporter
    api         the Faust app and its HTTP API

Around it, never imported by the core: ``simulator`` (synthetic traffic) and ``devtools`` (embedded
broker, local stack for ``make run``, Prometheus launcher, benchmark). ``cli`` is the console script.
"""
