"""Build the core pipeline for a connection: the one place the GUI knows how the core's Pipeline is made."""

from __future__ import annotations

from app.core.paths import AppPaths
from app.core.pipeline.driver import open_pipeline as open_core_pipeline
from app.core.pipeline.model import PipelineControl
from app.core.settings import Settings
from app.gui.connection import AccountConnection


def open_pipeline(connection: AccountConnection, settings: Settings, paths: AppPaths) -> PipelineControl:
    """The pipeline for `connection`'s profile, its queue loaded and unfinished work resumed (blocking)."""
    # the same backend id as the CLI: both then share one queue and one upload journal per backend
    pipeline = open_core_pipeline(connection.client, settings, paths, connection.backend.backend_id)
    pipeline.resume_unfinished()
    return pipeline
