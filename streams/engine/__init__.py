"""The engine: the consume loop and its parts (see ``loop``'s docstring for the map)."""

from .loop import Engine

__all__ = ["Engine"]
