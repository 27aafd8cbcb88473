"""Resource limits for one ffmpeg or ffprobe process that reads a file nobody here chose.

A server's worker decodes what strangers upload: a few hundred KB of H.264 can declare 16000x16000 frames
and make a decoder allocate gigabytes. Validation refuses such pictures by their probed size; these limits
bound what is left (a file that lies, a decoder's own appetite): its address space, its CPU time, and the
threads ffmpeg starts (each reserves stacks and frame buffers). The desktop app sets none: there the file
is the user's own.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class ResourceLimits:
    address_space_bytes: int | None = None
    """RLIMIT_AS: a decoder that asks for more fails its allocation, and ffmpeg exits with an error."""
    cpu_seconds: int | None = None
    """RLIMIT_CPU: CPU time over all threads; the kernel ends the process past it."""
    threads: int | None = None
    """ffmpeg's -threads, for decoding and encoding."""

    def rlimits(self) -> list[tuple[int, int]]:
        """(resource.RLIMIT_*, limit) pairs for popen_ending_with_this_process; none on Windows."""
        if sys.platform == "win32":
            return []
        import resource

        pairs = []
        if self.address_space_bytes:
            pairs.append((resource.RLIMIT_AS, self.address_space_bytes))
        if self.cpu_seconds:
            pairs.append((resource.RLIMIT_CPU, self.cpu_seconds))
        return pairs

    def thread_args(self) -> list[str]:
        return ["-threads", str(self.threads)] if self.threads else []
