"""The queue table model and its progress delegate, fed with real ItemSnapshot data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionViewItem, QTableView

from app.core.media.estimate import Estimate
from app.core.pipeline.model import ItemSnapshot, Stage
from app.gui.progress_delegate import ProgressDelegate, bar_text
from app.gui.queue_model import SNAPSHOT_ROLE, Column, QueueModel


def snap(item_id: str, stage: Stage = Stage.WAITING, fraction: float = 0.0, **kw) -> ItemSnapshot:
    values = {
        "item_id": item_id,
        "source": Path(f"/videos/{item_id}.mp4"),
        "preset": "720p",
        "stage": stage,
        "stage_fraction": fraction,
        "overall_fraction": fraction,
        "size_before": 120_000_000,
        "size_after": None,
        "rate": None,
        "eta": None,
    }
    values.update(kw)
    return ItemSnapshot(**values)


def text(model: QueueModel, row: int, column: Column) -> str:
    return model.data(model.index(row, column))


class Recorder:
    """Every row range a model signal reported."""

    def __init__(self, model: QueueModel) -> None:
        self.changed: list[tuple[int, int]] = []
        self.inserted: list[tuple[int, int]] = []
        self.removed: list[tuple[int, int]] = []
        self.resets = 0
        model.dataChanged.connect(lambda a, b, _roles=(): self.changed.append((a.row(), b.row())))
        model.rowsInserted.connect(lambda _p, a, b: self.inserted.append((a, b)))
        model.rowsRemoved.connect(lambda _p, a, b: self.removed.append((a, b)))
        model.modelReset.connect(lambda: setattr(self, "resets", self.resets + 1))


def test_model_passes_qt_consistency_checks(qtmodeltester):
    model = QueueModel()
    model.update([snap("a"), snap("b", Stage.UPLOADING, 0.5), snap("c", Stage.FAILED, error="c.mp4: not a video")])
    qtmodeltester.check(model, force_py=True)


def test_rows_show_human_values():
    model = QueueModel()
    model.update(
        [
            snap("uploading", Stage.UPLOADING, 0.55, size_after=35_000_000, rate=4_200_000, eta=181, encoder="libx264"),
            snap("paused", Stage.PAUSED, 0.4, paused_stage=Stage.UPLOADING),
            snap("done", Stage.DONE, 1.0, size_after=30_000_000, results_dir=Path("/out/done")),
            snap("failed", Stage.FAILED, 0.0, error="failed.mp4: the file is not a video", error_type="not_media"),
        ]
    )
    assert model.rowCount() == 4 and model.columnCount() == len(Column)
    assert text(model, 0, Column.NAME) == "uploading.mp4"
    assert text(model, 0, Column.PRESET) == "720p"
    assert text(model, 0, Column.STAGE) == "Uploading"
    assert text(model, 0, Column.PROGRESS) == "55%"
    assert text(model, 0, Column.SIZE) == "120 MB → 35.0 MB"
    assert text(model, 0, Column.SPEED) == "4.20 MB/s"
    assert text(model, 0, Column.LEFT) == "3 min left"
    assert text(model, 1, Column.STAGE) == "Paused (uploading)"
    assert text(model, 1, Column.LEFT) == ""
    assert text(model, 2, Column.STAGE) == "Done"
    assert text(model, 2, Column.SPEED) == ""
    assert text(model, 3, Column.STAGE) == "Failed: not a video"  # the reason at a glance
    failed = model.index(3, Column.STAGE)
    assert model.data(failed, Qt.ItemDataRole.ToolTipRole) == "failed.mp4: the file is not a video"
    colours = [model.data(model.index(r, Column.STAGE), Qt.ItemDataRole.ForegroundRole) for r in range(4)]
    assert colours[0] is None  # working rows keep the theme's text colour
    assert colours[2] is not None and colours[3] is not None
    assert colours[2].color() != colours[3].color()  # done and failed never look alike
    assert model.data(model.index(0, Column.NAME), SNAPSHOT_ROLE).item_id == "uploading"
    assert model.headerData(Column.SIZE, Qt.Orientation.Horizontal) == "Size before → after"


def test_update_touches_only_changed_rows_and_keeps_the_rest():
    model = QueueModel()
    items = [snap(name) for name in "abcde"]
    model.update(items)
    seen = Recorder(model)

    items[1] = dataclasses.replace(items[1], stage=Stage.COMPRESSING, overall_fraction=0.1)
    items[2] = dataclasses.replace(items[2], stage=Stage.COMPRESSING, overall_fraction=0.2)
    items[4] = dataclasses.replace(items[4], stage=Stage.PAUSED)
    model.update(items)
    assert seen.changed == [(1, 2), (4, 4)]  # neighbouring rows in one signal
    assert seen.inserted == seen.removed == [] and seen.resets == 0

    seen.changed.clear()
    model.update([*items, snap("f"), snap("g")])  # added at the end
    assert seen.inserted == [(5, 6)]
    assert text(model, 6, Column.NAME) == "g.mp4"

    model.update([items[0], items[2], items[3], items[4], snap("f"), snap("g")])  # "b" removed
    assert seen.removed == [(1, 1)]
    assert [model.item(r).item_id for r in range(model.rowCount())] == list("acdefg")
    assert model.row_of("d") == 2

    model.update([snap("g"), snap("a")])  # a reorder is rare: a reset is fine
    assert seen.resets == 1
    assert [model.item(r).item_id for r in range(model.rowCount())] == ["g", "a"]
    model.update([])
    assert model.rowCount() == 0


def test_estimates_show_before_start_for_the_current_preset_only():
    model = QueueModel()
    model.update([snap("a"), snap("b", Stage.UPLOADING, 0.5, size_after=40_000_000)])
    estimate = Estimate(size_bytes=35_000_000, size_bytes_max=60_000_000, seconds=95.0, method="heuristic")
    model.set_estimate("a", "720p", estimate)
    assert text(model, 0, Column.SIZE) == "120 MB → ~35.0 MB"
    assert text(model, 0, Column.LEFT) == "~2 min to compress"
    model.set_estimate("b", "720p", estimate)
    assert text(model, 1, Column.SIZE) == "120 MB → 40.0 MB"  # real figures win once known

    model.update([snap("a", preset="480p"), snap("b", Stage.UPLOADING, 0.5, size_after=40_000_000)])
    assert text(model, 0, Column.SIZE) == "120 MB"  # that estimate was for 720p
    model.set_estimate("a", "480p", "a.mp4: the file is not a video")
    assert text(model, 0, Column.LEFT) == ""
    tip = model.data(model.index(0, Column.SIZE), Qt.ItemDataRole.ToolTipRole)
    assert tip == "No estimate: a.mp4: the file is not a video"
    model.set_estimate("gone", "720p", estimate)  # an answer for a removed row is dropped quietly


def test_preset_is_editable_only_before_work_starts():
    model = QueueModel()
    model.update([snap("a"), snap("b", Stage.COMPRESSING, 0.2), snap("c", Stage.PAUSED, paused_stage=Stage.WAITING)])
    requests: list[tuple[str, str]] = []
    model.preset_change_requested.connect(lambda item_id, name: requests.append((item_id, name)))
    editable = [bool(model.flags(model.index(r, Column.PRESET)) & Qt.ItemFlag.ItemIsEditable) for r in range(3)]
    assert editable == [True, False, True]
    assert not model.flags(model.index(0, Column.NAME)) & Qt.ItemFlag.ItemIsEditable
    assert model.data(model.index(0, Column.PRESET), Qt.ItemDataRole.EditRole) == "720p"
    assert model.setData(model.index(0, Column.PRESET), "shorts")
    assert model.setData(model.index(0, Column.PRESET), "720p")  # unchanged: no request
    assert not model.setData(model.index(0, Column.NAME), "shorts")
    assert requests == [("a", "shorts")]


def _paint_bar(item: ItemSnapshot, size: QSize = QSize(240, 28)) -> QImage:
    model = QueueModel()
    model.update([item])
    view = QTableView()
    view.setModel(model)
    delegate = ProgressDelegate(view)
    option = QStyleOptionViewItem()
    option.initFrom(view)
    option.rect = QRect(0, 0, size.width(), size.height())
    option.state |= QStyle.StateFlag.State_Enabled
    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    delegate.paint(painter, option, model.index(0, Column.PROGRESS))
    painter.end()
    return image


def _pixels_near(image: QImage, colour: QColor, tolerance: int = 40) -> int:
    count = 0
    for y in range(image.height()):
        for x in range(image.width()):
            pixel = image.pixelColor(x, y)
            if (
                abs(pixel.red() - colour.red())
                + abs(pixel.green() - colour.green())
                + abs(pixel.blue() - colour.blue())
                < tolerance
            ):
                count += 1
    return count


def test_delegate_paints_a_bar_that_grows_with_progress(qapp):
    highlight = QApplication.palette().color(QPalette.ColorRole.Highlight)
    filled = [_pixels_near(_paint_bar(snap("a", Stage.UPLOADING, f)), highlight) for f in (0.0, 0.3, 0.9)]
    assert filled[0] < filled[1] < filled[2], filled
    done = _pixels_near(_paint_bar(snap("a", Stage.DONE, 1.0)), highlight)
    assert done >= filled[2]
    assert _paint_bar(snap("a", Stage.PAUSED, 0.5, paused_stage=Stage.UPLOADING)) != _paint_bar(
        snap("a", Stage.UPLOADING, 0.5)
    )  # a paused bar looks different (greyed)


@pytest.mark.parametrize(
    ("item", "words"),
    [
        (snap("a", Stage.UPLOADING, 0.425), "42%"),
        (snap("a", Stage.DONE, 1.0), "Done"),
        (snap("a", Stage.FAILED, error="x"), "Failed"),
        (snap("a", Stage.CANCELLED), "Cancelled"),
        (snap("a", Stage.PAUSED, 0.4, paused_stage=Stage.UPLOADING), "Paused at 40%"),
        (snap("a"), "Waiting"),
        (snap("a", queued=True), "Queued"),  # started, waiting for a free slot
        (snap("a", Stage.COMPRESSING, queued=True), "Queued"),  # waiting for the encoder, not at 0 %
    ],
)
def test_bar_text(item, words):
    assert bar_text(item) == words


def test_delegate_size_follows_the_font(qapp):
    view = QTableView()
    option = QStyleOptionViewItem()
    option.initFrom(view)
    small = ProgressDelegate().sizeHint(option, QModelIndex())
    font = view.font()
    font.setPointSizeF(font.pointSizeF() * 2)
    view.setFont(font)
    option.initFrom(view)
    assert ProgressDelegate().sizeHint(option, QModelIndex()).height() > small.height()


def test_a_file_compressing_shows_its_estimate_not_its_output_so_far_and_says_when_it_uploads_alongside():
    model = QueueModel()
    model.update(
        [
            snap("alone", Stage.COMPRESSING, 0.3, size_after=1_050_000, encoder="libx264"),
            snap(
                "overlap",
                Stage.COMPRESSING,
                0.6,
                size_after=9_000_000,
                encoder="libx264",
                sent_while_compressing=5_242_880,
            ),
        ]
    )
    assert text(model, 0, Column.STAGE) == "Compressing"
    assert "1.05 MB" not in text(model, 0, Column.SIZE)  # 30% of the output is not the output
    assert text(model, 1, Column.STAGE) == "Compressing + uploading"
    tip = model.data(model.index(1, Column.STAGE), Qt.ItemDataRole.ToolTipRole)
    assert tip == "Compressing with libx264; 5.24 MB already uploaded while it compresses"


def test_a_queued_file_says_queued_in_its_stage_and_shows_its_estimate():
    model = QueueModel()
    model.update([snap("next", Stage.COMPRESSING, queued=True)])
    assert text(model, 0, Column.STAGE) == "Queued"
    assert text(model, 0, Column.SPEED) == ""
    estimate = Estimate(size_bytes=2_000_000, size_bytes_max=3_000_000, seconds=95.0, method="heuristic")
    model.set_estimate("next", "720p", estimate)
    assert text(model, 0, Column.LEFT) == "~2 min to compress"


def test_start_all_is_only_for_files_not_started_yet(qtbot):
    from app.gui.queue_panel import QueuePanel

    model = QueueModel()
    panel = QueuePanel(model)
    qtbot.addWidget(panel)
    panel.show()
    model.update([snap("compressing", Stage.COMPRESSING, 0.3), snap("next", Stage.WAITING, queued=True)])
    panel._update_summary()
    assert not panel.start_all.isVisible(), "every file is started: the queued one only waits its turn"
    assert panel.summary.text().startswith("1 file waiting")  # its estimate is still shown
    model.update([snap("compressing", Stage.COMPRESSING, 0.3), snap("next", queued=True), snap("later")])
    panel._update_summary()
    assert panel.start_all.isVisible()


def _fill_right_edge(image: QImage, highlight: QColor) -> int:
    """The rightmost column the bar's fill reaches, along the bar's top quarter (above the text)."""
    y = image.height() // 4 + 1
    return max((x for x in range(image.width()) if _near(image.pixelColor(x, y), highlight, 90)), default=-1)


@pytest.fixture(params=["Fusion", "Windows"])
def style_named(request, qapp):
    """Each style the tests can load here: they draw a bar's text differently (or, on macOS, not at all)."""
    before = qapp.style().name()
    qapp.setStyle(request.param)
    yield request.param
    qapp.setStyle(before)


