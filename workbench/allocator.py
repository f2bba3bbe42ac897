"""The process's memory allocator, tuned for bound propagation (kept free of torch imports, so
that the command line's start-up stays fast)."""
from __future__ import annotations

import ctypes
import sys


def keep_freed_memory() -> None:
    """Let glibc keep freed blocks of up to 32 MiB in the heap instead of unmapping them.

    Bound propagation allocates and frees temporaries of a few to tens of MiB per layer. By
    default glibc hands such blocks straight back to the kernel, and every new one page-faults in
    again: a third of CROWN's time on a 784-256-256-256 MLP went to those faults. Process-wide,
    so it is called by the program's entry points (CLI, window, benchmarks), not by the library.
    A no-op off glibc."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 * 2**20)    # glibc's largest allowed value on 64-bit
    libc.mallopt(m_trim_threshold, 512 * 2**20)   # keep up to 512 MiB of freed heap for reuse
