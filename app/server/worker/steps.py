"""The ffmpeg steps of a job: renditions, audio, clips, thumbnails. One output file each.

All run through ``run_ffmpeg`` (progress from ffmpeg's own ``-progress`` output, cancel kills ffmpeg)
and write through ``atomic_output``; each output is probed afterwards, so a step that "succeeded" with
an unplayable or empty file is reported as failed, not shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.core.media.atomic import atomic_output
from app.core.media.command import build_compress_args
from app.core.media.demuxers import input_args
from app.core.media.errors import MediaCancelled, MediaError
from app.core.media.info import MediaInfo
from app.core.media.limits import ResourceLimits
from app.core.media.plan import OutputPlan, plan_output
from app.core.media.presets import Preset, get_preset
from app.core.media.progress import CancelToken, EncodeSnapshot
from app.core.media.runner import run_ffmpeg

from .errors import JobCancelled, StepFailed
from .renditions import rendition_preset, thumbnail_preset
from .validate import probe_media, public_message

Progress = Callable[[float | None], None]


@dataclass(frozen=True)
class StepContext:
    source: Path
    info: MediaInfo
    work: Path
    cancel: CancelToken
    x264_preset: str | None
    timeout_s: float
    shown_as: str = ""
    """The upload's own name, for messages (the local copy is "source.<ending>")."""
    limits: ResourceLimits | None = None
    """Each ffmpeg's address space, CPU time and threads (the file is a stranger's)."""

    @property
    def name(self) -> str:
        return self.shown_as or self.source.name


def run_step(ctx: StepContext, args: list[str], duration: float | None, progress: Progress) -> None:
    """ffmpeg for one step: its progress reported, a cancel ends the job, a failure the step."""

    def report(snapshot: EncodeSnapshot) -> None:
        progress(snapshot.percent)

    try:
        run_ffmpeg(args, duration, report, ctx.cancel, timeout=ctx.timeout_s, subject=ctx.name, limits=ctx.limits)
    except MediaCancelled as exc:
        raise JobCancelled() from exc
    except MediaError as exc:
        raise StepFailed(exc.error_type, public_message(exc, ctx.work)) from exc


def _encode(
    ctx: StepContext,
    plan: OutputPlan,
    out: Path,
    progress: Progress,
    *,
    start_s: float | None = None,
    duration_s: float | None = None,
) -> None:
    with atomic_output(out) as temp:
        args = build_compress_args(
            ctx.source,
            temp,
            plan,
            start_s=start_s,
            duration_s=duration_s,
            demuxer=ctx.info.demuxer,
            threads=ctx.limits.threads if ctx.limits else None,
        )
        run_step(ctx, args, duration_s or plan.duration_s, progress)
        if not temp.exists() or temp.stat().st_size == 0:
            raise StepFailed("empty_output", f"{ctx.name}: ffmpeg wrote nothing for {out.name}.")


def _facts(out: Path, plan: OutputPlan | None = None) -> dict[str, Any]:
    info = probe_media(out)
    facts: dict[str, Any] = {"duration_s": info.duration_s, "format": info.format_name, "bit_rate": info.bit_rate}
    if info.video is not None:
        facts.update(width=info.video.width, height=info.video.height, video_codec=info.video.codec)
        facts["fps"] = info.video.fps
    if info.audio is not None:
        facts.update(audio_codec=info.audio.codec, audio_channels=info.audio.channels)
    if plan is not None:
        facts["layout"] = plan.layout
    return facts


def _clip_preset(ctx: StepContext, quality: str | None) -> Preset:
    if ctx.info.video is None:
        # Audio-only source (the form-upload API takes audio files): AAC clips in MP4.
        return replace(get_preset("audio"), container="mp4")
    return rendition_preset(quality or "720p", ctx.x264_preset)


# ffprobe's average bitrate of a VBV-capped encode runs a little above the cap (container overhead, a short
# file's last GOP): within this much of the cap the file is what the rendition would make.
BITRATE_SLACK = 1.10


