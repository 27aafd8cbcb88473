"""Screenshots of the desktop app for docs/screenshots/, taken from the real app doing real work.

    xvfb-run -s "-screen 0 1280x800x24" python tools/screenshots.py [OUT_DIR]

Runs in a throwaway REELDROP_HOME against the built-in server with a few generated clips (ffmpeg), a slow
upload limit so the queue is caught mid-flight, one paused file and one that is not a video. Writes
empty.png, queued.png, busy.png, settings.png, signin.png and jobs.png.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtGui import QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication, QMenu, QWidget  # noqa: E402

from app.core.credentials import MemoryCredentialStore  # noqa: E402
from app.core.paths import HOME_ENV, app_paths  # noqa: E402
from app.core.pipeline.model import Stage  # noqa: E402
from app.core.settings import Settings, save_settings  # noqa: E402
from app.gui import dialogs  # noqa: E402
from app.gui.main import application, build_app  # noqa: E402
from tests.support.files import make_clip  # noqa: E402

WINDOW_SIZE = (1180, 720)
CLIPS = {  # name: (seconds, frame size)
    "Beach day - drone.mp4": (12, "1280x720"),
    "Interview with Anna (take 2).mp4": (10, "1280x720"),
    "Kitchen b-roll.mov": (8, "960x540"),
    "Product teaser vertical.mp4": (6, "720x1280"),
    "Vlog 14 - rainy market.mp4": (10, "1280x720"),
}


def wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return False


def settle(seconds: float = 0.4) -> None:
    wait(lambda: False, seconds)


def save(widget: QWidget, path: Path) -> None:
    settle()
    widget.grab().save(str(path))
    print(f"wrote {path}")


def make_sources(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for name, (seconds, size) in CLIPS.items():
        target = folder / name
        made.append(make_clip(target, seconds=seconds, size=size))
    notes = folder / "notes from the shoot.mp4"
    notes.write_text("call the venue again; this is not a video\n")
    made.append(notes)
    return made


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="reeldrop-shots-"))
    os.environ[HOME_ENV] = str(home)
    paths = app_paths().ensure()
    sources = make_sources(home / "Videos from the weekend")
    save_settings(
        Settings(bandwidth_limit=250_000, default_preset="1080p", output_folder=home / "ReelDrop results"),
        paths.settings_file,
    )
    application(["reeldrop"])
    running = build_app(paths, store=MemoryCredentialStore(), show_crash_dialogs=False)
    window = running.window
    window.resize(*WINDOW_SIZE)
    try:
        if not wait(lambda: running.session.pipeline is not None, 60):
            print("the built-in server did not start", file=sys.stderr)
            return 1
        save(window, out_dir / "empty.png")

        window.add_paths(sources[:1])
        wait(lambda: any(i.stage is Stage.DONE for i in window.model.items()), 120)
        window.add_paths(sources[1:])
        # One encode at a time: while the first of them compresses, the others say Queued.
        wait(lambda: any(i.queued for i in window.model.items()), 60)
        wait(lambda: any(i.stage is Stage.COMPRESSING and not i.queued for i in window.model.items()), 60)
        settle(1.0)
        save(window, out_dir / "queued.png")
        wait(lambda: any(i.stage is Stage.UPLOADING for i in window.model.items()), 120)
        paused = next(i for i in window.model.items() if i.source.name.startswith("Kitchen"))
        running.session.run_command("pause", [paused.item_id])
        wait(lambda: sum(i.stage is Stage.FAILED for i in window.model.items()) >= 1, 60)
        wait(lambda: sum(i.stage is Stage.UPLOADING for i in window.model.items()) >= 2, 30)
        window.queue_panel.table.selectRow(window.model.row_of(paused.item_id))
        window.queue_actions.update_enabled()
        settle(1.0)
        save(window, out_dir / "busy.png")

        # A finished file's context menu, with Copy link; then the message once the link is copied.
        done = next(i for i in window.model.items() if i.stage is Stage.DONE)
        table = window.queue_panel.table
        table.selectRow(window.model.row_of(done.item_id))
        window.queue_actions.update_enabled()
        menu = QMenu(window)
        menu.addActions(table.actions())
        row_rect = table.visualRect(window.model.index(window.model.row_of(done.item_id), 2))
        menu.popup(table.viewport().mapToGlobal(row_rect.center()))
        settle(0.5)
        shot = window.grab()
        painter = QPainter(shot)
        painter.drawPixmap(window.mapFromGlobal(menu.pos()), menu.grab())
        painter.end()
        menu.close()
        window.queue_actions.trigger("copy_link")
        wait(lambda: "copied" in window.statusBar().currentMessage(), 30)
        settle(0.3)
        bar = window.statusBar().grab()
        painter = QPainter(shot)
        painter.drawPixmap(0, shot.height() - bar.height(), bar)
        painter.end()
        shot.save(str(out_dir / "copy_link.png"))

        settings = dialogs.open_settings(window, running.session)
        wait(lambda: settings.encoder_label.text() != "checking…", 30)
        save(settings, out_dir / "settings.png")
        settings.reject()

        sign_in = dialogs.open_sign_in(window, running.session)
        if sign_in is not None:
            sign_in.server.setText("https://reeldrop.example.com")
            sign_in.username.setText("anna@example.com")
            save(sign_in, out_dir / "signin.png")
            sign_in.reject()

        window.tabs.setCurrentWidget(window.jobs_panel)
        wait(lambda: window.jobs_panel.model.rowCount() > 0, 30)
        window.jobs_panel.table.selectRow(0)
        save(window, out_dir / "jobs.png")
    finally:
        running.close()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots"))
