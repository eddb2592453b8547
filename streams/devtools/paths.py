"""Where the dev tooling finds the checkout: deploy configs, the run directory, results."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_DIR = REPO / ".run"  # logs and data of `make run`, the bench and the tests' local stacks
