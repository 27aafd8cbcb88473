"""Pick the H.264 encoder: a hardware one only when a one-frame test encode proves it works, else libx264.

ffmpeg lists hardware encoders it was built with even when the machine has no such GPU, driver or
device, so the list proves nothing; a real one-frame encode does. Results are cached per ffmpeg binary
(a test costs tens of milliseconds, or seconds when a driver is slow to say no).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.core.child_lifetime import run_ending_with_this_process
from app.core.media.errors import EncoderUnavailable
from app.core.media.ffmpeg import FfmpegTools, find_ffmpeg

log = logging.getLogger(__name__)

SOFTWARE_ENCODER = "libx264"
HARDWARE_ENCODERS = ("h264_nvenc", "h264_qsv", "h264_videotoolbox", "h264_vaapi")
_TEST_TIMEOUT_S = 20.0
_VAAPI_DEVICE = "/dev/dri/renderD128"


@dataclass(frozen=True)
class EncoderSpec:
    """How to drive one encoder: options before the input, filters to upload frames, pixel format."""

    name: str
    hardware: bool
    pre_input: Mapping[str, str] | None = None
    upload_filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    pix_fmt: str | None = "yuv420p"

    def pre_input_args(self) -> list[str]:
        return [arg for option, value in (self.pre_input or {}).items() for arg in (f"-{option}", value)]

    def output_args(self) -> list[str]:
        """Frame upload filter, pixel format and codec, for commands written out by hand."""
        args: list[str] = []
        if self.upload_filters:
            args += ["-vf", ",".join(f"{n}={':'.join(a)}" if a else n for n, a in self.upload_filters)]
        if self.pix_fmt:
            args += ["-pix_fmt", self.pix_fmt]
        return [*args, "-c:v", self.name]

    def quality_options(
        self, crf: int | None, preset: str | None, kbps: int | None, max_kbps: int | None
    ) -> dict[str, str | int]:
        """Rate-control options for ffmpeg-python ``output(**options)``.

        libx264 uses CRF (constant quality) capped by VBV; hardware encoders have no common CRF, so they
        get the plan's expected bitrate as target and the same cap.
        """
        options: dict[str, str | int] = {}
        if max_kbps:
            options.update({"maxrate": f"{max_kbps}k", "bufsize": f"{2 * max_kbps}k"})
        if self.name == SOFTWARE_ENCODER:
            options.update({"crf": crf if crf is not None else 23, "preset": preset or "medium"})
        elif kbps:
            options["b:v"] = f"{kbps}k"
        if self.name == "h264_nvenc" and crf is not None:
            options.update({"rc": "vbr", "cq": crf})
        return options


_SPECS = {
    SOFTWARE_ENCODER: EncoderSpec(SOFTWARE_ENCODER, hardware=False),
    "h264_nvenc": EncoderSpec("h264_nvenc", hardware=True),
    "h264_qsv": EncoderSpec("h264_qsv", hardware=True, pix_fmt="nv12"),
    "h264_videotoolbox": EncoderSpec("h264_videotoolbox", hardware=True),
    "h264_vaapi": EncoderSpec(
        "h264_vaapi",
        hardware=True,
        pre_input={"vaapi_device": _VAAPI_DEVICE},
        upload_filters=(("format", ("nv12",)), ("hwupload", ())),
        pix_fmt=None,
    ),
}


@dataclass(frozen=True)
class EncoderCheck:
    name: str
    works: bool
    reason: str
    """Empty when it works; otherwise ffmpeg's own first error line (e.g. "Cannot load libcuda.so.1")."""
    argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class EncoderChoice:
    """The encoder to use, and what was tried (so the UI can say "libx264 (no GPU encoder worked)")."""

    spec: EncoderSpec
    checks: tuple[EncoderCheck, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def hardware(self) -> bool:
        return self.spec.hardware

    def describe(self) -> str:
        if self.hardware:
            return f"{self.name} (hardware)"
        failed = ", ".join(check.name for check in self.checks if not check.works and check.name != self.name)
        return f"{self.name} (software; not working here: {failed})" if failed else f"{self.name} (software)"


_cache: dict[tuple[str, str], EncoderCheck] = {}
_cache_lock = threading.Lock()


def encoder_spec(name: str) -> EncoderSpec:
    try:
        return _SPECS[name]
    except KeyError:
        # An encoder we have no recipe for is driven like a plain bitrate encoder.
        return EncoderSpec(name, hardware=name != SOFTWARE_ENCODER)


def software_encoder() -> EncoderChoice:
    return EncoderChoice(_SPECS[SOFTWARE_ENCODER])


def default_hardware_order(platform: str = sys.platform) -> tuple[str, ...]:
    """All candidates, the ones likely on this platform first."""
    preferred = {
        "darwin": ("h264_videotoolbox",),
        "win32": ("h264_nvenc", "h264_qsv"),
    }.get(platform, ("h264_nvenc", "h264_vaapi", "h264_qsv"))
    return preferred + tuple(name for name in HARDWARE_ENCODERS if name not in preferred)


def choose_encoder(
    tools: FfmpegTools | None = None,
    *,
    allow_hardware: bool = True,
    candidates: Iterable[str] | None = None,
) -> EncoderChoice:
    """The first hardware candidate whose test encode works, else libx264 (tested too)."""
    tools = tools or find_ffmpeg()
    checks: list[EncoderCheck] = []
    if allow_hardware:
        for name in candidates if candidates is not None else default_hardware_order():
            result = check_encoder(name, tools)
            checks.append(result)
            if result.works:
                log.info("using hardware encoder %s", name)
                return EncoderChoice(encoder_spec(name), tuple(checks))
    software = check_encoder(SOFTWARE_ENCODER, tools)
    checks.append(software)
    if not software.works:
        raise EncoderUnavailable(
            f"ffmpeg at {tools.ffmpeg} cannot encode H.264: no working hardware encoder and "
            f"{SOFTWARE_ENCODER} failed ({software.reason})"
        )
    choice = EncoderChoice(_SPECS[SOFTWARE_ENCODER], tuple(checks))
    log.info("using %s", choice.describe())
    return choice


def check_encoder(name: str, tools: FfmpegTools | None = None, *, refresh: bool = False) -> EncoderCheck:
    """Encode one black frame with ``name``; cached per (ffmpeg path, encoder)."""
    tools = tools or find_ffmpeg()
    key = (tools.ffmpeg, name)
    with _cache_lock:
        if not refresh and key in _cache:
            return _cache[key]
    result = _run_test_encode(tools.ffmpeg, encoder_spec(name))
    with _cache_lock:
        _cache[key] = result
    return result


def clear_encoder_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _run_test_encode(ffmpeg: str, spec: EncoderSpec) -> EncoderCheck:
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", *spec.pre_input_args()]
    argv += ["-f", "lavfi", "-i", "color=c=black:s=256x256:r=25", "-frames:v", "1"]
    argv += [*spec.output_args(), "-f", "null", "-"]
    started = time.monotonic()
    try:
        done = run_ending_with_this_process(
            argv, text=True, errors="replace", timeout=_TEST_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return EncoderCheck(spec.name, False, f"test encode took over {_TEST_TIMEOUT_S:.0f} s", tuple(argv))
    except OSError as exc:
        return EncoderCheck(spec.name, False, f"cannot run ffmpeg: {exc}", tuple(argv))
    works = done.returncode == 0
    reason = "" if works else _first_error_line(done.stderr, done.returncode)
    log.debug("test encode %s: %s in %.2fs %s", spec.name, works, time.monotonic() - started, reason or "")
    return EncoderCheck(spec.name, works, reason, tuple(argv))


def _first_error_line(stderr: str, returncode: int) -> str:
    for line in stderr.splitlines():
        text = re.sub(r"^(\[[^\]]*\]\s*)+", "", line).strip()  # drop "[h264_nvenc @ 0x…] " prefixes
        if text:
            return text
    return f"ffmpeg exited with code {returncode}"
