"""Compression presets, loaded from ``resources/presets.json`` (package ``app.resources``).

Presets are data so that a profile, the server's rendition list and the GUI's combo box all read the same
definitions; the meaning of each field is documented in the JSON file's ``notes``.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PRESETS_RESOURCE = "presets.json"
KINDS = ("copy", "video", "audio")
# The renditions a job can ask for: each fits the box of its name (long x short side), oriented like the file.
# The server's worker encodes them (app/server/worker/renditions.py); a preset lists those it makes.
RENDITION_BOXES: dict[str, tuple[int, int]] = {
    "2160p": (3840, 2160),
    "1440p": (2560, 1440),
    "1080p": (1920, 1080),
    "720p": (1280, 720),
    "480p": (854, 480),
    "360p": (640, 360),
    "240p": (426, 240),
}
MAX_CLIPS, MAX_THUMBNAILS = 20, 50  # what a job accepts (app/server/jobs_service.py)


class PresetError(ValueError):
    """The presets file is malformed, or a preset name is unknown."""


@dataclass(frozen=True)
class BoxFit:
    """Fit inside ``long`` x ``short``, oriented like the source."""

    long: int
    short: int


@dataclass(frozen=True)
class CanvasFit:
    """A fixed-aspect frame (e.g. 1080x1920); crop when cheap, else pad."""

    width: int
    height: int
    max_crop_fraction: float = 0.25
    pad_color: str = "black"


@dataclass(frozen=True)
class VideoSettings:
    codec: str
    crf: int
    x264_preset: str
    max_kbps: int
    max_fps: float | None = None


@dataclass(frozen=True)
class AudioSettings:
    codec: str
    kbps: int
    max_channels: int = 2


@dataclass(frozen=True)
class PresetOutputs:
    """What the server makes of a file compressed with the preset; None leaves the server's default."""

    renditions: tuple[str, ...] | None = None
    clips: int | None = None
    thumbnails: int | None = None
    audio: bool | None = None

    def job_options(self) -> dict[str, Any]:
        """The job's options (``POST /api/upload/create-job``) for these outputs."""
        options: dict[str, Any] = {}
        if self.renditions is not None:
            options["renditions"] = list(self.renditions)
        if self.clips is not None:
            options["clips"] = {"count": self.clips}
        if self.thumbnails is not None:
            options["thumbnails"] = self.thumbnails
        if self.audio is not None:
            options["audio"] = self.audio
        return options


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    kind: str
    """"copy" (stream copy), "video" (H.264 + AAC) or "audio" (AAC only)."""
    container: str | None = None
    description: str = ""
    fit: BoxFit | CanvasFit | None = None
    video: VideoSettings | None = None
    audio: AudioSettings | None = None
    outputs: PresetOutputs = PresetOutputs()

    @property
    def own_quality(self) -> str | None:
        """The rendition whose box is this preset's own frame (1080p for 1920x1080 and for 1080x1920)."""
        if isinstance(self.fit, BoxFit):
            frame = (self.fit.long, self.fit.short)
        elif isinstance(self.fit, CanvasFit):
            frame = (max(self.fit.width, self.fit.height), min(self.fit.width, self.fit.height))
        else:
            return None
        return next((quality for quality, box in RENDITION_BOXES.items() if box == frame), None)


@dataclass(frozen=True)
class PresetCatalog:
    presets: Mapping[str, Preset]
    default: str

    def get(self, name: str) -> Preset:
        try:
            return self.presets[name]
        except KeyError:
            known = ", ".join(self.presets)
            raise PresetError(f"unknown preset {name!r}; known presets: {known}") from None

    def names(self) -> list[str]:
        return list(self.presets)


def load_presets(source: Path | Traversable | None = None) -> PresetCatalog:
    """Read and validate a presets file (the packaged one when ``source`` is None)."""
    resource = source if source is not None else _packaged_presets()
    try:
        data = json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PresetError(f"cannot read presets from {resource}: {exc}") from exc
    return parse_presets(data)


@functools.cache
def default_catalog() -> PresetCatalog:
    """The packaged presets, read once per process."""
    return load_presets()


def get_preset(name: str) -> Preset:
    return default_catalog().get(name)


