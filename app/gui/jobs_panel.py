"""The Jobs tab: the account's processing jobs on the server, refreshed while the tab is open, with
"Download results" for finished ones (download, verify, unpack: app.core.results.download, off the main thread)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.api import BackendClient
from app.core.jobs import job_name
from app.core.results.fetch import fetch_results
from app.gui.bridge import Bridge
from app.gui.jobs_model import JobColumn, JobsModel, can_download
from app.gui.labels import plain_label
from app.gui.plain_errors import plain_words

log = logging.getLogger(__name__)

REFRESH_MS = 5000
PAGE = 100


class JobsPanel(QWidget):
    def __init__(
        self, bridge: Bridge, output_folder: Callable[[], Path], cache_dir: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._output_folder = output_folder
        self._cache_dir = cache_dir
        self._client: BackendClient | None = None
        self._loading = False
        self._downloading: set[str] = set()
        self.model = JobsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Jobs on the server")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(JobColumn.NAME, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _index: self.download_selected())

        self.status = plain_label("Not connected")
        self.status.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Ask the server for the latest jobs (F5)")
        self.refresh_button.setShortcut("F5")
        self.refresh_button.clicked.connect(self.refresh)
        self.download_button = QPushButton("Download results")
        self.download_button.setToolTip("Download the selected job's results ZIP, check it and unpack it")
        self.download_button.clicked.connect(self.download_selected)
        self.open_button = QPushButton("Open results folder")
        self.open_button.clicked.connect(self._open_last)
        self.open_button.hide()
        self.last_download: Path | None = None
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.download_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._update_buttons()

    def set_client(self, client: BackendClient | None) -> None:
        self._client = client
        self.model.set_jobs({"jobs": [], "total": 0})
        self.status.setText("Loading jobs…" if client else "Not connected")
        if client is not None and self.isVisible():
            self.refresh()
        self._update_buttons()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()
        self._timer.start()

    def hideEvent(self, event: Any) -> None:
        self._timer.stop()
        super().hideEvent(event)

    def refresh(self) -> None:
        client = self._client
        if client is None or self._loading:
            return
        self._loading = True
        self._bridge.run(client.jobs, PAGE, 0, on_done=self._loaded, on_error=self._load_failed)

    def _loaded(self, answer: dict[str, Any]) -> None:
        self._loading = False
        self.model.set_jobs(answer)
        shown, total = self.model.rowCount(), self.model.total
        more = f" (the newest {shown} of {total})" if total > shown else ""
        self.status.setText(f"{total} job{'s' if total != 1 else ''} on the server{more}" if total else "No jobs yet")
        self._update_buttons()

    def _load_failed(self, error: BaseException) -> None:
        self._loading = False
        self.status.setText(f"Could not load jobs. {plain_words(error)}")

    def selected_job(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.job(rows[0].row()) if rows else None

    def _update_buttons(self, *_args: object) -> None:
        job = self.selected_job()
        ready = job is not None and can_download(job) and job.get("job_id") not in self._downloading
        self.download_button.setEnabled(bool(ready and self._client is not None))

    def download_selected(self) -> None:
        job, client = self.selected_job(), self._client
        if job is None or client is None or not can_download(job):
            return
        job_id = str(job["job_id"])
        self._downloading.add(job_id)
        self._update_buttons()
        self.status.setText(f"Downloading the results of {job_name(job)}…")
        self._bridge.run(
            fetch_results,
            client,
            job_id,
            job_name(job),
            self._output_folder(),
            self._cache_dir,
            on_done=lambda folder: self._downloaded(job_id, folder),
            on_error=lambda error: self._download_failed(job_id, job_name(job), error),
        )

    def _downloaded(self, job_id: str, folder: Path) -> None:
        self._downloading.discard(job_id)
        self._update_buttons()
        self.status.setText(f"Results saved to {folder}")
        self.last_download = folder
        self.open_button.show()

    def _open_last(self) -> None:
        if self.last_download is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.last_download)))

    def _download_failed(self, job_id: str, name: str, error: BaseException) -> None:
        self._downloading.discard(job_id)
        self._update_buttons()
        log.warning("Downloading the results of job %s failed: %s", job_id, error)
        self.status.setText(f"The results of {name} could not be downloaded. {plain_words(error)}")
