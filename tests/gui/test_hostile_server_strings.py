"""Issue 15 items 13 and 17, as a user of the Jobs tab meets them with a hostile server: a job whose title
is markup and whose id is a path. The title reads as written (the labels are plain text; they rendered
markup before), and its download is refused with the reason before a file or folder is named after it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QLabel

from app.core.api import BackendClient
from app.gui.jobs_panel import JobsPanel
from app.gui.main_window import MainWindow

TITLE = '<img src="file:///etc/hostname"><a href="https://example.invalid">Quarterly</a> <b>review</b>'
JOB = {
    "job_id": "/../../.hidden",
    "status": "completed",
    "progress": 100,
    "title": TITLE,
    "s3_key": "temp/1/x/review.mp4",
    "created_at": "2026-12-07T10:00:00Z",
    "updated_at": "2026-12-07T10:05:00Z",
    "result": {"zip_size": 1000, "zip_sha256": "0" * 64},
}


class _Hostile(BaseHTTPRequestHandler):
    asked: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.asked.append(self.path)
        body = json.dumps({"jobs": [JOB], "total": 1, "limit": 50, "offset": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hostile() -> Iterator[tuple[str, list[str]]]:
    _Hostile.asked = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", _Hostile.asked
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_a_hostile_jobs_list_reads_as_written_and_its_path_id_is_refused(qtbot, bridge, hostile, tmp_path: Path):
    url, asked = hostile
    out, cache = tmp_path / "out", tmp_path / "cache"
    out.mkdir()
    panel = JobsPanel(bridge, lambda: out, cache)
    qtbot.addWidget(panel)
    panel.set_client(BackendClient(url, "token"))
    panel.show()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=10_000)
    flags = QItemSelectionModel.SelectionFlag
    panel.table.selectionModel().select(panel.model.index(0, 0), flags.ClearAndSelect | flags.Rows)
    qtbot.waitUntil(panel.download_button.isEnabled, timeout=5_000)
    panel.download_button.click()
    qtbot.waitUntil(lambda: "could not be downloaded" in panel.status.text(), timeout=10_000)
    assert panel.status.textFormat() == Qt.TextFormat.PlainText
    assert TITLE in panel.status.text() and "is not a job id" in panel.status.text()
    assert not any("hidden" in path for path in asked)  # no request names it
    assert list(out.iterdir()) == [] and not cache.exists() and not (tmp_path.parent / ".hidden").exists()


def test_every_label_of_the_main_window_shows_plain_text(qtbot, launch):
    app = launch()
    window: MainWindow = app.window
    labels = window.findChildren(QLabel)
    assert len(labels) >= 8
    rich = [label.text()[:40] for label in labels if label.textFormat() != Qt.TextFormat.PlainText]
    assert rich == [], f"labels that would render a server's markup: {rich}"
