"""`engagement bench` (what `make bench` runs): throughput, freshness and memory of the pipeline, next to
peer stream processors, on a real Kafka broker (the embedded one, or KAFKA_BOOTSTRAP_SERVERS), in one run.

Phases, each on topics and consumer groups of its own:

1. pre-fill: the TrafficModel's events (2,000 accounts on the five benchmark platforms, the simulator's
   type mix, ``ts`` = the wall clock at production) into two input topics, once one event per message
   and once 100 events of one account per message (and a shorter single one for the faust peer);
2. ceiling: a bare aiokafka ``getmany`` + orjson decode + per-key dict count over each input topic;
3. pipeline: 1 and 2 ``engagement worker`` processes from spawn until their group's committed offsets
   reach the input's end; then the accounting counters on their /metrics must say every event is
   counted once (counted == produced, no duplicate, no reject: checked); py-spy samples the single
   worker of each mode's first run;
   peers (``peers/``): Kafka Streams (value parsed, unparsed), Quix Streams (at-least-once,
   exactly-once) and a faust agent on the single topic, timed the same way;
4. freshness: a steady 5,000 events/s into a fresh worker; probe events on accounts of their own say
   when an event shows in the query API and in /metrics, and the final records on the output topics
   (read_committed) say how long after window end + grace a window is published;
5. the worker's peak RSS (VmHWM) in every run.

It prints one JSON line (progress goes to stderr), writes it with the machine's description to
``bench/results/<UTC time>.json`` and draws ``docs/performance.png``. Exit status 1 when a correctness
check failed (the performance targets are reported, not enforced).

`engagement bench early-warning` (``early``) measures PostOffTrack instead, in process, over a simulated
week: precision, recall and minutes to alert; its result goes to the same directory.

Modules: workload, throughput (ceiling, pipeline), offsets (when a run is done), peers, freshness, profile
(py-spy), harness, figures, report, cli.
"""

from __future__ import annotations

from .cli import main

__all__ = ["main"]
