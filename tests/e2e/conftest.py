"""The end-to-end tests' pipeline factory: a pipeline on the session's real server, shut down after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.api import BackendClient
from app.core.paths import app_paths
from app.core.pipeline.driver import Pipeline, open_pipeline
from app.core.settings import Settings
from tests.support.servers import RunningServer, User

FAST_JOB = {"renditions": ["240p"], "audio": True, "clips": {"count": 1}, "thumbnails": 1}


@pytest.fixture
def make_pipeline(server: RunningServer, user: User, tmp_path: Path) -> Iterator:
    made: list[Pipeline] = []

    def build(**settings_changes) -> Pipeline:
        paths = app_paths({"REELDROP_HOME": str(tmp_path / "home")})
        settings = Settings(output_folder=tmp_path / "out", **settings_changes)
        pipeline = open_pipeline(
            BackendClient(server.url, user.token), settings, paths, server.url, job_options=FAST_JOB
        )
        made.append(pipeline)
        return pipeline

    yield build
    for pipeline in made:
        pipeline.shutdown()