def parse_presets(data: dict[str, Any]) -> PresetCatalog:
    presets: dict[str, Preset] = {}
    for entry in data.get("presets") or []:
        preset = _parse_preset(entry)
        if preset.name in presets:
            raise PresetError(f"preset {preset.name!r} is defined twice")
        presets[preset.name] = preset
    if not presets:
        raise PresetError("the presets file defines no presets")
    default = str(data.get("default") or next(iter(presets)))
    if default not in presets:
        raise PresetError(f"default preset {default!r} is not defined")
    return PresetCatalog(presets=presets, default=default)


def _parse_preset(entry: dict[str, Any]) -> Preset:
    name = entry.get("name")
    try:
        kind = entry["kind"]
        if kind not in KINDS:
            raise PresetError(f"kind must be one of {KINDS}, not {kind!r}")
        video = VideoSettings(**entry["video"]) if "video" in entry else None
        audio = AudioSettings(**entry["audio"]) if "audio" in entry else None
        fit = _parse_fit(entry.get("fit"))
        if kind == "video" and (video is None or fit is None):
            raise PresetError("a video preset needs 'video' and 'fit'")
        if kind == "audio" and audio is None:
            raise PresetError("an audio preset needs 'audio'")
        if video is not None and video.codec != "h264":
            raise PresetError(f"only h264 video is supported, not {video.codec!r}")
        if audio is not None and audio.codec != "aac":
            raise PresetError(f"only aac audio is supported, not {audio.codec!r}")
        preset = Preset(
            name=str(name),
            label=str(entry.get("label") or name),
            kind=kind,
            container=entry.get("container"),
            description=str(entry.get("description") or ""),
            fit=fit,
            video=video,
            audio=audio,
            outputs=_parse_outputs(entry.get("outputs")),
        )
        renditions = preset.outputs.renditions
        if renditions is not None and preset.own_quality and preset.own_quality not in renditions:
            raise PresetError(f"its own resolution ({preset.own_quality}) must be one of its outputs' renditions")
        return preset
    except (KeyError, TypeError) as exc:
        raise PresetError(f"preset {name!r} is malformed: {exc}") from exc
    except PresetError as exc:
        raise PresetError(f"preset {name!r}: {exc}") from exc


def _parse_outputs(outputs: dict[str, Any] | None) -> PresetOutputs:
    if outputs is None:
        return PresetOutputs()
    if not isinstance(outputs, dict):
        raise PresetError("outputs must be an object")
    unknown = sorted(set(outputs) - {"renditions", "clips", "thumbnails", "audio"})
    if unknown:
        raise PresetError(f"outputs: unknown field(s) {unknown}")
    renditions = outputs.get("renditions")
    if renditions is not None:
        if not isinstance(renditions, list) or not all(r in RENDITION_BOXES for r in renditions):
            raise PresetError(f"outputs.renditions must be a list of {list(RENDITION_BOXES)}, not {renditions!r}")
        renditions = tuple(dict.fromkeys(renditions))
    clips, thumbnails, audio = outputs.get("clips"), outputs.get("thumbnails"), outputs.get("audio")
    for field_name, value, most in (("clips", clips, MAX_CLIPS), ("thumbnails", thumbnails, MAX_THUMBNAILS)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most):
            raise PresetError(f"outputs.{field_name} must be a number from 0 to {most}, not {value!r}")
    if audio is not None and not isinstance(audio, bool):
        raise PresetError(f"outputs.audio must be true or false, not {audio!r}")
    return PresetOutputs(renditions=renditions, clips=clips, thumbnails=thumbnails, audio=audio)


def _parse_fit(fit: dict[str, Any] | None) -> BoxFit | CanvasFit | None:
    if fit is None:
        return None
    fields = {key: value for key, value in fit.items() if key != "mode"}
    if fit.get("mode") == "box":
        return BoxFit(**fields)
    if fit.get("mode") == "canvas":
        canvas = CanvasFit(**fields)
        if canvas.width % 2 or canvas.height % 2:
            raise PresetError("canvas dimensions must be even")
        return canvas
    raise PresetError(f"fit mode must be 'box' or 'canvas', not {fit.get('mode')!r}")


def _packaged_presets() -> Traversable:
    # ``app.resources`` is the top-level resources/ folder (mapped in pyproject.toml).
    return importlib.resources.files("app.resources") / PRESETS_RESOURCE
