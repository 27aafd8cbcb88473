"""Build the ffmpeg arguments for one preset's output with ffmpeg-python.

The same builder serves compression, the estimate's calibration sample and the server's renditions, so
"the command we estimated" and "the command we ran" cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg as ffmpeg_python  # type: ignore[import-untyped]

from app.core.media.demuxers import input_options as pinned_input
from app.core.media.encoders import EncoderChoice, EncoderSpec, software_encoder
from app.core.media.plan import OutputPlan

# Lets a reader (an uploader) consume the MP4 while it is still being written: no index at the end.
FRAGMENTED_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
# ...and a fragment at least every second: with keyframes alone (x264 puts one every 250 frames) ffmpeg
# holds 8 s of video in memory and writes it in one go, so the last 5-7 MB of an encode would appear in
# its final second and all wait for the upload then. A fragment may start on any frame; readers cope.
FRAGMENT_MICROSECONDS = 1_000_000
# Index at the front: the finished file plays while it downloads.
FASTSTART_MOVFLAGS = "+faststart"
_ISO_MUXERS = {"mp4", "ipod", "mov"}


def build_compress_args(
    source: Path | str,
    output: Path | str,
    plan: OutputPlan,
    encoder: EncoderChoice | EncoderSpec | None = None,
    *,
    fragmented: bool = False,
    start_s: float | None = None,
    duration_s: float | None = None,
    demuxer: str | None = None,
    threads: int | None = None,
) -> list[str]:
    """Arguments after the ffmpeg binary and ``runner.FFMPEG_PREFIX``.

    ``start_s``/``duration_s`` cut a window from the source (input seeking: fast, keyframe-accurate
    enough for samples and clips). The source is opened as the one local file it is (demuxers.py), as
    ``demuxer`` (the probe's ``MediaInfo.demuxer``) when given. ``threads``: ffmpeg's -threads for the
    decoder and the encoder (a server's bound; None lets ffmpeg choose).
    """
    spec = encoder.spec if isinstance(encoder, EncoderChoice) else (encoder or software_encoder().spec)
    input_options: dict[str, Any] = pinned_input(demuxer)
    if threads:
        input_options["threads"] = threads
    if start_s:
        input_options["ss"] = f"{start_s:.3f}"
    if duration_s:
        input_options["t"] = f"{duration_s:.3f}"
    if plan.kind == "video" and spec.pre_input:
        input_options.update(spec.pre_input)
    source_node = ffmpeg_python.input(str(source), **input_options)

    streams: list[Any] = []
    options: dict[str, Any] = {"f": plan.muxer, "max_muxing_queue_size": 1024}
    if threads:
        options["threads"] = threads
    if plan.kind == "copy":
        if plan.video_codec:
            streams.append(source_node["v:0"])
            if plan.video_codec == "hevc" and plan.muxer == "mp4":
                options["tag:v"] = "hvc1"  # Apple players only accept HEVC in MP4 with this tag
        if plan.audio_codec:
            streams.append(source_node["a:0"])
        options["c"] = "copy"
    else:
        if plan.kind == "video":
            video = source_node["v:0"]
            for name, args in (*plan.video_filters, *spec.upload_filters):
                video = video.filter(name, *args)
            streams.append(video)
            options["c:v"] = spec.name
            if spec.pix_fmt:
                options["pix_fmt"] = spec.pix_fmt
            options.update(spec.quality_options(plan.crf, plan.x264_preset, plan.video_kbps, plan.video_max_kbps))
        if plan.audio_codec:
            streams.append(source_node["a:0"])
            options["c:a"] = plan.audio_codec
            options["b:a"] = f"{plan.audio_kbps}k"
            if plan.audio_channels:
                options["ac"] = plan.audio_channels

    # Matroska needs no flag for ``fragmented``: it is written front to back anyway.
    if plan.muxer in _ISO_MUXERS:
        options["movflags"] = FRAGMENTED_MOVFLAGS if fragmented else FASTSTART_MOVFLAGS
        if fragmented:
            options["frag_duration"] = FRAGMENT_MICROSECONDS
    return list(ffmpeg_python.output(*streams, str(output), **options).get_args())
