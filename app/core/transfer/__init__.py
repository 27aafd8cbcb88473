"""Qt-free upload engine.

``engine.UploadEngine`` is the entry point (submit files, read progress snapshots, pause/resume/cancel
through ``handle.UploadHandle``). It is built from one-idea modules: ``planning`` (S3 part layout),
``throttle`` (global bandwidth limit), ``progress`` (thread-safe snapshots), ``journal`` (SQLite resume
journal), ``retry`` (failure classification and backoff), ``control`` (cancel/pause token), ``checksums``
and ``part_bodies`` (per-part CRC32C, part bodies, the one-pass scan with the whole-file SHA-256), ``stall``
(no-progress watchdog), ``transport`` (the pooled S3 session), ``resume`` (journal vs ListParts),
``multipart`` / ``post_upload`` / ``part_sender`` (one file's upload), ``growing`` / ``growing_upload`` (a file
still being written, uploaded as it grows), ``failures`` (messages, what can be
resumed). Nothing is imported eagerly here, so importing the package stays cheap.
"""
