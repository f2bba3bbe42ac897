"""What goes wrong when a network is read: the errors every loader raises, and how they read.

`ModelLoadError` is what callers see (one line naming the file); `UnsupportedModelError` lists
every operator the core graph cannot express, all at once. `Unsupported` is internal: one
converter's complaint about one operator, which the loaders collect into that list.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence


class ModelLoadError(ValueError):
    """A network file that cannot be read (missing, corrupt, wrong kind, needs trust)."""


class UnsupportedModelError(ModelLoadError):
    """A readable network that uses operators the core graph cannot express; lists them all."""

    def __init__(self, source: str, problems: Sequence[str]):
        self.source, self.problems = source, list(problems)
        counts = Counter(problems)  # keeps first-seen order
        listed = ", ".join(p if n == 1 else f"{p} (x{n})" for p, n in counts.items())
        super().__init__(f"{source}: unsupported operators: {listed}")


class Unsupported(Exception):
    """One operator that cannot be expressed in the core graph (the loaders collect these)."""


def first_line(err: BaseException, limit: int = 200) -> str:
    """`Type: first line of the message`, shortened: error texts from libraries can be pages long."""
    text = str(err).strip().splitlines()
    line = f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")
    return line if len(line) <= limit else line[:limit - 3] + "..."
