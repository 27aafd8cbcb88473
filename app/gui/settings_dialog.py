"""Settings: how much runs at once, how fast it may upload, how files are compressed, and what to tell you.

The dialog edits a copy of the Settings object and hands back a new one; the session saves it (off the
main thread) and applies it to the running pipeline. Validation is app.core.settings' own: a bad value
is explained in the dialog, never half-saved.
"""

from __future__ import annotations

from pathlib import Path

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
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import MAX_CONCURRENCY, MAX_PART_SIZE_MIB, MIN_PART_SIZE_MIB, Settings, SettingsError
from app.gui.presets_ui import fill_preset_combo
from app.gui.signin_dialog import ERROR_STYLE

MB = 1_000_000  # the same decimal megabyte as the speeds shown in the queue


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None, *, encoder_text: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("ReelDrop settings")
        self._original = settings
        self.result_settings: Settings | None = None

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
        transfers.addRow("&Upload speed:", _row(self.limit_enabled, self.limit, QLabel("(unlimited when unticked)")))
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
        self.encoder_label = QLabel(encoder_text)
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

        self.error = QLabel()
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
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 72)
        self.show_settings(settings)

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
