"""The account's jobs on the server, as a table model fed from `GET /api/jobs` answers."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from app.core.jobs import job_name
from app.gui import units

Index = QModelIndex | QPersistentModelIndex
JOB_ROLE = Qt.ItemDataRole.UserRole + 1
DOWNLOADABLE = frozenset({"completed", "partial"})
_STATUS_WORDS = {
    "pending": "Waiting for a worker",
    "processing": "Processing",
    "completed": "Done",
    "partial": "Done, some parts failed",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


class JobColumn(enum.IntEnum):
    CREATED = 0
    NAME = 1
    STATUS = 2
    PROGRESS = 3
    RESULTS = 4


_TITLES = ("Started", "Video", "Status", "Progress", "Results")


def local_time(stamp: Any) -> str:
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return str(stamp)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def can_download(job: dict[str, Any]) -> bool:
    return job.get("status") in DOWNLOADABLE and bool(job.get("result"))


class JobsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._jobs: list[dict[str, Any]] = []
        self.total = 0

    def set_jobs(self, answer: dict[str, Any]) -> None:
        jobs = list(answer.get("jobs") or [])
        self.total = int(answer.get("total") or len(jobs))
        if [j.get("job_id") for j in jobs] == [j.get("job_id") for j in self._jobs]:
            changed = [row for row, job in enumerate(jobs) if job != self._jobs[row]]
            self._jobs = jobs
            for row in changed:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(JobColumn) - 1))
            return
        self.beginResetModel()
        self._jobs = jobs
        self.endResetModel()

    def job(self, row: int) -> dict[str, Any]:
        return self._jobs[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._jobs)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(JobColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _TITLES[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._jobs):
            return None
        job = self._jobs[index.row()]
        if role == JOB_ROLE:
            return job
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Job {job.get('job_id')}"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        column = JobColumn(index.column())
        if column == JobColumn.CREATED:
            return local_time(job.get("created_at"))
        if column == JobColumn.NAME:
            return job_name(job)
        if column == JobColumn.STATUS:
            return _STATUS_WORDS.get(str(job.get("status")), str(job.get("status", "")).capitalize())
        if column == JobColumn.PROGRESS:
            return f"{int(job.get('progress') or 0)}%"
        if column == JobColumn.RESULTS:
            result = job.get("result") or {}
            return f"ZIP, {units.human_bytes(result.get('zip_size'))}" if can_download(job) else ""
        return None
