from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.media import FfmpegTools, MediaError, NoVideoStream, probe
from app.core.media.probe_parse import parse_ffmpeg_banner


@pytest.fixture(params=["ffprobe", "ffmpeg-only", "bundled-ffmpeg"])
def probe_tools(request: pytest.FixtureRequest, tools: FfmpegTools, bundled_tools: FfmpegTools) -> FfmpegTools:
    """Each probe test runs with ffprobe JSON, and twice without ffprobe (system and bundled ffmpeg)."""
    if request.param == "ffprobe":
        if tools.ffprobe is None:
            pytest.skip("no ffprobe on this machine")
        return tools
    if request.param == "ffmpeg-only":
        return tools.without_ffprobe()
    return bundled_tools


def test_probe_reads_a_normal_clip(clips, probe_tools: FfmpegTools) -> None:
    info = probe(clips.small, tools=probe_tools)
    assert info.probed_with == ("ffprobe" if probe_tools.ffprobe else "ffmpeg")
    assert info.size_bytes == clips.small.stat().st_size
    assert "mp4" in info.format_name
    assert info.duration_s == pytest.approx(2.0, abs=0.1)
    assert info.bit_rate and info.bit_rate > 0
    video = info.require_video()
    assert (video.codec, video.width, video.height) == ("h264", 320, 240)
    assert video.fps == pytest.approx(25.0)
    assert video.rotation == 0 and (video.display_width, video.display_height) == (320, 240)
    assert video.pix_fmt == "yuv420p"
    assert info.audio is not None
    assert (info.audio.codec, info.audio.channels, info.audio.sample_rate) == ("aac", 1, 44100)


def test_probe_reads_stereo_48k(clips, probe_tools: FfmpegTools) -> None:
    info = probe(clips.medium, tools=probe_tools)
    assert (info.require_video().width, info.require_video().height) == (960, 540)
    assert info.audio is not None and (info.audio.channels, info.audio.sample_rate) == (2, 48000)


def test_rotation_swaps_the_display_size(clips, probe_tools: FfmpegTools) -> None:
    video = probe(clips.rotated, tools=probe_tools).require_video()
    assert (video.width, video.height) == (320, 240)
    assert video.rotation in (90, 270)
    assert (video.display_width, video.display_height) == (240, 320)


def test_audio_only_file_is_media_without_video(clips, probe_tools: FfmpegTools) -> None:
    info = probe(clips.audio_only, tools=probe_tools)
    assert info.video is None and info.audio is not None and info.audio.codec == "aac"
    assert info.duration_s == pytest.approx(2.0, abs=0.1)
    with pytest.raises(NoVideoStream) as caught:
        info.require_video()
    assert caught.value.error_type == "no_video_stream"
    assert str(clips.audio_only) in str(caught.value)


@pytest.mark.parametrize(
    ("clip", "error_type"),
    [
        ("text_as_mp4", "not_media"),
        ("empty", "empty_file"),
        ("truncated", "truncated"),
        ("truncated_faststart", "truncated"),
        ("folder", "is_directory"),
        ("still_image", "not_media"),
    ],
)
def test_bad_inputs_have_a_clear_error_type(clips, probe_tools: FfmpegTools, clip: str, error_type: str) -> None:
    path: Path = getattr(clips, clip)
    with pytest.raises(MediaError) as caught:
        probe(path, tools=probe_tools)
    assert caught.value.error_type == error_type
    assert str(path) in str(caught.value)  # the message names the file
    assert caught.value.as_dict()["error_type"] == error_type


def test_missing_file(tmp_path: Path, probe_tools: FfmpegTools) -> None:
    with pytest.raises(MediaError) as caught:
        probe(tmp_path / "gone.mp4", tools=probe_tools)
    assert caught.value.error_type == "missing"
    assert "gone.mp4" in str(caught.value)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(clips, tmp_path: Path, tools: FfmpegTools) -> None:
    locked = tmp_path / "locked.mp4"
    locked.write_bytes(clips.small.read_bytes())
    locked.chmod(0)
    with pytest.raises(MediaError) as caught:
        probe(locked, tools=tools)
    assert caught.value.error_type == "unreadable"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path, tools: FfmpegTools) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(MediaError) as caught:
        probe(fifo, tools=tools)
    assert caught.value.error_type == "not_media"
    assert "not a regular file" in str(caught.value)


