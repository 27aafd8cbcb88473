"""Qt-free building blocks of the upload engine.

One idea per module: ``planning`` (S3 part layout), ``throttle`` (global bandwidth limit), ``progress``
(thread-safe snapshots), ``journal`` (SQLite resume journal), ``retry`` (failure classification and
backoff), ``control`` (cancel/pause token), ``streams`` (part bodies and checksums) and ``stall``
(no-progress watchdog). Nothing is imported eagerly here, so importing the package stays cheap.
"""