def already_the_rendition(info: MediaInfo, plan: OutputPlan) -> bool:
    """The uploaded file already is this rendition: the client compressed it with the preset whose outputs
    include it, so its video is the plan's codec at the plan's size and frame rate, square pixels upright,
    4:2:0, within the bitrate cap, and its audio the plan's codec within its channels and bitrate. Encoding it
    again would only cost time and quality; it is remuxed instead."""
    video, audio = info.video, info.audio
    if video is None or plan.kind != "video" or video.codec != plan.video_codec:
        return False
    if (video.width, video.height) != (plan.width, plan.height) or video.rotation or video.sample_aspect != 1.0:
        return False
    if video.pix_fmt not in (None, "yuv420p") or (video.fps and plan.fps and video.fps > plan.fps + 0.01):
        return False
    video_bps = video.bit_rate or info.bit_rate  # the whole file's rate, when the stream's is unknown
    if not video_bps or (plan.video_max_kbps and video_bps > plan.video_max_kbps * 1000 * BITRATE_SLACK):
        return False
    if audio is None:
        return True
    if audio.codec != plan.audio_codec or plan.audio_channels is not None:  # not AAC, or more channels than allowed
        return False
    return not (plan.audio_kbps and audio.bit_rate and audio.bit_rate > plan.audio_kbps * 1000 * BITRATE_SLACK)


def make_rendition(ctx: StepContext, quality: str, out: Path, progress: Progress) -> dict[str, Any]:
    plan = plan_output(rendition_preset(quality, ctx.x264_preset), ctx.info)
    if already_the_rendition(ctx.info, plan):
        # The same streams into a plain MP4, index at the front (the upload may be a fragmented MP4).
        remux = replace(plan, kind="copy", muxer="mp4", extension=".mp4", video_filters=(), layout="remuxed")
        _encode(ctx, remux, out, progress)
        return {"quality": quality, "remuxed": True, **_facts(out, remux)}
    _encode(ctx, plan, out, progress)
    return {"quality": quality, "remuxed": False, **_facts(out, plan)}


def make_audio(ctx: StepContext, out: Path, progress: Progress) -> dict[str, Any]:
    plan = plan_output(get_preset("audio"), ctx.info)
    _encode(ctx, plan, out, progress)
    return _facts(out)


def clip_windows(duration_s: float, count: int) -> list[tuple[float, float]]:
    """The form-upload API's num_segments: the source cut into ``count`` equal, consecutive segments."""
    length = duration_s / count
    return [(round(i * length, 3), round(length, 3)) for i in range(count)]


def make_clip(
    ctx: StepContext,
    start_s: float,
    length_s: float,
    quality: str | None,
    out: Path,
    progress: Progress,
    captions: Path | None = None,
) -> dict[str, Any]:
    """One segment; with `captions` (an srt in the clip's own time, made by us) burned into its picture."""
    plan = plan_output(_clip_preset(ctx, quality), ctx.info)
    if captions is not None and plan.kind == "video":
        plan = replace(plan, video_filters=(*plan.video_filters, ("subtitles", (str(captions),))))
    _encode(ctx, plan, out, progress, start_s=start_s, duration_s=length_s)
    facts = _facts(out, plan)
    if ctx.info.video is not None and "video_codec" not in facts:
        raise StepFailed(
            "no_video_frames",
            f"{ctx.name}: the segment {start_s:.2f}-{start_s + length_s:.2f} s has no picture "
            "(the video track ends before the file does).",
        )
    burned = {"captions": "burned in"} if captions is not None and plan.kind == "video" else {}
    return {"start_s": start_s, "length_s": length_s, **facts, **burned}


def thumbnail_times(duration_s: float, count: int) -> list[float]:
    return [round(duration_s * (i + 0.5) / count, 3) for i in range(count)]


def make_thumbnail(ctx: StepContext, at_s: float, out: Path, progress: Progress) -> dict[str, Any]:
    plan = plan_output(thumbnail_preset(), ctx.info)
    with atomic_output(out) as temp:
        threads = ctx.limits.thread_args() if ctx.limits else []
        args = ["-ss", f"{at_s:.3f}", *threads, *input_args(ctx.info.demuxer), "-i", str(ctx.source)]
        args += ["-map", "0:v:0", "-frames:v", "1", *threads]
        args += ["-vf", f"scale={plan.width}:{plan.height}", "-q:v", "3", "-f", "image2", "-update", "1", str(temp)]
        run_step(ctx, args, None, progress)
        if not temp.exists() or temp.stat().st_size == 0:
            raise StepFailed(
                "no_frame",
                f"{ctx.name}: no picture at {at_s:.2f} s (the video track ends before the file does).",
            )
    return {"at_s": at_s, "width": plan.width, "height": plan.height}
