"""Which containers ffmpeg may open, and how every ffmpeg/ffprobe input is pinned to the one file given.

ffmpeg picks a demuxer by sniffing, and some demuxers open other files: an HLS playlist (.m3u8, whatever its
name) reads the segments it lists — ``file:///someone/else.ts``, ``../../..`` paths or URLs — and concat
lists do the same. A file uploaded as "holiday.mp4" that is really a playlist would make the worker read
other people's files into its renditions. So every input is opened with:

- ``-format_whitelist``: only the containers a camera, phone or editor writes as one self-contained file;
  anything else (hls, concat, dash, image sequences...) is refused before its demuxer reads a byte;
- ``-protocol_whitelist file``: no network protocol, ever;
- ``-f <demuxer>`` once the probe has named it: later runs cannot sniff the file as something else.
"""

from __future__ import annotations

from pathlib import Path

# ffmpeg demuxer names. A probe's format_name lists a demuxer's aliases ("mov,mp4,m4a,3gp,3g2,mj2",
# "matroska,webm"); ffmpeg matches the whitelist against any of them.
ALLOWED_DEMUXERS = (
    "mov",  # mp4, m4v, m4a, mov, 3gp
    "matroska",  # mkv, webm
    "avi",
    "mpegts",  # ts, mts, m2ts (cameras)
    "mpeg",  # mpg, vob
    "mxf",  # broadcast and cinema cameras
    "asf",  # wmv, wma
    "flv",
    "dv",
    "gif",
    "h264",  # raw elementary streams from capture devices: self-contained, no duration of their own
    "hevc",
    "mpegvideo",
    "m4v",
    "mp3",
    "aac",
    "wav",
    "flac",
    "ogg",  # ogg, ogv, opus
    "aiff",
    "caf",
    "ac3",
    "eac3",
)
FORMAT_WHITELIST = ",".join(ALLOWED_DEMUXERS)
PROTOCOL_WHITELIST = "file"

# File name endings of the allowed containers: a local copy of an upload is named "source" + one of these
# (".bin" otherwise), never after the uploader's own name.
MEDIA_SUFFIXES = frozenset(
    (
        ".mp4",
        ".m4v",
        ".mov",
        ".m4a",
        ".3gp",
        ".mkv",
        ".webm",
        ".avi",
        ".ts",
        ".mts",
        ".m2ts",
        ".mpg",
        ".mpeg",
        ".vob",
        ".mxf",
        ".wmv",
        ".wma",
        ".asf",
        ".flv",
        ".dv",
        ".gif",
        ".mp3",
        ".aac",
        ".wav",
        ".flac",
        ".ogg",
        ".ogv",
        ".opus",
        ".aif",
        ".aiff",
        ".caf",
        ".ac3",
        ".eac3",
        ".h264",
        ".264",
        ".hevc",
        ".265",
        ".m2v",
    )
)

_PLAYLIST_SIGNS = {
    b"#EXTM3U": "an HLS playlist (.m3u8)",
    b"ffconcat": "an ffmpeg concat list",
    b"<?xml": "an XML document (a DASH manifest or a playlist?)",
    b"[playlist]": "a playlist (.pls)",
}


def local_copy_name(filename: str) -> str:
    """The name of a worker's local copy of an upload called ``filename``: "source.<allowed ending>"."""
    suffix = Path(filename).suffix.lower()
    return "source" + (suffix if suffix in MEDIA_SUFFIXES else ".bin")


def demuxer_of(format_name: str) -> str | None:
    """The allowed demuxer a probe's ``format_name`` names, for ``-f``; None when it names none."""
    names = format_name.split(",")
    return next((name for name in names if name in ALLOWED_DEMUXERS), None)


def input_options(demuxer: str | None = None) -> dict[str, str]:
    """ffmpeg input options (ffmpeg-python's ``input(**options)``) that pin an input to one local file."""
    options = {"protocol_whitelist": PROTOCOL_WHITELIST, "format_whitelist": FORMAT_WHITELIST}
    if demuxer:
        options["f"] = demuxer
    return options


def input_args(demuxer: str | None = None) -> list[str]:
    """The same options as command-line arguments, to put before ``-i``."""
    return [arg for name, value in input_options(demuxer).items() for arg in (f"-{name}", value)]


def playlist_kind(path: Path) -> str | None:
    """What a refused file is, in words, when it is a playlist or a list of other files; None otherwise."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return None
    return next((kind for sign, kind in _PLAYLIST_SIGNS.items() if head.startswith(sign)), None)
