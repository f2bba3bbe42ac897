"""What every long computation shares: the progress/cancel protocol and sound device settings.

A job is a plain function ``run(spec, *, progress, cancelled) -> Result``; ``progress(fraction,
message, detail=None)`` reports, ``cancelled()`` is polled between batches and iterations, and a
job that sees it true raises ``Cancelled``. ``detail`` is an optional JSON-able dict for live
views (e.g. a PINN run's current global bound); listeners that do not use it ignore it, and it
may be dropped when reports are throttled. No Qt here: the GUI and the CLI adapt these callbacks.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch

ProgressFn = Callable[..., None]  # (fraction: float, message: str = "", detail: dict | None = None)
CancelledFn = Callable[[], bool]


class Cancelled(Exception):
    """Raised inside a job when its ``cancelled()`` callback returned true."""


def no_progress(fraction: float, message: str = "", detail: dict | None = None) -> None:
    """The progress callback used when nobody listens."""


def never_cancelled() -> bool:
    return False


def check_cancelled(cancelled: CancelledFn) -> None:
    if cancelled():
        raise Cancelled("cancelled by the user")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """'cuda' only when present: asking for it on a machine without a GPU is a user error."""
    device = torch.device(device or "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available")
    return device


@contextlib.contextmanager
def sound_math() -> Iterator[None]:
    """Turn TF32 off for the duration: its ~1e-3 relative error would make GPU bounds unsound."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
