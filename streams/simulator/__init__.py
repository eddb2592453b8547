"""Synthetic but realistic interaction traffic (``engagement simulate``): a pure model of accounts
and their events, and a producer that paces them into Kafka. Dev and demo tooling that compose also
runs; the service core never imports it."""

from .model import TrafficModel
from .producer import main, run_simulator
from .profile import PLATFORMS
from .stream import EventStream

__all__ = ["PLATFORMS", "EventStream", "TrafficModel", "main", "run_simulator"]
