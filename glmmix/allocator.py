"""Reuse of freed memory between likelihood evaluations (glibc's malloc only).

An evaluation creates and frees many temporaries of one to a few megabytes (patterns x
classes x nodes), the same sizes at every evaluation. glibc's malloc serves allocations of
that size by mapping fresh pages and unmaps them when they are freed (or trims the top of the
heap), so every evaluation pays the kernel's page faults again: on the 2-core virtual machine
where glmmix is developed a product of two such arrays took 1.9 ms against 0.6 ms when the
freed memory is reused (``benchmarks/README.md``, "Fresh pages"). :func:`keep_freed_memory`
raises malloc's mmap threshold to 32 MiB (its largest value) and the trim threshold to 64 MiB,
so such arrays come from the heap and freed memory up to 64 MiB stays there for the next
evaluation; larger arrays are mapped and unmapped as before.

It changes the process's allocator, once, when glmmix first fits a model
(``MixtureModel.fit``); set the environment variable ``GLMMIX_KEEP_FREED_MEMORY=0`` before
that to leave malloc as it is. On other C libraries (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc's mallopt parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: allocations below this come from the heap (glibc's largest accepted value on 64-bit systems)
MMAP_THRESHOLD = 32 << 20
#: freed memory at the top of the heap kept for reuse
TRIM_THRESHOLD = 64 << 20

_done: list = []


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed megabyte-sized blocks for reuse (once per process);
    returns whether the allocator was changed by this call or an earlier one."""
    if _done:
        return _done[0]
    ok = False
    if sys.platform.startswith("linux") and os.environ.get("GLMMIX_KEEP_FREED_MEMORY", "1") != "0":
        try:
            libc = ctypes.CDLL(None)
            mallopt = libc.mallopt
            mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            mallopt.restype = ctypes.c_int
            ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        except (OSError, AttributeError):  # not glibc (musl has no mallopt)
            ok = False
    _done.append(ok)
    return ok
