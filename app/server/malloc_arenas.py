"""Few malloc arenas for the server process: its memory stays flat however many bytes pass through it.

glibc gives each thread that allocates under contention an arena of its own, up to 8 per core, and returns
freed memory to the system only from the top of each. The server moves every upload through threads of
the ASGI pool in blocks of about 1 MiB (app/server/routes/storage.py), so each of those threads' arenas kept
a few freed MiB: the built-in backend's RSS grew by 8.8 MiB per GiB uploaded (126 -> 153 MiB over 4 GiB,
bench/local_backend.py), and stayed at 125-128 MiB with two arenas. Two arenas cost nothing measurable
here: the blocks are large and the threads few.

``MALLOC_ARENA_MAX`` in the environment (glibc's own knob) wins; elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's malloc.h
SERVER_ARENAS = 2


def limit_malloc_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Cap glibc's arenas; call first thing in the process, before other threads allocate. True if set."""
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_ARENA_MAX, arenas) != 1:
        log.info("malloc arenas could not be limited to %d", arenas)
        return False
    return True


def release_free_memory() -> bool:
    """Ask glibc to hand the free memory at the top of its heaps back to the system (malloc_trim); True
    if it released any. Elsewhere than glibc, nothing to do."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        malloc_trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim.argtypes, malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(malloc_trim(0))
