"""About ReelDrop: what this is, and the versions a bug report needs (app, Qt, PySide, Python, ffmpeg).

Finding ffmpeg starts a process, so the ffmpeg line fills in when the background check answers.
"""

from __future__ import annotations

import html
import platform
import sys

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from app import __version__
from app.core.media import find_ffmpeg
from app.gui.bridge import Bridge
from app.gui.plain_errors import plain_words


def ffmpeg_description() -> str:
    """ "6.1.1 (system, /usr/bin/ffmpeg)" — blocking: runs ffmpeg -version the first time."""
    tools = find_ffmpeg()
    return f"{tools.version} ({tools.source}, {tools.ffmpeg})"


def version_rows(ffmpeg: str) -> list[tuple[str, str]]:
    return [
        ("ReelDrop", __version__),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
        ("Python", f"{platform.python_version()} ({sys.platform})"),
        ("ffmpeg", ffmpeg),
    ]


class AboutDialog(QDialog):
    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About ReelDrop")
        title = QLabel(f"<h2>ReelDrop {html.escape(__version__)}</h2>")
        blurb = QLabel(
            "Drop a video: it is compressed, uploaded, processed, and the results come back to your computer."
        )
        blurb.setWordWrap(True)
        self.versions = QLabel()
        self.versions.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (title, blurb, self.versions, buttons):
            layout.addWidget(widget)
        self.ffmpeg = "checking…"
        self._show_versions()
        bridge.run(ffmpeg_description, on_done=self._set_ffmpeg, on_error=self._ffmpeg_missing)

    def _set_ffmpeg(self, text: str) -> None:
        self.ffmpeg = text
        self._show_versions()

    def _ffmpeg_missing(self, error: BaseException) -> None:
        self._set_ffmpeg(f"not found — {plain_words(error)}")

    def _show_versions(self) -> None:
        rows = "".join(
            f"<tr><td><b>{html.escape(name)}</b>&nbsp;&nbsp;</td><td>{html.escape(value)}</td></tr>"
            for name, value in version_rows(self.ffmpeg)
        )
        self.versions.setText(f"<table>{rows}</table>")

    def version_text(self) -> str:
        """Plain text of the versions (what a bug report should include)."""
        return "\n".join(f"{name}: {value}" for name, value in version_rows(self.ffmpeg))
