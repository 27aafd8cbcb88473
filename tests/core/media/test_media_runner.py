"""run_ffmpeg / atomic_output as the server worker uses them (thumbnail, clip), and progress parsing."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from app.core.media import (
    EncodeSnapshot,
    FfmpegFailed,
    FfmpegTimeout,
    FfmpegTools,
    MediaCancelled,
    atomic_output,
    probe,
    run_ffmpeg,
)
from app.core.media.progress import FfmpegProgressParser


def test_thumbnail_and_clip_with_progress(clips, tools: FfmpegTools, tmp_path: Path) -> None:
    thumbnail = tmp_path / "out" / "thumb.jpg"
    with atomic_output(thumbnail, tmp_path / "tmp") as temp:
        run_ffmpeg(["-ss", "1", "-i", str(clips.small), "-frames:v", "1", str(temp)], None, tools=tools)
    assert thumbnail.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    assert list((tmp_path / "tmp").iterdir()) == []

    seen: list[EncodeSnapshot] = []
    clip = tmp_path / "out" / "clip.mp4"
    with atomic_output(clip) as temp:
        args = ["-ss", "0.5", "-t", "1", "-i", str(clips.medium), "-c:v", "libx264", "-preset", "ultrafast"]
        result = run_ffmpeg([*args, "-c:a", "aac", str(temp)], 1.0, seen.append, tools=tools)
    assert probe(clip, tools=tools).duration_s == pytest.approx(1.0, abs=0.1)
    assert seen[-1].done and seen[-1].percent == 100.0 and result.last_progress == seen[-1]
    assert result.argv[0] == tools.ffmpeg and "-progress" in result.argv


def test_failure_raises_with_ffmpeg_stderr_and_leaves_nothing(clips, tools: FfmpegTools, tmp_path: Path) -> None:
    target = tmp_path / "bad.mp4"
    with pytest.raises(FfmpegFailed) as caught, atomic_output(target) as temp:
        args = ["-i", str(clips.small), "-vf", "no_such_filter_xyz", str(temp)]
        run_ffmpeg(args, 2.0, tools=tools, subject=clips.small)
    assert caught.value.error_type == "ffmpeg_failed"
    assert "no_such_filter_xyz" in caught.value.detail
    assert str(clips.small) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_time_limit_stops_an_endless_encode(tools: FfmpegTools) -> None:
    endless = ["-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25", "-f", "null", "-"]
    with pytest.raises(FfmpegTimeout) as caught:
        run_ffmpeg(endless, None, tools=tools, timeout=0.5)
    assert caught.value.error_type == "ffmpeg_timeout"


def test_cancel_stops_an_endless_encode(tools: FfmpegTools) -> None:
    cancel = threading.Event()
    endless = ["-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25", "-f", "null", "-"]

    def cancel_on_first_progress(snapshot: EncodeSnapshot) -> None:
        cancel.set()

    with pytest.raises(MediaCancelled) as caught:
        run_ffmpeg(endless, None, cancel_on_first_progress, cancel, tools=tools, timeout=60)
    assert caught.value.error_type == "cancelled"


def _block(out_time_us: str, speed: str = "2.0x", progress: str = "continue") -> list[str]:
    return ["frame=10\n", f"out_time_us={out_time_us}\n", f"speed={speed}\n", f"progress={progress}\n"]


def test_progress_parser_is_monotonic_and_only_success_reaches_100() -> None:
    clock = map(float, itertools.count()).__next__
    parser = FfmpegProgressParser(10.0, clock=clock)
    lines = [*_block("N/A", "N/A"), *_block("4000000"), *_block("3000000"), *_block("10000000", progress="end")]
    snapshots = [s for line in lines if (s := parser.feed(line)) is not None]
    percents = [s.percent for s in snapshots]
    assert percents == [0.0, 40.0, 40.0, 99.9]  # never backwards; 100 is kept for a clean exit
    assert snapshots[1].speed == 2.0 and snapshots[1].eta_s == pytest.approx(3.0)
    final = parser.finished()
    assert (final.percent, final.done, final.eta_s) == (100.0, True, 0.0)


def test_progress_without_a_known_duration() -> None:
    parser = FfmpegProgressParser(None)
    snapshot = next(s for line in _block("1500000") if (s := parser.feed(line)))
    assert snapshot.percent is None and snapshot.eta_s is None and snapshot.out_time_s == 1.5
    assert parser.finished().percent == 100.0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the child's nice value from /proc")
def test_ffmpeg_runs_below_normal_priority(tools: FfmpegTools, tmp_path: Path) -> None:
    """Encodes must not starve the window: the child runs niced."""
    import os

    seen: list[int] = []

    def child_nice(_snapshot: object) -> None:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid():  # fields[1] is the parent pid, fields[16] the nice value
                seen.append(int(fields[16]))

    args = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-c:v", "libx264",
            "-preset", "ultrafast", "-f", "mp4", str(tmp_path / "out.mp4")]  # fmt: skip
    run_ffmpeg(args, 2.0, on_progress=child_nice, tools=tools)
    assert seen and all(nice >= 5 for nice in seen)


def test_in_place_output_starts_from_nothing_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    from app.core.media.atomic import in_place_output

    target = tmp_path / "item" / "out.mp4"
    target.parent.mkdir()
    target.write_bytes(b"bytes a crashed run left behind")
    with in_place_output(target) as path:
        assert path == target and not target.exists()  # a reader following it sees only the new bytes
        target.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError), in_place_output(target):
        target.write_bytes(b"half")
        raise RuntimeError("ffmpeg died")
    assert not target.exists()


def test_resource_limits_bound_the_ffmpeg_a_server_runs(tools: FfmpegTools, tmp_path: Path) -> None:
    """Issue 14 item 3: the worker's ffmpeg runs in a bounded address space with bounded threads: a 4K
    decode that fits in 2 GiB fails, named, in 160 MiB; the probe takes the same limits."""
    from app.core.child_lifetime import popen_ending_with_this_process
    from app.core.media.limits import MIB, ResourceLimits

    big = tmp_path / "big.mp4"
    source = ["-f", "lavfi", "-i", "testsrc2=size=3840x2160:rate=25", "-t", "0.4", "-c:v", "libx264"]
    run_ffmpeg([*source, "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(big)], None, tools=tools)
    decode = ["-i", str(big), "-vf", "scale=640:360", "-f", "null", "-"]
    roomy = ResourceLimits(address_space_bytes=2048 * MIB, cpu_seconds=120, threads=2)
    run_ffmpeg(decode, None, tools=tools, limits=roomy, subject=big)
    assert probe(big, tools=tools, limits=roomy).video is not None
    with pytest.raises(FfmpegFailed) as caught:
        run_ffmpeg(decode, None, tools=tools, limits=ResourceLimits(address_space_bytes=160 * MIB), subject=big)
    assert "big.mp4" in str(caught.value)
    # The limits are the child's own, set before it runs (here read back from the kernel).
    with popen_ending_with_this_process(["sleep", "5"], rlimits=roomy.rlimits()) as child:
        try:
            limits = Path(f"/proc/{child.pid}/limits").read_text()
        finally:
            child.kill()
    assert f"Max address space         {2048 * MIB}" in limits and "Max cpu time              120" in limits
