"""Settings: how much runs at once, how fast it may upload, how files are compressed, and what to tell you.

The dialog edits a copy of the Settings object and hands back a new one; the session saves it (off the
main thread) and applies it to the running pipeline. Validation is app.core.settings' own: a bad value
is explained in the dialog, never half-saved.

The "This computer" group shows how much disk the built-in server's folder takes and offers "Free space".
Both are slow (a folder walk, a request to the server): they run through the session's bridge on a worker
thread, which gets only plain values (a path, the backend client, the pipeline's snapshot method) and
hands plain results back to the GUI thread through the bridge's MainThreadInbox.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.connect import embedded_data_dir
from app.core.local_space import FreedSpace, SpaceUsage, free_local_space, space_used
from app.core.settings import (
    EMBEDDED_PROFILE_NAME,
    MAX_CONCURRENCY,
    MAX_PART_SIZE_MIB,
    MAX_RETENTION_DAYS,
    MIN_PART_SIZE_MIB,
    Settings,
    SettingsError,
)
from app.gui.labels import plain_label
from app.gui.plain_errors import plain_words
from app.gui.presets_ui import fill_preset_combo
from app.gui.session import AppSession
from app.gui.signin_dialog import ERROR_STYLE
from app.gui.units import human_bytes

log = logging.getLogger(__name__)

MB = 1_000_000  # the same decimal megabyte as the speeds shown in the queue
FREE_SPACE_QUESTION = (
    "Remove the results, outputs and uploaded copies of finished files from This computer? "
    "Results already saved in your results folder are not touched."
)
_SHOWN_PATH_CHARS = 48  # a longer data folder is shown as "…/ReelDrop/server" (the whole path in the tooltip)


class SettingsDialog(QDialog):
    def __init__(
        self,
        settings: Settings,
        parent: QWidget | None = None,
        *,
        encoder_text: str = "",
        session: AppSession | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("ReelDrop settings")
        self._original = settings
        self.result_settings: Settings | None = None
        # Opened from the main window, the window's session measures and frees the built-in server's space.
        found = session if session is not None else getattr(parent, "session", None)
        self._session: AppSession | None = found if isinstance(found, AppSession) else None
        self._space_folder = embedded_data_dir()
        self._freeing = False
        self.used_bytes: int | None = None  # the last figure shown, for tests and the log

        # -- transfers --
        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, MAX_CONCURRENCY)
        self.concurrency.setToolTip("How many uploads run at the same time (parts of big files count one each)")
        self.limit_enabled = QCheckBox("Limit to")
        self.limit = QDoubleSpinBox()
        self.limit.setRange(0.01, 10_000)
        self.limit.setDecimals(2)
        self.limit.setSuffix(" MB/s")
        self.limit.setToolTip("Leave room on your connection for other things while ReelDrop uploads")
        self.limit_enabled.toggled.connect(self.limit.setEnabled)
        self.part_auto = QComboBox()
        self.part_auto.addItem("Automatic (by file size)", "auto")
        self.part_auto.addItem("Fixed size", "fixed")
        self.part_size = QSpinBox()
        self.part_size.setRange(MIN_PART_SIZE_MIB, MAX_PART_SIZE_MIB)
        self.part_size.setSuffix(" MiB")
        self.part_size.setToolTip("Large files are uploaded in parts of this size; a failed part is sent again alone")
        self.part_auto.currentIndexChanged.connect(lambda _i: self.part_size.setEnabled(self._fixed_parts()))

        transfers = QFormLayout()
        transfers.addRow("&Parallel uploads:", _row(self.concurrency))
        unlimited = plain_label("(unlimited when unticked)")
        transfers.addRow("&Upload speed:", _row(self.limit_enabled, self.limit, unlimited))
        transfers.addRow("Upload p&art size:", _row(self.part_auto, self.part_size))

        # -- compression --
        self.preset = QComboBox()
        self.output_folder = QLineEdit()
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_folder)
        self.hardware = QCheckBox("Use the graphics card's video encoder when it works")
        self.hardware.setToolTip(
            "Faster, with files a little larger at the same quality. ReelDrop tests the encoder first and "
            "falls back to the standard one (libx264) when it does not work."
        )
        self.overlap = QCheckBox("Upload while compressing")
        self.overlap.setToolTip(
            "Sends each video's parts while it is still being compressed, so a file takes about as long as "
            "the slower of the two. Untick it to upload only finished files."
        )
        self.encoder_label = plain_label(encoder_text)
        self.encoder_label.setWordWrap(True)
        compression = QFormLayout()
        compression.addRow("Default p&reset:", self.preset)
        compression.addRow("&Save results to:", _row(self.output_folder, browse, stretch=False))
        compression.addRow("", self.hardware)
        compression.addRow("", self.overlap)
        compression.addRow("Encoder now:", self.encoder_label)

        # -- behaviour --
        self.start_on_add = QCheckBox("Start files as soon as they are added")
        self.start_on_add.setToolTip("When unticked, files wait for Start so you can change their preset first")
        self.notifications = QCheckBox("Tell me when a file is done or fails (system notification)")
        self.ask_before_quitting = QCheckBox("Ask before quitting while files are still working")
        self.ask_before_quitting.setToolTip(
            "Quitting never loses work: files continue where they stopped next time ReelDrop starts"
        )
        behaviour = QVBoxLayout()
        behaviour.addWidget(self.start_on_add)
        behaviour.addWidget(self.notifications)
        behaviour.addWidget(self.ask_before_quitting)

        # -- this computer (the built-in server) --
        self.space_label = plain_label()
        self.space_label.setWordWrap(True)
        self.space_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.free_button = QPushButton("&Free space…")
        self.free_button.setToolTip(
            "Removes what the built-in server keeps of finished files: their results, outputs and uploaded "
            "copies. Files still in the queue whose results are not saved yet are kept."
        )
        self.free_button.clicked.connect(self._ask_to_free_space)
        self.space_status = plain_label()
        self.space_status.setWordWrap(True)
        self.space_status.hide()
        self.retention = QSpinBox()
        self.retention.setRange(0, MAX_RETENTION_DAYS)
        self.retention.setToolTip(
            "Finished files' results, outputs and uploaded copies are removed from This computer after this "
            "many days (0 keeps them until you free space). A change applies the next time ReelDrop starts."
        )
        space_row = QWidget()
        space_layout = QHBoxLayout(space_row)
        space_layout.setContentsMargins(0, 0, 0, 0)
        space_layout.addWidget(self.space_label, 1)
        space_layout.addWidget(self.free_button, 0, Qt.AlignmentFlag.AlignTop)
        this_computer = QFormLayout()
        this_computer.addRow("Disk space:", space_row)
        this_computer.addRow("", self.space_status)
        this_computer.addRow(
            "&Keep results for:",
            _row(self.retention, plain_label("days (0 = until you free space)")),
        )

        self.error = plain_label()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self._restore_defaults)

        layout = QVBoxLayout(self)
        layout.addWidget(_group("Transfers", transfers))
        layout.addWidget(_group("Compression", compression))
        layout.addWidget(_group("While working", behaviour))
        layout.addWidget(_group(EMBEDDED_PROFILE_NAME, this_computer))
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 72)
        self.show_settings(settings)
        if self._session is not None:
            self._session.connected.connect(self._update_free_button)
            self._session.disconnected.connect(self._update_free_button)
        self.refresh_space()

    def set_encoder_text(self, text: str) -> None:
        self.encoder_label.setText(text)

    def show_settings(self, settings: Settings) -> None:
        self.concurrency.setValue(settings.concurrency)
        limited = settings.bandwidth_limit is not None
        self.limit_enabled.setChecked(limited)
        self.limit.setEnabled(limited)
        self.limit.setValue((settings.bandwidth_limit or 10 * MB) / MB)
        # The spin box shows 10 kB/s steps; an untouched value keeps the exact bytes/s it came from.
        self._shown_limit = (self.limit.value(), settings.bandwidth_limit or 10 * MB)
        fixed = settings.part_size_mib is not None
        self.part_auto.setCurrentIndex(1 if fixed else 0)
        self.part_size.setValue(settings.part_size_mib or 64)
        self.part_size.setEnabled(fixed)
        fill_preset_combo(self.preset, settings.default_preset)
        self.output_folder.setText(str(settings.output_folder))
        self.hardware.setChecked(settings.hardware_encoder)
        self.overlap.setChecked(settings.upload_while_compressing)
        self.start_on_add.setChecked(settings.start_on_add)
        self.notifications.setChecked(settings.notifications)
        self.ask_before_quitting.setChecked(settings.ask_before_quitting)
        self.retention.setValue(settings.results_retention_days)

    def edited_settings(self) -> Settings:
        """The settings as the dialog shows them; raises SettingsError naming what is wrong."""
        folder = self.output_folder.text().strip()
        if not folder:
            raise SettingsError("choose a folder to save results to")
        return self._original.with_changes(
            concurrency=self.concurrency.value(),
            bandwidth_limit=self._limit_bytes() if self.limit_enabled.isChecked() else None,
            part_size_mib=self.part_size.value() if self._fixed_parts() else None,
            default_preset=self.preset.currentData(),
            output_folder=Path(folder).expanduser(),
            hardware_encoder=self.hardware.isChecked(),
            upload_while_compressing=self.overlap.isChecked(),
            start_on_add=self.start_on_add.isChecked(),
            notifications=self.notifications.isChecked(),
            ask_before_quitting=self.ask_before_quitting.isChecked(),
            results_retention_days=self.retention.value(),
        )

    def _limit_bytes(self) -> int:
        shown, exact = self._shown_limit
        return exact if self.limit.value() == shown else round(self.limit.value() * MB)

    def _fixed_parts(self) -> bool:
        return self.part_auto.currentData() == "fixed"

    def _accept(self) -> None:
        try:
            self.result_settings = self.edited_settings()
        except SettingsError as exc:
            text = str(exc)
            self.error.setText(f"Please check: {text}.")
            self.error.show()
            return
        self.accept()

    def _restore_defaults(self) -> None:
        defaults = Settings()
        # Accounts are not "settings" a reset should lose.
        self.show_settings(
            defaults.with_changes(profiles=self._original.profiles, active_profile=self._original.active_profile)
        )

    def _choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(
            self, "Save results to", self.output_folder.text() or str(Path.home())
        )
        if chosen:
            self.output_folder.setText(chosen)

    # -- this computer's disk space ---------------------------------------------------------------
    def _embedded_active(self) -> bool:
        settings = self._session.settings if self._session is not None else self._original
        return settings.active().embedded

    def refresh_space(self) -> None:
        """Measure the built-in server's folder again (off the GUI thread); the figure follows."""
        self._update_free_button()
        if not self._embedded_active():
            name = (self._session.settings if self._session is not None else self._original).active_profile
            self.space_label.setText(
                f"Your files are kept on the server of {name}: the space they take is the server's, "
                "and so is how long it keeps them."
            )
            return
        if self._session is None:  # no worker to measure with (a dialog opened on its own, as in tests)
            self.space_label.setText(f"{EMBEDDED_PROFILE_NAME} keeps its files in {_shown_path(self._space_folder)}")
            return
        if not self.space_label.text():
            self.space_label.setText(f"Measuring the space {EMBEDDED_PROFILE_NAME} uses…")
        self._session.bridge.run(
            space_used,
            self._space_folder,
            on_done=lambda usage: self._if_alive(self._show_usage, usage),
            on_error=lambda error: self._if_alive(self._usage_failed, error),
        )

    def _show_usage(self, usage: SpaceUsage) -> None:
        where = _shown_path(usage.folder)
        if not usage.exists:
            text = f"Nothing on disk yet\nin {where}"
        else:  # the group's title names This computer; the folder on a line of its own, never cut in two
            text = f"Uses {human_bytes(usage.bytes)} on disk\nin {where}"
        self.space_label.setText(text)
        details = [str(usage.folder)]
        details += [f"{name}: {human_bytes(size)}" for name, size in sorted(usage.parts.items(), key=lambda p: -p[1])]
        if usage.unreadable:
            details.append(f"{usage.unreadable} could not be read and are not counted")
        self.space_label.setToolTip("\n".join(details))
        self.used_bytes = usage.bytes

    def _usage_failed(self, error: BaseException) -> None:
        log.info("Could not measure %s: %s", self._space_folder, error)
        self.space_label.setText(f"Could not measure the space {EMBEDDED_PROFILE_NAME} uses. {plain_words(error)}")

    def _update_free_button(self, *_args: object) -> None:
        session = self._session
        connection = session.connection if session is not None else None
        ready = connection is not None and connection.embedded and session is not None and session.pipeline is not None
        self.free_button.setEnabled(self._embedded_active() and ready and not self._freeing)
        if not self._embedded_active():
            self.free_button.setToolTip("Only for This computer: a server frees its own space.")

    def _ask_to_free_space(self) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Question, "Free space", FREE_SPACE_QUESTION, QMessageBox.StandardButton.NoButton, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        yes = box.addButton("Free space", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep them", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)  # removing cannot be undone: Return keeps, only a deliberate choice frees
        box.finished.connect(lambda _result: self.free_space() if box.clickedButton() is yes else None)
        box.open()

    def free_space(self) -> None:
        """Ask the built-in server to remove finished files (no question asked: the button asks first)."""
        session = self._session
        connection = session.connection if session is not None else None
        pipeline = session.pipeline if session is not None else None
        if session is None or connection is None or not connection.embedded or pipeline is None:
            self._show_status("The built-in server is not running yet. Try again in a moment.", error=True)
            return
        self._freeing = True
        self._update_free_button()
        self._show_status("Freeing space…")
        session.bridge.run(
            free_local_space,
            connection.client,
            pipeline.snapshot,  # taken on the worker, just before the request
            self._space_folder,
            on_done=lambda freed: self._if_alive(self._freed, freed),
            on_error=lambda error: self._if_alive(self._free_failed, error),
        )

    def _freed(self, freed: FreedSpace) -> None:
        self._freeing = False
        self._update_free_button()
        if freed.freed_bytes:
            self._show_status(f"Freed {human_bytes(freed.freed_bytes)}")
        else:
            self._show_status("There was nothing to free: finished files' copies are already gone.")
        self._show_usage(freed.usage)

    def _free_failed(self, error: BaseException) -> None:
        self._freeing = False
        self._update_free_button()
        log.info("Free space on %s failed: %s", EMBEDDED_PROFILE_NAME, error)
        self._show_status(f"Could not free space. {plain_words(error)}", error=True)

    def _show_status(self, text: str, *, error: bool = False) -> None:
        self.space_status.setText(text)
        self.space_status.setStyleSheet(ERROR_STYLE if error else "")
        self.space_status.show()

    def _if_alive(self, action: Any, value: Any) -> None:
        if shiboken6.isValid(self):  # the dialog may have been closed (and deleted) before the answer came
            action(value)


def _shown_path(folder: Path) -> str:
    """The folder with the home folder as "~"; a long one as "…/ReelDrop/server"."""
    text = str(folder)
    home = str(Path.home())
    if text == home or text.startswith(home + os.sep):
        text = "~" + text[len(home) :]
    if len(text) > _SHOWN_PATH_CHARS and len(folder.parts) > 2:
        text = os.path.join("…", *folder.parts[-2:])
    return text


def _row(*widgets: QWidget, stretch: bool = True) -> QWidget:
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    if stretch:
        layout.addStretch(1)
    return holder


def _group(title: str, inner: QFormLayout | QVBoxLayout) -> QGroupBox:
    box = QGroupBox(title)
    box.setLayout(inner)
    return box
