"""`engagement top`: a live terminal view of the running service, from what it already exposes (the
workers' /metrics and /health, Prometheus' and Alertmanager's HTTP APIs). ``q`` or Ctrl-C exits."""

from .screen import Top, main, run_plain, run_screen

__all__ = ["main", "Top", "run_plain", "run_screen"]
