"""The engine's state, per input partition, and the journal and snapshots that rebuild it after a
restart or a rebalance. The parts, each in its module:

    partition          the fold, and the commit that merges, journals and closes
    entries            the open window buckets and their typed entries
    sealed_accounts    closed account buckets kept for the rolling window, in columns
    rolling_merge      the rolling merge over sealed and open account buckets
    closing            what a close mark makes final: the window and lifetime records
    lifetimes          post lifetimes (post_life: one post); sealed_lives, sealed_lifetimes: the
                       lives past their last-but-one age, in columns (final_segments: their last
                       age's aggregates; aggregate_rows: an aggregate as a row); benchmark_samples:
                       the ERs
    silent             posts known from their record that get no event
    dedup              the event ids within the horizon, as fingerprints
    mentions           open mentions (mention_store: their columns; mention_ids: their ids);
                       listening: what a mention, reply or resolve does
    journal            the journal's format (lives_format: the post lives' part of it)
    snapshot           the snapshot's format (lives_records, sealed_accounts_format: what is
                       written once; snapshot_parts: the open state, written when changed);
                       replay: a state rebuilt from a snapshot and the journal
    intern             names held once, referred to by index from the columns
    live               the live reads of the HTTP API
"""

from .commit import Commit
from .partition import COUNTED, DUPLICATE, LATE, PartitionState
from .window import WindowConfig

__all__ = ["COUNTED", "DUPLICATE", "LATE", "Commit", "PartitionState", "WindowConfig"]