# Recorded ``ffmpeg -i`` banners for cases the generated clips do not cover (cover art, an older
# ffmpeg's "rotate" tag, a 5.1 layout).
_MP3_WITH_COVER = "\n".join(
    [
        "Input #0, mp3, from 'song.mp3':",
        "  Duration: 00:03:25.04, start: 0.025057, bitrate: 320 kb/s",
        "  Stream #0:0: Audio: mp3, 44100 Hz, stereo, fltp, 320 kb/s",
        "  Stream #0:1: Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 500x500"
        " [SAR 1:1 DAR 1:1], 90k tbr, 90k tbn (attached pic)",
        "    Metadata:",
        "      comment         : Cover (front)",
        "At least one output file must be specified",
    ]
)
_OLD_PHONE_CLIP = "\n".join(
    [
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'phone.mov':",
        "  Duration: 00:00:10.52, start: 0.000000, bitrate: 17045 kb/s",
        "    Stream #0:0(und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709), 1920x1080,"
        " 16900 kb/s, 29.97 fps, 29.97 tbr, 600 tbn, 1200 tbc (default)",
        "    Metadata:",
        "      rotate          : 90",
        "      handler_name    : Core Media Data Handler",
        "    Stream #0:1(und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, 5.1(side), fltp, 128 kb/s",
    ]
)


def test_banner_parser_skips_cover_art() -> None:
    parsed = parse_ffmpeg_banner(_MP3_WITH_COVER)
    assert parsed is not None
    assert parsed.video is None
    assert parsed.audio is not None and (parsed.audio.codec, parsed.audio.channels) == ("mp3", 2)
    assert parsed.duration_s == pytest.approx(205.04)
    assert parsed.bit_rate == 320_000


def test_banner_parser_reads_rotate_tag_and_surround_layout() -> None:
    parsed = parse_ffmpeg_banner(_OLD_PHONE_CLIP)
    assert parsed is not None and parsed.video is not None and parsed.audio is not None
    assert (parsed.video.width, parsed.video.height, parsed.video.rotation) == (1920, 1080, 90)
    assert (parsed.video.display_width, parsed.video.display_height) == (1080, 1920)
    assert parsed.video.fps == pytest.approx(29.97)
    assert (parsed.audio.channels, parsed.audio.sample_rate) == (6, 48000)


def test_banner_parser_returns_none_without_an_input_block() -> None:
    assert parse_ffmpeg_banner("x.mp4: Invalid data found when processing input\n") is None


def _victim(tmp_path: Path, tools: FfmpegTools) -> Path:
    """Someone else's recording on the same host: an MPEG-TS a playlist could point at."""
    folder = tmp_path / "someone-else"
    folder.mkdir()
    victim = folder / "recording.ts"
    argv = [tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"]
    argv += ["-i", "color=c=red:s=160x120:r=25", "-t", "1", "-c:v", "mpeg2video", "-f", "mpegts", str(victim)]
    subprocess.run(argv, check=True, timeout=60)
    return victim


@pytest.mark.parametrize("reference", ["absolute", "file-url", "relative"])
def test_a_playlist_named_like_a_video_is_refused_before_it_reads_what_it_lists(
    tmp_path: Path, tools: FfmpegTools, probe_tools: FfmpegTools, reference: str
) -> None:
    """Issue 14 item 2: an HLS playlist uploaded as holiday.mp4 must not make ffmpeg read other files."""
    victim = _victim(tmp_path, tools)
    mine = tmp_path / "alice"
    mine.mkdir()
    segment = {"absolute": str(victim), "file-url": victim.as_uri(), "relative": "../someone-else/recording.ts"}
    playlist = mine / "holiday.mp4"
    playlist.write_text(
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{segment[reference]}\n#EXT-X-ENDLIST\n"
    )
    with pytest.raises(MediaError) as caught:
        probe(playlist, tools=probe_tools)
    assert caught.value.error_type == "not_media"
    assert "HLS playlist" in str(caught.value) and "holiday.mp4" in str(caught.value)


def test_a_concat_list_is_refused(tmp_path: Path, tools: FfmpegTools, probe_tools: FfmpegTools) -> None:
    victim = _victim(tmp_path, tools)
    listing = tmp_path / "talk.mov"
    listing.write_text(f"ffconcat version 1.0\nfile '{victim}'\n")
    with pytest.raises(MediaError, match="concat list"):
        probe(listing, tools=probe_tools)


def test_every_allowed_container_probes_and_names_the_demuxer_it_is_pinned_to(
    clips, tmp_path: Path, tools: FfmpegTools, probe_tools: FfmpegTools
) -> None:
    for name, expected in (("a.mkv", "matroska"), ("a.ts", "mpegts"), ("a.avi", "avi"), ("a.mov", "mov")):
        copy = tmp_path / name
        argv = [tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(clips.small)]
        subprocess.run([*argv, "-c", "copy", str(copy)], check=True, timeout=60)
        assert probe(copy, tools=probe_tools).demuxer == expected, name
