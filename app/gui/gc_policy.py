"""Keep Python's garbage collector from freezing the window.

A full collection walks every tracked object while holding the GIL, so every thread stops, the UI
included. Connecting loads the client stack in this process (the pipeline, the transfer engine, requests,
the settings and the queue store; "This computer"'s server itself runs in a child process, see
app/local_backend.py), and the many long-lived objects made then used to trigger collections of
100-300 ms in the middle of start-up and later while files were being worked on. So: no collections while
the connection is being set up, then everything loaded so far is frozen (left out of later walks; still
freed by reference counting) and collection resumes.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def hold_collections() -> None:
    """Before loading a lot of long-lived objects (starting the backend and the pipeline)."""
    gc.disable()


def freeze_and_resume() -> None:
    """After loading: move what exists to the permanent generation and collect again from here on."""
    gc.freeze()
    gc.enable()
    log.debug("garbage collector: %d objects frozen", gc.get_freeze_count())


def resume_collections() -> None:
    """Collect again without freezing (quitting before the connection was ready)."""
    gc.enable()
