"""Real encodes of the generated clips with every preset, progress, cancel, disk space, argv."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections import namedtuple
from pathlib import Path

import pytest

from app.core.media import (
    EncodeSnapshot,
    EncodeTracker,
    FfmpegTools,
    InsufficientDiskSpace,
    MediaCancelled,
    MediaError,
    compress,
    compress_argv,
    estimate,
    get_preset,
    prepare,
    probe,
)
from app.core.media.containers import scan_boxes
from app.core.media.encoders import software_encoder


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    temp, out = tmp_path / "cache", tmp_path / "out"
    temp.mkdir()
    return temp, out


# (preset, clip, expected display size or None for audio, expected video codec, audio codec, container)
PROMISES = [
    ("original", "medium", (960, 540), "h264", "aac", "mp4"),
    ("1080p", "medium", (960, 540), "h264", "aac", "mp4"),  # no upscaling
    ("720p", "medium", (960, 540), "h264", "aac", "mp4"),
    ("480p", "medium", (854, 480), "h264", "aac", "mp4"),
    ("shorts", "medium", (954, 1696), "h264", "aac", "mp4"),  # 9:16, letterboxed, content not enlarged
    ("shorts", "rotated", (180, 320), "h264", "aac", "mp4"),  # near-vertical: centre crop
    ("1080p", "small", (320, 240), "h264", "aac", "mp4"),  # small source stays small
    ("720p", "rotated", (240, 320), "h264", "aac", "mp4"),  # rotation applied, flag dropped
    ("720p", "video_only", (320, 240), "h264", None, "mp4"),
    ("audio", "medium", None, None, "aac", "m4a"),
]


@pytest.mark.parametrize(("preset", "clip", "size", "vcodec", "acodec", "suffix"), PROMISES)
def test_each_preset_yields_what_it_promises(
    clips, tools: FfmpegTools, folders, preset, clip, size, vcodec, acodec, suffix
) -> None:
    temp, out = folders
    source: Path = getattr(clips, clip)
    destination = out / f"{clip}.{preset}.{suffix}"
    result = compress(source, destination, preset, temp_dir=temp, tools=tools, encoder=software_encoder())

    assert result.path == destination and destination.stat().st_size == result.size_bytes > 0
    assert list(temp.iterdir()) == []  # the temp file was renamed away
    info = probe(destination, tools=tools)
    assert info.duration_s == pytest.approx(2.0, abs=0.15)
    assert (info.audio.codec if info.audio else None) == acodec
    if size is None:
        assert info.video is None
        return
    video = info.require_video()
    assert (video.display_width, video.display_height) == size
    assert video.codec == vcodec
    assert (result.plan.width, result.plan.height) == size
    if preset != "original":
        assert video.rotation == 0 and video.pix_fmt == "yuv420p"
        assert result.encoder == "libx264"
    if preset == "shorts":
        assert video.width * 16 == video.height * 9


def test_audio_only_source_with_a_video_preset_is_refused(clips, tools: FfmpegTools, folders) -> None:
    temp, out = folders
    with pytest.raises(MediaError) as caught:
        compress(clips.audio_only, out / "x.mp4", "720p", temp_dir=temp, tools=tools)
    assert caught.value.error_type == "no_video_stream"
    assert not (out / "x.mp4").exists()


def test_progress_is_monotonic_and_reaches_100(clips, tools: FfmpegTools, folders) -> None:
    temp, out = folders
    seen: list[EncodeSnapshot] = []
    tracker = EncodeTracker()

    def record(snapshot: EncodeSnapshot) -> None:
        seen.append(snapshot)
        tracker(snapshot)

    compress(clips.medium, out / "p.mp4", "480p", temp_dir=temp, tools=tools, on_progress=record)
    percents = [s.percent for s in seen]
    assert all(p is not None for p in percents)
    assert percents == sorted(percents)
    assert percents[-1] == 100.0 and percents.count(100.0) == 1
    assert seen[-1].done and not any(s.done for s in seen[:-1])
    assert seen[-1].total_s == pytest.approx(2.0, abs=0.1)
    assert tracker.latest() == seen[-1]


def test_cancel_mid_encode_kills_ffmpeg_and_leaves_no_temp_file(long_clip, tools: FfmpegTools, folders) -> None:
    temp, out = folders
    cancel = threading.Event()
    started: list[Path] = []
    seen: list[EncodeSnapshot] = []

    def cancel_once_running(snapshot: EncodeSnapshot) -> None:
        seen.append(snapshot)
        if (snapshot.percent or 0) > 0:
            cancel.set()

    with pytest.raises(MediaCancelled) as caught:
        compress(
            long_clip, out / "long.mp4", "1080p", temp_dir=temp, tools=tools, on_progress=cancel_once_running,
            cancel=cancel, on_output_started=started.append, timeout=120,
        )  # fmt: skip
    assert caught.value.error_type == "cancelled"
    assert 0 < seen[-1].percent < 100  # it really was mid-encode
    assert list(temp.iterdir()) == [] and not (out / "long.mp4").exists()
    assert started and not started[0].exists()
    if sys.platform.startswith("linux"):
        assert not _processes_mentioning(started[0].name)


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(str(cmdline))
        except OSError:
            continue
    return found


def test_disk_space_is_checked_before_encoding(clips, tools: FfmpegTools, folders, monkeypatch) -> None:
    temp, out = folders
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 4096, 4096))
    with pytest.raises(InsufficientDiskSpace) as caught:
        compress(clips.medium, out / "full.mp4", "720p", temp_dir=temp, tools=tools)
    assert caught.value.error_type == "disk_full"
    assert "not enough free space" in str(caught.value) and str(temp) in str(caught.value)
    assert list(temp.iterdir()) == [] and not (out / "full.mp4").exists()


def test_fragmented_output_can_be_read_while_it_grows(clips, tools: FfmpegTools, folders) -> None:
    temp, out = folders
    result = compress(clips.medium, out / "frag.mp4", "480p", temp_dir=temp, tools=tools, fragmented=True)
    boxes = scan_boxes(result.path)
    assert boxes.is_fragmented and boxes.box_types[:2] == ("ftyp", "moov")  # index first, then fragments
    assert "frag_keyframe+empty_moov+default_base_moof" in result.argv
    # A fragment every second, not only at keyframes (one in this 2 s clip): the file grows steadily.
    assert boxes.box_types.count("moof") >= 2
    assert probe(result.path, tools=tools).duration_s == pytest.approx(2.0, abs=0.15)
    plain = compress(clips.medium, out / "plain.mp4", "480p", temp_dir=temp, tools=tools)
    assert not scan_boxes(plain.path).is_fragmented


def test_argv_helper_is_the_command_that_ran(clips, tools: FfmpegTools, folders) -> None:
    temp, out = folders
    destination = out / "same.mp4"
    result = compress(clips.small, destination, "shorts", temp_dir=temp, tools=tools)
    argv = compress_argv(clips.small, destination, "shorts", tools=tools)
    temp_name = next(arg for arg in result.argv if ".partial" in arg)
    assert [str(destination) if arg == temp_name else arg for arg in result.argv] == argv

    by_hand = out / "by_hand.mp4"
    argv[-1] = str(by_hand)
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    ran, manual = probe(destination, tools=tools).video, probe(by_hand, tools=tools).video
    assert manual is not None and ran is not None
    assert (manual.width, manual.height, manual.codec) == (ran.width, ran.height, ran.codec) == (306, 544, "h264")


def test_estimates_are_honest(clips, tools: FfmpegTools, folders) -> None:
    temp, out = folders
    preset = get_preset("720p")
    prepared = prepare(clips.medium, preset, tools=tools)
    quick = estimate(preset, prepared.info, prepared.encoder, tools=tools)
    sampled = estimate(preset, prepared.info, prepared.encoder, tools=tools, calibrate=True)
    result = compress(clips.medium, out / "e.mp4", preset, temp_dir=temp, tools=tools, info=prepared.info)

    assert quick.method == "heuristic" and sampled.method == "sample"
    assert quick.size_bytes > 0 and quick.seconds > 0 and sampled.seconds > 0
    assert quick.size_bytes_max >= result.size_bytes and sampled.size_bytes_max >= result.size_bytes
    # The sample covers this whole 2 s clip with the same command, so it must be close.
    assert sampled.size_bytes == pytest.approx(result.size_bytes, rel=0.2)
    copy = estimate(get_preset("original"), prepared.info, None, tools=tools)
    assert copy.method == "copy" and copy.size_bytes == prepared.info.size_bytes
