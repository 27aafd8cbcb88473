"""Preset data and ``plan_output`` arithmetic (no ffmpeg needed: plans are pure functions of MediaInfo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.media import (
    AudioStream,
    MediaInfo,
    NoAudioStream,
    NoVideoStream,
    PresetError,
    VideoStream,
    default_catalog,
    get_preset,
    load_presets,
    plan_output,
)
from app.core.media.presets import parse_presets

PRESETS_JSON = Path(__file__).resolve().parents[3] / "resources" / "presets.json"


def media(
    width: int | None = 1920,
    height: int | None = 1080,
    *,
    fps: float = 30.0,
    rotation: int = 0,
    sar: float = 1.0,
    video_codec: str = "h264",
    audio_codec: str | None = "aac",
    channels: int = 2,
) -> MediaInfo:
    video = (
        VideoStream(video_codec, width, height, fps=fps, rotation=rotation, sample_aspect=sar)
        if width and height
        else None
    )
    audio = AudioStream(audio_codec, channels=channels, sample_rate=48000) if audio_codec else None
    return MediaInfo(Path("/clips/x.mp4"), 10_000_000, "mov,mp4", 60.0, 1_333_333, video, audio, "ffprobe")


def test_catalog_has_the_promised_presets() -> None:
    catalog = default_catalog()
    assert {"original", "1080p", "720p", "480p", "shorts", "audio"} <= set(catalog.names())
    assert catalog.default == "1080p"
    for name in ("1080p", "720p", "480p", "shorts"):
        preset = catalog.get(name)
        assert preset.kind == "video" and preset.container == "mp4"
        assert preset.video is not None and preset.video.codec == "h264" and preset.video.crf > 0
        assert preset.audio is not None and preset.audio.codec == "aac" and preset.audio.kbps > 0
    assert catalog.get("original").kind == "copy"
    assert catalog.get("audio").kind == "audio" and catalog.get("audio").container == "m4a"


def test_packaged_file_and_explicit_path_agree() -> None:
    assert load_presets(PRESETS_JSON) == default_catalog()


def test_unknown_preset_name_lists_the_known_ones() -> None:
    with pytest.raises(PresetError, match="known presets: original"):
        get_preset("4k-hdr")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["presets"][1].update(kind="gif"), "kind must be one of"),
        (lambda d: d["presets"][4]["fit"].update(width=1081), "even"),
        (lambda d: d["presets"].append(dict(d["presets"][0])), "defined twice"),
        (lambda d: d["presets"][1]["video"].update(codec="vp9"), "only h264"),
        (lambda d: d["presets"][1].pop("fit"), "needs 'video' and 'fit'"),
        (lambda d: d.update(default="8k"), "default preset"),
        (lambda d: d["presets"][1]["outputs"].update(renditions=["720p", "480p"]), r"own resolution \(1080p\)"),
        (lambda d: d["presets"][4]["outputs"].update(renditions=["720p"]), r"own resolution \(1080p\)"),
        (lambda d: d["presets"][2]["outputs"].update(renditions=["720p", "4k"]), "outputs.renditions must be"),
        (lambda d: d["presets"][2]["outputs"].update(renditions="720p"), "outputs.renditions must be"),
        (lambda d: d["presets"][2]["outputs"].update(clips=21), "outputs.clips must be a number from 0 to 20"),
        (lambda d: d["presets"][2]["outputs"].update(thumbnails=True), "outputs.thumbnails must be"),
        (lambda d: d["presets"][2]["outputs"].update(audio="yes"), "outputs.audio must be true or false"),
        (lambda d: d["presets"][2]["outputs"].update(subtitles=True), r"unknown field\(s\) \['subtitles'\]"),
        (lambda d: d["presets"][2].update(outputs=["720p"]), "outputs must be an object"),
    ],
)
def test_malformed_presets_are_rejected(mutate, message: str) -> None:
    data = json.loads(PRESETS_JSON.read_text())
    mutate(data)
    with pytest.raises(PresetError, match=message):
        parse_presets(data)


@pytest.mark.parametrize(
    ("preset", "source", "expected"),
    [
        ("1080p", (3840, 2160), (1920, 1080)),
        ("1080p", (1920, 1080), (1920, 1080)),
        ("720p", (1920, 1080), (1280, 720)),
        ("480p", (1920, 1080), (854, 480)),
        ("720p", (1080, 1920), (720, 1280)),  # portrait fits the box turned upright
        ("720p", (1440, 1080), (960, 720)),  # 4:3 keeps 4:3
        ("1080p", (320, 240), (320, 240)),  # never upscale
        ("480p", (321, 241), (320, 240)),  # odd sizes become even, never larger
    ],
)
def test_box_presets_scale_down_only_and_keep_aspect(preset, source, expected) -> None:
    plan = plan_output(get_preset(preset), media(*source))
    assert (plan.width, plan.height) == expected
    assert plan.width % 2 == 0 and plan.height % 2 == 0
    assert (plan.video_codec, plan.audio_codec, plan.muxer, plan.extension) == ("h264", "aac", "mp4", ".mp4")
    assert plan.filter_string().startswith(f"scale={expected[0]}:{expected[1]}")
    assert plan.layout == ("kept source size" if expected == (source[0] // 2 * 2, source[1] // 2 * 2) else "scaled")


def test_rotation_and_anamorphic_pixels_use_the_display_size() -> None:
    rotated = plan_output(get_preset("720p"), media(1920, 1080, rotation=90))
    assert (rotated.width, rotated.height) == (720, 1280)
    anamorphic = plan_output(get_preset("480p"), media(720, 576, sar=16 / 15))  # PAL 4:3 -> 768x576
    assert (anamorphic.width, anamorphic.height) == (640, 480)
    assert anamorphic.video_filters[0] == ("scale", (768, 576))  # square the pixels first


@pytest.mark.parametrize(
    ("source", "expected", "layout"),
    [
        ((1920, 1080), (1080, 1920), "letterboxed"),
        ((1080, 1920), (1080, 1920), "scaled"),
        ((1440, 1920), (1080, 1920), "cropped"),  # 3:4 -> cutting 25 % is acceptable
        ((2160, 3840), (1080, 1920), "scaled"),
        ((320, 240), (306, 544), "letterboxed"),  # small source: smaller 9:16 frame, no upscaling
        ((1080, 2520), (1080, 1920), "cropped"),  # a bit taller than 9:16: cut top and bottom
        ((1080, 3000), (1080, 1920), "pillarboxed"),  # far taller: bars left and right
    ],
)
def test_shorts_is_exactly_9_by_16(source, expected, layout) -> None:
    plan = plan_output(get_preset("shorts"), media(*source))
    assert (plan.width, plan.height) == expected
    assert plan.width * 16 == plan.height * 9
    assert plan.layout == layout
    scale = next(args for name, args in plan.video_filters if name == "scale")
    assert (scale[0] <= source[0] and scale[1] <= source[1]) or layout == "cropped"


def test_shorts_letterbox_pads_centred() -> None:
    plan = plan_output(get_preset("shorts"), media(1920, 1080))
    assert plan.filter_string() == "scale=1080:606,pad=1080:1920:0:656:black,setsar=1"


def test_frame_rate_is_capped() -> None:
    assert plan_output(get_preset("1080p"), media(fps=120)).fps == 60
    plan = plan_output(get_preset("480p"), media(fps=60))
    assert plan.fps == 30 and ("fps", (30,)) in plan.video_filters
    assert plan_output(get_preset("720p"), media(fps=25)).fps == 25


def test_surround_audio_is_downmixed_and_bitrates_come_from_the_preset() -> None:
    plan = plan_output(get_preset("720p"), media(channels=6))
    assert plan.audio_channels == 2 and plan.audio_kbps == 128
    assert plan.video_kbps is not None and 0 < plan.video_kbps <= 5000
    assert plan.expected_bitrate_bps == (plan.video_kbps + 128) * 1000
    assert plan_output(get_preset("720p"), media(channels=2)).audio_channels is None


def test_original_copies_into_mp4_or_matroska() -> None:
    mp4 = plan_output(get_preset("original"), media())
    assert (mp4.kind, mp4.muxer, mp4.video_codec, mp4.audio_codec) == ("copy", "mp4", "h264", "aac")
    mkv = plan_output(get_preset("original"), media(video_codec="prores", audio_codec="pcm_s24le"))
    assert (mkv.muxer, mkv.extension) == ("matroska", ".mkv")
    m4a = plan_output(get_preset("original"), media(None, None))
    assert (m4a.muxer, m4a.extension, m4a.video_codec) == ("ipod", ".m4a", None)


def test_audio_preset_and_missing_streams() -> None:
    plan = plan_output(get_preset("audio"), media())
    assert (plan.kind, plan.muxer, plan.extension, plan.audio_codec, plan.width) == (
        "audio", "ipod", ".m4a", "aac", None
    )  # fmt: skip
    with pytest.raises(NoAudioStream):
        plan_output(get_preset("audio"), media(audio_codec=None))
    with pytest.raises(NoVideoStream):
        plan_output(get_preset("720p"), media(None, None))
    silent = plan_output(get_preset("720p"), media(audio_codec=None))
    assert silent.audio_codec is None and silent.audio_kbps is None


# -- what the server makes of a preset's file ------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "renditions"),
    [
        ("1080p", ["1080p", "720p", "480p"]),
        ("720p", ["720p", "480p"]),
        ("480p", ["480p", "360p"]),
        ("shorts", ["1080p", "720p"]),  # 1080p's box turned upright: 1080x1920
        ("original", ["2160p", "1440p", "1080p", "720p", "480p"]),  # the file's own ladder, never upscaled
        ("audio", []),
    ],
)
def test_each_preset_asks_for_its_own_outputs(name: str, renditions: list[str]) -> None:
    preset = get_preset(name)
    assert preset.outputs.job_options()["renditions"] == renditions
    if preset.own_quality is not None:
        assert preset.own_quality in renditions, "a video preset's own resolution is always one of its outputs"


def test_the_own_quality_of_each_video_preset() -> None:
    assert {
        name: get_preset(name).own_quality for name in ("1080p", "720p", "480p", "shorts", "original", "audio")
    } == {
        "1080p": "1080p",
        "720p": "720p",
        "480p": "480p",
        "shorts": "1080p",
        "original": None,
        "audio": None,
    }


def test_audio_only_asks_for_no_video_outputs_and_other_fields_are_left_to_the_server() -> None:
    assert get_preset("audio").outputs.job_options() == {
        "renditions": [],
        "clips": {"count": 0},
        "thumbnails": 0,
        "audio": True,
    }
    assert set(get_preset("720p").outputs.job_options()) == {"renditions"}


def test_a_preset_without_outputs_leaves_every_choice_to_the_server() -> None:
    data = json.loads(PRESETS_JSON.read_text())
    del data["presets"][1]["outputs"]
    assert parse_presets(data).get("1080p").outputs.job_options() == {}
