"""The transcript API's transcript as subtitles: a soft track in every rendition, and burned-in captions on the clips
when the job asks (``burn_captions``).

Only a timed transcript can be shown in step with the picture: srt or vtt (a plain-text one ships in the
results ZIP as it is, and nothing else). It is read with pysubs2, which also cuts and shifts it to each
clip's window, and handed to ffmpeg as a clean srt of our own making, with its format forced: ffmpeg reads
no file a user wrote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from app.core.media.atomic import atomic_output
from app.core.media.demuxers import PROTOCOL_WHITELIST, input_args
from app.core.media.progress import CancelToken

from .errors import StepFailed
from .validate import fetch_object

if TYPE_CHECKING:
    import pysubs2

log = logging.getLogger(__name__)
# pysubs2 is imported where a transcript is read (0.1 s): the built-in server starts without it.

MAX_TRANSCRIPT_BYTES = 5 * 1024 * 1024  # hours of dialogue; a bigger "transcript" is not one
TIMED_FORMATS = {".srt": "srt", ".vtt": "vtt"}


@dataclass(frozen=True)
class Captions:
    subs: pysubs2.SSAFile
    track: Path  # the whole transcript as a clean srt, for the renditions' soft track
    work: Path

    @property
    def lines(self) -> int:
        return len(self.subs)

    def for_window(self, index: int, start_s: float, length_s: float) -> Path | None:
        """The lines shown between start_s and start_s + length_s, shifted to start at 0 (a clip's own
        time), as an srt; None when no line falls in the window."""
        import pysubs2

        start_ms, end_ms = round(start_s * 1000), round((start_s + length_s) * 1000)
        window = pysubs2.SSAFile()
        for line in self.subs:
            if line.end <= start_ms or line.start >= end_ms or not line.plaintext.strip():
                continue
            shown = line.copy()
            shown.start, shown.end = max(0, line.start - start_ms), min(end_ms, line.end) - start_ms
            window.append(shown)
        if not window:
            return None
        path = self.work / f"captions_clip_{index:02d}.srt"
        window.save(str(path), format_="srt")
        return path


def load_captions(svc: Any, options: dict[str, Any], work: Path, cancel: CancelToken) -> Captions | str | None:
    """The job's timed transcript, ready for ffmpeg; None when it has none; a reason (str) when it has one
    that cannot be used (the job goes on without subtitles and its metadata says why)."""
    import pysubs2

    transcript = options.get("transcript")
    if not isinstance(transcript, dict) or not transcript.get("s3_key"):
        return None
    name = str(transcript.get("filename") or PurePosixPath(str(transcript["s3_key"])).name)
    form = TIMED_FORMATS.get(PurePosixPath(name).suffix.lower())
    if form is None:
        return None  # plain text: shipped in the ZIP, no timing to show it by
    source = work / f"transcript{PurePosixPath(name).suffix.lower()}"
    try:
        size = fetch_object(svc, str(transcript["s3_key"]), source, cancel)
    except StepFailed as exc:
        return f"the transcript {name} could not be read: {exc}"
    if size > MAX_TRANSCRIPT_BYTES:
        return f"the transcript {name} is {size} bytes; subtitles are made from at most {MAX_TRANSCRIPT_BYTES}"
    try:
        subs = pysubs2.load(str(source), encoding="utf-8", format_=form)
    except (pysubs2.Pysubs2Error, UnicodeDecodeError, ValueError) as exc:
        return f"the transcript {name} is not valid {form}: {type(exc).__name__}"
    subs.events = [line for line in subs if line.plaintext.strip() and line.end > line.start >= 0]
    if not subs.events:
        return f"the transcript {name} has no timed lines"
    track = work / "captions.srt"
    subs.save(str(track), format_="srt")
    return Captions(subs, track, work)


def add_soft_track(run: Any, video: Path, captions: Captions) -> None:
    """Mux the captions into `video` as a subtitle track (mov_text: what MP4 players show), streams copied."""
    with atomic_output(video.with_name(video.stem + ".captioned" + video.suffix)) as temp:
        # Both are files this worker wrote (our rendition, our srt); each is still opened as just that file.
        args = [*input_args("mov"), "-i", str(video), "-protocol_whitelist", PROTOCOL_WHITELIST, "-f", "srt"]
        args += ["-i", str(captions.track), "-map", "0", "-map", "1:0"]
        args += ["-c", "copy", "-c:s", "mov_text", "-metadata:s:s:0", "language=und", str(temp)]
        run(args)
    video.with_name(video.stem + ".captioned" + video.suffix).replace(video)
