"""What a job will produce, decided from its options alone: item ids, kinds, storage keys, ZIP names.

The plan is a pure function of (job id, source key, options, prefixes), so the API process, any worker
and the callback routes all compute the same one without storing it twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ..config import ServerConfig

# Item kinds, in pipeline order. Their outputs go to these ZIP folders ("" = the ZIP's root).
ZIP_FOLDERS = {
    "rendition": "renditions/",
    "audio": "audio/",
    "clip": "clips/",
    "thumbnail": "thumbnails/",
    "metadata": "",
    "transcript": "transcript/",  # the transcript API: the transcript given with the video, as it was uploaded
}
OTHER_FOLDER = "outputs/"
VIDEO_KIND = "video"  # one selected video of a Lambda batch job, fetched and reported by an external worker
UPLOAD_KIND = "upload"  # one upload of a batch job: its own job does the work, the batch follows it
BATCH_UPLOADS = "uploads"  # the option that makes a job a batch over several uploads
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class PlannedItem:
    item_id: str
    kind: str
    target_key: str | None
    """Where the output goes in S3 (None for steps that make no file, like validate)."""
    quality: str | None = None
    index: int | None = None
    """1-based number of a clip or thumbnail."""


def output_stem(source_key: str) -> str:
    """A file-name-safe stem of the uploaded file (the renditions-bucket layout names renditions
    {name}_{quality}.mp4)."""
    stem = _SAFE.sub("_", PurePosixPath(source_key).stem).strip("._-")[:80]
    return stem or "video"


def job_prefixes(config: ServerConfig, job_id: str) -> tuple[str, str]:
    """The two prefixes a job's outputs may live under: the renditions-bucket layout's videos/{video_id}/ and
    processed/{job}/."""
    return f"{config.videos_prefix}{job_id}/", f"{config.processed_prefix}{job_id}/"


def plan_items(config: ServerConfig, job_id: str, source_key: str, options: dict[str, Any]) -> list[PlannedItem]:
    if "videos" in options:  # the Lambda batch API's job over selected videos: one step each, whatever the worker makes
        return [PlannedItem(str(video_id), VIDEO_KIND, None) for video_id in options["videos"]]
    if BATCH_UPLOADS in options:  # a batch: one step per upload, each run as a job of its own
        return [PlannedItem(str(upload_id), UPLOAD_KIND, None) for upload_id in options[BATCH_UPLOADS]]
    stem = output_stem(source_key)
    videos, processed = job_prefixes(config, job_id)
    items = [PlannedItem("validate", "validate", None)]
    for quality in options.get("renditions", []):
        # The job id is the renditions-bucket layout's video_id: two jobs on one upload never overwrite each other.
        items.append(PlannedItem(f"rendition_{quality}", "rendition", f"{videos}{stem}_{quality}.mp4", quality))
    if options.get("audio"):
        items.append(PlannedItem("audio", "audio", f"{processed}audio/{stem}.m4a"))
    clip_count = int((options.get("clips") or {}).get("count", 0))
    for n in range(1, clip_count + 1):
        # .mp4 even for audio-only sources: AAC in MP4 plays everywhere .m4a does.
        items.append(PlannedItem(f"clip_{n:02d}", "clip", f"{processed}clips/{stem}_clip_{n:02d}.mp4", index=n))
    for n in range(1, int(options.get("thumbnails", 0)) + 1):
        key = f"{processed}thumbnails/{stem}_thumb_{n:02d}.jpg"
        items.append(PlannedItem(f"thumbnail_{n:02d}", "thumbnail", key, index=n))
    items.append(PlannedItem("metadata", "metadata", f"{processed}metadata.json"))
    return items


def zip_name(kind: str, key_or_id: str, item_id: str = "") -> str:
    """The path of an output inside the results ZIP (a selected video's in a folder of its own)."""
    if kind == VIDEO_KIND and item_id:
        return f"{item_id}/{PurePosixPath(key_or_id).name}"
    folder = ZIP_FOLDERS.get(kind, OTHER_FOLDER)
    return folder + PurePosixPath(key_or_id).name