def _near(pixel: QColor, colour: QColor, tolerance: int) -> bool:
    return (
        abs(pixel.red() - colour.red()) + abs(pixel.green() - colour.green()) + abs(pixel.blue() - colour.blue())
        < tolerance
    )


@pytest.mark.parametrize("fraction", [0.40, 0.44, 0.48, 0.5, 0.52, 0.56])
def test_the_percent_stays_readable_where_the_fill_runs_under_it(style_named, fraction):
    # Where the fill passes under the text, the text over the fill is in the highlight's text colour, and
    # beside the fill in the text colour: no dark text on the fill (the "41%" with its 4 lost in the
    # blue), and the text is there at all beside it.
    palette = QApplication.palette()
    highlight = palette.color(QPalette.ColorRole.Highlight)
    dark = palette.color(QPalette.ColorRole.Text)
    image = _paint_bar(snap("a", Stage.UPLOADING, fraction))
    fill_right = _fill_right_edge(image, highlight)
    assert fill_right > 0
    rows = range(image.height())
    dark_on_fill = [(x, y) for y in rows for x in range(fill_right - 1) if _near(image.pixelColor(x, y), dark, 60)]
    assert dark_on_fill == [], f"{len(dark_on_fill)} dark text pixels on the fill at {fraction:.0%} ({style_named})"
    beside = range(fill_right + 2, image.width() - 4)
    dark_beside = [(x, y) for y in rows for x in beside if _near(image.pixelColor(x, y), dark, 60)]
    if fraction < 0.5:  # the text's right part is beside the fill
        assert dark_beside, f"no text beside the fill at {fraction:.0%} ({style_named})"


