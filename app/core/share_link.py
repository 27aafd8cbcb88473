"""A link to share a finished file: its main video where the server keeps it, else its results ZIP.

"Its main video" is the rendition at the preset's own resolution (the 1080p file of a 1080p preset). A
public URL (a public bucket or CDN, AWS_S3_BASE_URL on the server) never expires and is preferred; a
presigned one works for the server's download lifetime, which the caller shows. A server that keeps no
separate outputs (KEEP_PROCESSED=false) or predates the per-output route gets the results ZIP's link.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.api import BackendClient, BackendError
from app.core.media.presets import PresetError, get_preset


@dataclass(frozen=True)
class ShareLink:
    url: str
    what: str  # "1080p video" or "results ZIP", for the message
    expires_in: int | None  # seconds the link works; None for a public URL


def main_output(job: dict[str, object], preset_name: str) -> str | None:
    """The item id of the job's video at the preset's own resolution, if the job made it and it is stored."""
    try:
        quality = get_preset(preset_name).own_quality
    except PresetError:
        return None
    if quality is None:
        return None
    items = job.get("items")
    wanted = f"rendition_{quality}"
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("item_id") == wanted:
            return wanted if item.get("status") == "completed" and item.get("s3_key") else None
    return None


def share_link(client: BackendClient, job_id: str, preset_name: str) -> ShareLink:
    """Blocking (HTTP): the link to copy for a finished file."""
    item_id = main_output(client.job(job_id), preset_name)
    if item_id is not None:
        try:
            answer = client.output_url(job_id, item_id)
        except BackendError as exc:
            if exc.status not in (404, 405, 409, 410):
                raise
        else:
            quality = item_id.removeprefix("rendition_")
            if answer.get("public_url"):
                return ShareLink(str(answer["public_url"]), f"{quality} video", None)
            return ShareLink(str(answer["url"]), f"{quality} video", int(answer["expires_in"]))
    answer = client.results_url(job_id)
    return ShareLink(str(answer["url"]), "results ZIP", int(answer["expires_in"]))