def test_the_stage_column_holds_its_longest_words_whole(qtbot):
    from app.gui.queue_model import every_stage_text
    from app.gui.queue_panel import QueuePanel

    model = QueueModel()
    panel = QueuePanel(model)
    qtbot.addWidget(panel)
    panel.resize(900, 500)  # narrower than the screenshots: the File column gives way, not the Stage column
    panel.show()
    failed = dataclasses.replace(snap("lost", Stage.FAILED), error="x", error_type="results_lost")
    overlap = snap("both", Stage.COMPRESSING, 0.5, sent_while_compressing=1_000_000)
    model.update([failed, overlap, snap("held", Stage.PAUSED, 0.3, paused_stage=Stage.DOWNLOADING)])
    metrics = panel.table.fontMetrics()
    width = panel.table.columnWidth(Column.STAGE)
    for row in range(model.rowCount()):
        words = text(model, row, Column.STAGE)
        assert words in every_stage_text()
        assert metrics.horizontalAdvance(words) < width - 8, f"{words!r} does not fit in {width} px"
    assert "Compressing + uploading" in every_stage_text() and "Failed: server lost the results" in every_stage_text()


def test_the_model_hands_out_the_compress_estimates_it_holds_and_says_when_one_arrives(qtbot):
    model = QueueModel()
    model.update([snap("next", Stage.WAITING, queued=True), snap("other", Stage.WAITING, queued=True)])
    estimate = Estimate(size_bytes=2_000_000, size_bytes_max=3_000_000, seconds=95.0, method="heuristic")
    with qtbot.waitSignal(model.estimates_changed, timeout=1000):
        model.set_estimate("next", "720p", estimate)
    model.set_estimate("other", "1080p", estimate)  # made for another preset than the file's: not its estimate
    assert model.compress_seconds() == {"next": 95.0}
    model.set_estimate("other", "720p", "This file is not a video.")  # it will fail at once: no time
    assert model.compress_seconds() == {"next": 95.0, "other": 0.0}
